"""Choosing the compute device: ``auto`` means CUDA when present, else the CPU."""

from __future__ import annotations

from vtg.errors import UsageError

DEVICE_CHOICES = ("auto", "cuda", "cpu")


def resolve_device(spec: str | None = "auto") -> str:
    """Return a torch device string for ``auto``, ``cuda``, ``cuda:N`` or ``cpu``.

    Asking for CUDA on a machine without it is an error rather than a silent CPU run, because
    the user would otherwise wait far longer than expected without knowing why.
    """
    import torch

    spec = (spec or "auto").strip().lower()
    if spec == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if spec == "cpu":
        return "cpu"
    if spec == "cuda" or spec.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise UsageError("--device cuda was asked for but no CUDA device is available; use --device cpu or auto")
        return spec
    raise UsageError(f"unknown device {spec!r}; choose one of auto, cuda, cuda:N, cpu")


def default_dtype(device: str, half: bool | None = None):
    """fp16 on CUDA (unless ``half`` is False), fp32 on the CPU where half precision is slow."""
    import torch

    use_half = device.startswith("cuda") if half is None else half
    return torch.float16 if use_half else torch.float32
