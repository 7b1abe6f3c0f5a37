"""UniVTG (Lin et al., ICCV 2023): unified foreground / boundary / saliency grounding heads.

Importing this package is cheap; torch loads when a model is built or run.
"""

from .method import UniVTG, UniVTGConfig

__all__ = ["UniVTG", "UniVTGConfig"]
