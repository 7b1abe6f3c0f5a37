"""Tiny-model recipes for the contract test (tests/test_contract.py): one row per registered method.

Each recipe says which tiny randomly initialised models the method needs (built on first use,
saved to a temporary folder and loaded by path, the way users' downloaded models are), the options
the operator gives (model folders, device: command-line only), the options a line of input data
may set (sampling, thresholds: sent per line / per request), and what ``score_meaning`` promises
about the score's range, so the test can hold the method to it.

A new method registered without a row here makes the contract test fail, not skip: add a row.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from conftest import scene_frame, write_video

Scalar = bool | int | float | str

IMG_DIM, TXT_DIM = 16, 32  # the tiny hf-clip encoder's image embedding and text width
#: The DETR family's tiny architectures (as tests/test_detr.py; QD-DETR's anchor code needs 256).
DETR_ARCHS: dict[str, dict[str, Any]] = {
    "moment_detr": dict(hidden_dim=32, nheads=4, enc_layers=2, dec_layers=2, dim_feedforward=48, num_queries=6,
                        n_input_proj=2, max_q_l=16),
    "qd_detr": dict(hidden_dim=256, nheads=8, enc_layers=2, dec_layers=2, dim_feedforward=64, num_queries=6,
                    n_input_proj=2, max_q_l=16),
    "cg_detr": dict(hidden_dim=32, nheads=4, enc_layers=2, dec_layers=2, t2v_layers=2, dummy_layers=2,
                    dim_feedforward=48, num_queries=6, n_input_proj=2, max_q_l=16, num_dummies=5,
                    total_prompts=4, num_prompts=2),
}

#: The contract video: 6 s at 5 fps, 96x64 (red stripes, green checkerboard, blue; 2 s each), so
#: every method samples a handful of frames and 2-s clip methods see three clips.
VIDEO_SECONDS, VIDEO_FPS, VIDEO_SIZE = 6.0, 5.0, (96, 64)


def contract_video(folder: Path) -> Path:
    scenes = [((200, 30, 30), 1), ((30, 200, 30), 2), ((30, 30, 200), 0)]
    per_scene = int(VIDEO_SECONDS / len(scenes) * VIDEO_FPS)
    frames = [scene_frame(colour, VIDEO_SIZE, pattern) for colour, pattern in scenes for _ in range(per_scene)]
    return write_video(folder / "clip.mp4", frames, VIDEO_FPS)


class TinyModels:
    """Tiny models by name, each built once into its own temporary folder (``mktemp(name)``)."""

    def __init__(self, mktemp: Callable[[str], Path]) -> None:
        self.mktemp = mktemp
        self.built: dict[str, str] = {}

    def __getitem__(self, name: str) -> str:
        if name not in self.built:
            self.built[name] = str(BUILDERS[name](self.mktemp(f"tiny-{name}")))
        return self.built[name]


def _clip(out: Path) -> Path:
    from vtg.encoders.testing import tiny_hf_clip

    return tiny_hf_clip(out)


def _qwen2vl(out: Path) -> Path:
    from vtg.methods.videollm.tiny import save_tiny_qwen2vl

    return save_tiny_qwen2vl(out)


def _univtg(out: Path) -> Path:
    import torch

    from vtg.methods.univtg.config import ModelConfig
    from vtg.methods.univtg.model import UniVTGModel
    from vtg.methods.univtg.weights import save_model

    torch.manual_seed(0)
    cfg = ModelConfig(v_feat_dim=IMG_DIM + 2, t_feat_dim=TXT_DIM, hidden_dim=16, enc_layers=1, nheads=2,
                      dim_feedforward=32, video_features="custom")
    return save_model(UniVTGModel(cfg), cfg, out)


def _detr(family: str) -> Callable[[Path], Path]:
    def build(out: Path) -> Path:
        import torch

        from vtg.methods.detr.config import DetrConfig
        from vtg.methods.detr.weights import build_network, save_model

        torch.manual_seed(0)
        cfg = DetrConfig(family=family, v_feat_dim=IMG_DIM + 2, t_feat_dim=TXT_DIM, **DETR_ARCHS[family])
        return save_model(build_network(cfg).eval(), cfg, out)

    return build


BUILDERS: dict[str, Callable[[Path], Path]] = {
    "clip": _clip, "qwen2vl": _qwen2vl, "univtg": _univtg,
    **{family: _detr(family) for family in DETR_ARCHS},
}


@dataclass(frozen=True)
class Recipe:
    """How to run one method on tiny models, and what its score meaning promises.

    ``operator(models)``: options only the command line may give (model folders, device...);
    ``line``: options a batch line (and, where the server allows them, a request) sets;
    ``samples``: how many times the method samples (saliency scores it returns) on the contract
    video with these options; ``score_says``: words ``score_meaning`` must contain, naming the
    range ``score_range`` (closed; None = unbounded) that every moment's score must then lie in;
    ``best_is_one``: the meaning says the best moment scores exactly 1. ``answer``: for a
    Video-LLM, the text its loaded model is scripted to answer (random weights answer noise, which
    holds no interval), in the method's own answer format.
    """

    operator: Callable[[TinyModels], dict[str, Scalar]]
    samples: int
    score_says: str
    score_range: tuple[float | None, float | None]
    line: dict[str, Scalar] = field(default_factory=dict)
    best_is_one: bool = False
    answer: Callable[[], str] | None = None

    def in_range(self, score: float) -> bool:
        low, high = self.score_range
        return (low is None or score >= low - 1e-9) and (high is None or score <= high + 1e-9)


def _videollm(**extra: Scalar) -> Callable[[TinyModels], dict[str, Scalar]]:
    return lambda m: {"model": m["qwen2vl"], "device": "cpu", "max_new_tokens": 8, **extra}


def _detr_options(family: str) -> Callable[[TinyModels], dict[str, Scalar]]:
    return lambda m: {"model": m[family], "encoder": m["clip"], "device": "cpu"}


VIDEO_LLM_SAYS = "every interval the model answered scores 1"
DETR_SAYS = "foreground probability (softmax over foreground/background, 0 to 1)"

def _vtgllm_answer() -> str:
    from vtg.methods.vtgllm import format_time

    return f"{format_time(1.0)} - {format_time(99.0)} seconds"


# The scripted answers end past the 6-s video (frame 40, second 99): the moment must be clipped.
RECIPES: dict[str, Recipe] = {
    # the window's contrast over the best window's: the best scores 1, others may go below 0
    "tfvtg": Recipe(lambda m: {"encoder": m["clip"], "device": "cpu"}, 18, "1 = the best window", (None, 1.0),
                    line={"stride": 3}, best_is_one=True),
    "numpro": Recipe(_videollm(), 6, VIDEO_LLM_SAYS, (1.0, 1.0), line={"fps": 1.0},
                     answer=lambda: "From Frame 2 to Frame 40."),
    "timemarker": Recipe(_videollm(max_frame_tokens=16), 8, VIDEO_LLM_SAYS, (1.0, 1.0), line={"max_frames": 8},
                         answer=lambda: "The event happens in second{1.0} - second{99.0}."),
    "vtgllm": Recipe(_videollm(time_tokens="add"), 6, VIDEO_LLM_SAYS, (1.0, 1.0), line={"num_frames": 6},
                     answer=_vtgllm_answer),
    "univtg": Recipe(lambda m: {"model": m["univtg"], "encoder": m["clip"], "device": "cpu"}, 3,
                     "foreground probability (0 to 1)", (0.0, 1.0), line={"max_moments": 5}),
    **{family: Recipe(_detr_options(family), 3, DETR_SAYS, (0.0, 1.0), line={"nms_iou": 0.7})
       for family in DETR_ARCHS},
    # saliency: TFVTG's curve at 2 fps; the Video-LLM (NumPro) answers inside each candidate window
    "refine": Recipe(lambda m: {"model": m["qwen2vl"], "encoder": m["clip"], "device": "cpu"}, 12,
                     "0.5 + half the fast stage's score", (0.0, 1.0), line={"k": 2, "window_frames": 4, "fps": 2.0},
                     answer=lambda: "From Frame 1 to Frame 40."),
}


def loaded_video_llm(method: Any) -> Any:
    """The Video-LLM a method object runs (refine's inner method's), as the model manager holds it."""
    inner = method.video_llm() if hasattr(method, "video_llm") else method
    return inner.runner()


def finite(values: list[float]) -> bool:
    return bool(np.all(np.isfinite(np.asarray(values, float))))
