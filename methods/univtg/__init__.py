"""UniVTG (Lin et al., ICCV 2023)."""
