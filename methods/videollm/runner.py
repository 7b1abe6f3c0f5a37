"""The shared Video-LLM runner: an instruction-tuned vision-language model through transformers.

Every family in :mod:`~vtg.methods.videollm.families` (Qwen2-VL, Qwen2.5-VL, Qwen3-VL, Video-LLaVA,
LLaVA-OneVision/LLaVA-Video, LLaVA-NeXT-Video, InternVL, VideoLLaMA3) loads through
``AutoProcessor`` + ``AutoModelForImageTextToText``; the family, read from the checkpoint's
``config.json``, says how frames are sized, placed in the chat and timed. A prompt is a list of
parts: text, single frames (:class:`Image`) and frame sequences (:class:`Video`), so a method can
give frames either as one video (NumPro, VTG-LLM) or interleaved with text (TimeMarker's
``Second{t}`` separators). bf16 on CUDA when the GPU supports
it (fp16 otherwise), fp32 on the CPU; greedy decoding by default. Weights come from the Hugging
Face cache or a local directory; missing ones raise :class:`vtg.errors.WeightsNotFoundError`.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from vtg.engine import default_manager
from vtg.errors import ModelError, UsageError, WeightsNotFoundError
from vtg.methods.videollm.families import Family, family_of
from vtg.methods.videollm.parts import Image, Part, Video
from vtg.planning import looks_local

DEFAULT_MODEL = "Qwen/Qwen2-VL-7B-Instruct"




def resolve_dtype(device: str, dtype: str | None):
    """bf16 on CUDA when supported (fp16 otherwise), fp32 on the CPU; or the named dtype."""
    import torch

    names = {"bf16": torch.bfloat16, "bfloat16": torch.bfloat16, "fp16": torch.float16,
             "float16": torch.float16, "fp32": torch.float32, "float32": torch.float32}
    if dtype and dtype != "auto":
        if dtype not in names:
            raise UsageError(f"unknown dtype {dtype!r}; choose auto, bf16, fp16 or fp32")
        return names[dtype]
    if device.startswith("cuda"):
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.float32


def local_folder(model: str) -> Path:
    """A local model directory, which must hold config.json."""
    path = Path(model).expanduser()
    if not (path / "config.json").is_file():
        raise WeightsNotFoundError(
            f"no Video-LLM weights at {model!r} (need a directory written by save_pretrained with "
            "config.json); pass --model with a Hugging Face id or a local model directory")
    return path


def ensure_videollm(model: str) -> None:
    """The download step of a Video-LLM: make ``model`` local (a directory must hold config.json;
    a hub id is downloaded on first use). Offline (``--offline``, ``HF_HUB_OFFLINE=1``) a missing
    one raises :class:`WeightsNotFoundError` with the remedy."""
    if looks_local(model):
        local_folder(model)
        return
    from huggingface_hub import try_to_load_from_cache

    from vtg.encoders.weights import ensure_hf_model

    try:
        try_to_load_from_cache(model, "config.json")
    except ValueError as exc:  # huggingface_hub's HFValidationError: not a valid repo id
        raise WeightsNotFoundError(f"{model!r} is neither a model directory nor a Hugging Face model id") from exc
    # First use downloads it (size and progress on stderr), as for the encoders; offline
    # (--offline, HF_HUB_OFFLINE=1) it is a one-line error naming `vtg models download`.
    ensure_hf_model(model)


class VideoLLM:
    """A loaded Video-LLM: ``generate(parts) -> str``. Use :func:`load_videollm` (memoised)."""

    def __init__(self, model: str = DEFAULT_MODEL, device: str = "auto", dtype: str | None = None):
        from vtg.device import resolve_device

        self.model_id = str(model)
        self.device = resolve_device(device)
        self.torch_dtype = resolve_dtype(self.device, dtype)
        self.processor, self.model = self._load()

    def _load(self):
        ensure_videollm(self.model_id)  # first use downloads it
        self.family = model_family(self.model_id)  # before any of its code could be imported
        from vtg.encoders.weights import quiet_transformers

        try:
            from transformers import AutoModelForImageTextToText, AutoProcessor
        except ImportError as exc:  # pragma: no cover - transformers is a core dependency
            raise ModelError(f"transformers cannot load Video-LLMs here: {exc}") from exc
        from vtg.modelsize import check_transformers_model

        check_transformers_model(self.model_id, AutoModelForImageTextToText, self.torch_dtype,
                                 what=f"Video-LLM {self.model_id}")
        try:
            quiet_transformers()
            processor = AutoProcessor.from_pretrained(self.model_id, local_files_only=True)
            model = AutoModelForImageTextToText.from_pretrained(self.model_id, dtype=self.torch_dtype,
                                                                local_files_only=True)
        except OSError as exc:
            raise WeightsNotFoundError(
                f"cannot load Video-LLM {self.model_id!r} ({str(exc).splitlines()[0]}); download it with "
                f"`hf download {self.model_id}` or pass --model with a local directory") from exc
        except (ValueError, KeyError) as exc:
            raise ModelError(f"{self.model_id!r} could not be loaded as a {self.family.label} model: "
                             f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from exc
        model.to(self.device).eval()
        return processor, model

    @property
    def tokenizer(self):
        return self.processor.tokenizer

    def fit_frames(self, frames: np.ndarray, max_pixels: int) -> np.ndarray:
        """Frames resized as this model sees them (its token grid within ``max_pixels``, or its
        fixed input size), so what a method draws on them reaches the model unresized."""
        return self.family.fit_frames(self.processor, frames, max_pixels)

    def pixels_for_tokens(self, tokens: int) -> int:
        """Pixels an interleaved frame may have to cost about ``tokens`` visual tokens."""
        return self.family.pixels_for_tokens(tokens)

    def build_inputs(self, parts: Sequence[Part], system: str | None = None):
        """Chat-template the parts the family's way and run the processor; the model's input tensors."""
        prompt = self.family.prompt(parts)
        messages = ([{"role": "system", "content": [{"type": "text", "text": system}]}] if system else [])
        messages.append({"role": "user", "content": prompt.content})
        text = self.processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        kwargs: dict[str, Any] = {"text": [text], "return_tensors": "pt", **self.family.processor_kwargs(prompt)}
        if prompt.images:
            kwargs["images"] = prompt.images
        if prompt.videos:
            kwargs["videos"] = prompt.videos
        return self.processor(**kwargs).to(self.device)

    def generate(self, parts: Sequence[Part], *, max_new_tokens: int = 128, system: str | None = None,
                 do_sample: bool = False, **generate_kwargs: Any) -> str:
        """The model's answer to ``parts`` (greedy unless ``do_sample``), special tokens removed."""
        import torch

        inputs = self.build_inputs(parts, system)
        with torch.inference_mode():
            out = self.model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=do_sample,
                                      **generate_kwargs)
        new_tokens = out[:, inputs["input_ids"].shape[1]:]
        return self.processor.batch_decode(new_tokens, skip_special_tokens=True)[0].strip()

    def count_visual_tokens(self, parts: Sequence[Part]) -> int:
        """How many visual placeholder tokens the prompt expands to (for budgets and benchmarks)."""
        inputs = self.build_inputs(parts)
        ids = inputs["input_ids"]
        return int(sum((ids == s).sum().item() for s in self.family.visual_token_ids(self.model.config)))


def read_config(model: str) -> dict[str, Any]:
    """A checkpoint's ``config.json`` as data (never its code), from its folder or the HF cache."""
    import json

    if looks_local(model):
        folder = local_folder(model)
    else:  # a hub id: its cached snapshot (ensure_videollm fetches it)
        from vtg.encoders.weights import hf_cached_file, missing_hf_message

        cached = hf_cached_file(model, "config.json")
        if cached is None:
            raise WeightsNotFoundError(missing_hf_message(model))
        folder = Path(cached).parent
    path = folder / "config.json"
    try:
        if path.stat().st_size > 16 * 2**20:  # real ones are a few kB; never read a huge file whole
            raise ModelError(f"{model!r}: config.json is over 16 MiB, not a model configuration")
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelError(f"{model!r}: unreadable config.json ({exc})") from exc
    if not isinstance(config, dict):
        raise ModelError(f"{model!r}: config.json is not a JSON object")
    return config


def model_family(model: str) -> Family:
    """The :class:`~vtg.methods.videollm.families.Family` of ``model``, from its local config
    alone, without loading any weights; never downloads (:func:`ensure_videollm` is that step)."""
    return family_of(read_config(model), repr(model))


def load_videollm(model: str = DEFAULT_MODEL, device: str = "auto", dtype: str | None = None) -> VideoLLM:
    """A :class:`VideoLLM` shared per (model, device, dtype) through the model manager, so repeated
    queries load it once (:func:`vtg.engine.release_models` frees it)."""
    from vtg.device import resolve_device

    dev = resolve_device(device)
    return default_manager().get("video-llm", (str(model), dev, dtype or "auto"),
                                 lambda: VideoLLM(model, dev, dtype), label=f"{model} ({dev})")


def timed_generate(llm: VideoLLM, parts: Sequence[Part], **kwargs: Any) -> tuple[str, float]:
    """``llm.generate`` plus its wall time in seconds."""
    t0 = time.perf_counter()
    answer = llm.generate(parts, **kwargs)
    return answer, time.perf_counter() - t0
