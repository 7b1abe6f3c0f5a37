"""Choosing the compute device (``auto`` means CUDA when present, else the CPU) and the precision
encoders compute in (``vtg --precision``)."""

from __future__ import annotations


from vtg.errors import UsageError
from vtg.options import check_device
from vtg.settings import current_settings

DEVICE_CHOICES = ("auto", "cuda", "cpu")


def resolve_device(spec: str | None = "auto") -> str:
    """Return a torch device string for ``auto``, ``cuda``, ``cuda:N`` or ``cpu``.

    Asking for CUDA on a machine without it is an error rather than a silent CPU run, because
    the user would otherwise wait far longer than expected without knowing why. Where no GPU
    driver exists at all that is known without importing torch (:func:`vtg.options.check_device`).
    """
    spec = (spec or "auto").strip().lower()
    if spec == "auto":  # a session may pin what "auto" means (Settings.device)
        spec = current_settings().device
    if spec.startswith("cuda"):
        check_device(spec)
    import torch

    if spec == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if spec == "cpu":
        return "cpu"
    if spec == "cuda" or spec.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise UsageError("--device cuda was asked for but no CUDA device is available; use --device cpu or auto")
        return spec
    raise UsageError(f"unknown device {spec!r}; choose one of auto, cuda, cuda:N, cpu")


#: Encoder precisions ``vtg --precision`` accepts, and the torch dtype of each.
PRECISIONS = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16"}
#: CPU flags (``/proc/cpuinfo``) under which each low precision runs natively rather than emulated.
NATIVE_CPU_FLAGS = {"bf16": ("avx512_bf16", "amx_bf16"), "fp16": ("avx512_fp16", "amx_fp16")}

def encoder_precision(device: str) -> str:
    """The precision encoders compute in on ``device``: the current session's ``--precision``
    (:func:`vtg.settings.current_settings`), else ``$VTG_PRECISION``, else fp16 on CUDA and fp32 on the CPU.

    Why fp32 stays the CPU default although bf16 is much faster where the CPU has bf16 units
    (ViT-B/32 3.5x on this project's avx512_bf16 machine, cosine to fp32 >= 0.9999): features in
    bf16 carry about 3 significant digits, which is the user's trade to make, and on CPUs
    without those units bf16 is emulated and slower than fp32.
    """
    return current_settings().precision or default_precision(device)


def device_kind(device: str) -> str:
    """``cuda`` for any CUDA device string (``cuda``, ``cuda:1``), else ``cpu``."""
    return "cuda" if str(device).startswith("cuda") else "cpu"


def default_precision(device: str) -> str:
    """fp16 on CUDA, fp32 on the CPU (where half precision is slow or emulated on most machines)."""
    return "fp16" if device_kind(device) == "cuda" else "fp32"


def default_dtype(device: str, half: bool | None = None):
    """The torch dtype of an encoder's weights on ``device``: fp16 if ``half``, fp32 if ``half`` is
    False, else :func:`encoder_precision`."""
    import torch

    if half is not None:
        return torch.float16 if half else torch.float32
    return getattr(torch, PRECISIONS[encoder_precision(device)])


def precision_name(dtype) -> str:
    """``fp32``, ``fp16`` or ``bf16`` for a torch dtype (its plain name for any other)."""
    name = str(dtype).replace("torch.", "")
    return next((short for short, full in PRECISIONS.items() if full == name), name)


def emulated_on_cpu(precision: str, cpuinfo: str = "/proc/cpuinfo") -> bool:
    """True when ``precision`` is a low precision this CPU has no units for (so it runs slower than
    fp32); False when it has them, for fp32, or when the CPU's flags cannot be read (not Linux)."""
    wanted = NATIVE_CPU_FLAGS.get(precision)
    if not wanted:
        return False
    try:
        with open(cpuinfo, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.startswith("flags"):
                    return not set(wanted) & set(line.split(":", 1)[-1].split())
    except OSError:
        pass
    return False
