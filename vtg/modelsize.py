"""How much memory a model's config asks for, checked before the model is built.

A ``config.json`` is a file from the internet: one declaring a hidden size of 8192 and 200 layers
(172 B parameters) was instantiated and got the machine OOM-killed at 9 GB RSS. So every loader
first builds the model on PyTorch's ``meta`` device (shapes only, no memory; the idea of
accelerate's ``init_empty_weights``), counts its parameters and buffers in the dtype it will load
in, and refuses over :func:`max_model_bytes` with one line. The count comes from the model's own
class, so it holds for every family (open_clip, CLIP, SigLIP, BLIP-2, Qwen2-VL / 2.5-VL and any
other Video-LLM ``AutoModelForImageTextToText`` knows, UniVTG, ``hf:`` chat models) without a
formula per family. Before that, :func:`check_config_counts` refuses configs whose layer or
expert counts alone would make even the shape-only build take minutes.

Where the weights are safetensors, their headers (read without the tensors) are the cross-check:
every tensor whose name the model has must have the model's shape, so a ``projection_dim`` that
does not match the weights is one :class:`~vtg.errors.CheckpointError` line naming the tensor,
before anything is loaded; their total size is reported beside the estimate.

Ceiling: ``vtg --max-model-gb N`` or ``VTG_MAX_MODEL_GB``; by default this machine's memory
(physical RAM plus the largest GPU's memory), so a model that fits is admitted (Qwen2.5-VL-7B in
bf16 is 16.6 GB, BLIP-2 ViT-g ITM 4.6 GB in fp32) and one that cannot fit is refused up front.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import struct
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

from vtg.encoders.base import skipped_weight_init
from vtg.encoders.listing import unsafe_name
from vtg.encoders.weights import hf_cached_file
from vtg.errors import CheckpointError, ModelError
from vtg.settings import current_settings

GB = 1000**3
#: Structural counts past which even a shape-only build is refused (each makes Python objects).
MAX_LAYERS = 1000
MAX_EXPERTS = 1024
MAX_CONFIG_BYTES = 4 << 20
MAX_HEADER_BYTES = 100 << 20  # the safetensors format's own limit on a header
_DTYPE_BYTES = {"F64": 8, "I64": 8, "U64": 8, "F32": 4, "I32": 4, "U32": 4, "F16": 2, "BF16": 2, "I16": 2,
                "U16": 2, "F8_E4M3": 1, "F8_E5M2": 1, "I8": 1, "U8": 1, "BOOL": 1}


class ModelTooLargeError(ModelError):
    """A model's config asks for more memory than the ceiling allows."""

    exit_code = 2


@dataclass(frozen=True)
class Estimate:
    """Parameters (and buffers) a config builds, and their bytes in the loading dtype."""

    params: int
    bytes: int
    shapes: dict[str, tuple[int, ...]]  # state-dict name -> shape, for the weights cross-check


@functools.lru_cache(maxsize=1)
def machine_bytes() -> int:
    """Physical RAM plus the largest GPU's memory (CUDA only asked when torch is already loaded);
    asked once per process."""
    try:
        ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        ram = 16 * GB
    gpu = 0
    torch = sys.modules.get("torch")
    if torch is not None:
        with contextlib.suppress(Exception):
            if torch.cuda.is_available():
                gpu = max(torch.cuda.get_device_properties(i).total_memory for i in range(torch.cuda.device_count()))
    return int(ram + gpu)


def max_model_bytes() -> int:
    """The ceiling: the current session's ``--max-model-gb``, else ``$VTG_MAX_MODEL_GB``, else :func:`machine_bytes`."""
    gb = current_settings().max_model_gb
    return int(gb * GB) if gb else machine_bytes()


def _ceiling_source() -> str:
    origin = current_settings().origin("max_model_gb")
    return f"set by {origin}" if origin else "this machine's RAM plus GPU memory"


def check_config_counts(config: Any, what: str) -> None:
    """Refuse layer/block counts over :data:`MAX_LAYERS` and expert counts over :data:`MAX_EXPERTS`
    anywhere in a config (nested sub-configs included), before anything is built from it."""
    stack = [config]
    while stack:
        node = stack.pop()
        items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
        for key, value in items:
            if isinstance(value, (dict, list)):
                stack.append(value)
                continue
            name = str(key).lower()
            limit = MAX_EXPERTS if "expert" in name else MAX_LAYERS if any(
                w in name for w in ("layers", "depth", "blocks")) else None
            if limit and isinstance(value, (int, float)) and not isinstance(value, bool) and value > limit:
                raise ModelTooLargeError(f"{what}: its config declares {key} = {value:g}, over the {limit} vtg builds; "
                                         "the config is damaged or not meant for this model")


#: In-place tensor methods that change values only: on the meta device there are none to change.
_VALUE_ONLY_INPLACE = frozenset({"fill_", "triu_", "tril_", "zero_", "normal_", "uniform_", "mul_", "add_", "sub_",
                                 "div_", "clamp_", "copy_"})
#: Elementwise arithmetic whose meta result is the broadcast shape in the promoted dtype.
_ELEMENTWISE = frozenset({"mul", "add", "sub", "div", "true_divide", "__mul__", "__rmul__", "__add__", "__radd__",
                          "__sub__", "__rsub__", "__truediv__", "__rtruediv__"})


def _meta_arithmetic():
    """A torch function mode answering random factories and arithmetic on meta tensors
    (``scale * torch.randn(w)``, ``mask.fill_(-inf).triu_(1)``, as model constructors write)
    without computing anything; only inside ``torch.device("meta")``.

    Why: on the meta device torch runs these through its Python reference implementations, whose
    first call imports the compiler stack (torch._dynamo, sympy): ~1.8 s of ``vtg index``'s
    start-up for one size check (issue 22). Only the shapes and dtypes matter here; any other
    call goes through unchanged."""
    import numbers

    import numpy as np
    import torch
    from torch.overrides import TorchFunctionMode

    def meta(value: object) -> bool:
        return isinstance(value, torch.Tensor) and value.is_meta

    class MetaArithmetic(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            name = getattr(func, "__name__", "")
            if name in ("randn", "rand") and str((kwargs or {}).get("device") or "meta") == "meta":
                rest = {k: v for k, v in (kwargs or {}).items() if k != "generator"}
                return torch.empty(*args, **rest)  # on the meta device (the mode around this one)
            if not kwargs and args and meta(args[0]) and name in _VALUE_ONLY_INPLACE:
                return args[0]
            if (not kwargs and len(args) == 2 and name in _ELEMENTWISE and any(meta(a) for a in args)
                    and all(meta(a) or isinstance(a, numbers.Number) for a in args)):
                # numpy's rule (the same as torch's): torch.broadcast_shapes imports its symbolic shapes
                shape = np.broadcast_shapes(*(tuple(a.shape) for a in args if isinstance(a, torch.Tensor)))
                dtype = torch.result_type(*args)
                if "div" in name and not dtype.is_floating_point:
                    dtype = torch.get_default_dtype()
                return torch.empty(shape, dtype=dtype, device="meta")
            return func(*args, **(kwargs or {}))

    return MetaArithmetic()


def estimate(build: Callable[[], Any], dtype: Any, what: str) -> Estimate:
    """Build ``build()`` on the meta device (no memory, no initialisers) and count it in ``dtype``
    (floating tensors; integer buffers keep their own size)."""
    import torch

    try:
        with torch.device("meta"), skipped_weight_init(), _quiet_root_logger(), _meta_arithmetic():
            module = build()
    except (ValueError, TypeError, KeyError, RuntimeError, AttributeError, AssertionError, OverflowError) as exc:
        raise CheckpointError(f"cannot build {what} from its config: {type(exc).__name__}: "
                              f"{str(exc).splitlines()[0][:300] if str(exc) else ''}") from None
    size = torch.empty((), dtype=dtype).element_size()
    params = nbytes = 0
    for tensor in list(module.parameters()) + list(module.buffers()):
        params += tensor.numel()
        nbytes += tensor.numel() * (size if tensor.is_floating_point() else tensor.element_size())
    shapes = {k: tuple(v.shape) for k, v in module.state_dict().items()}
    return Estimate(int(params), int(nbytes), shapes)


def check_module(build: Callable[[], Any], dtype: Any, what: str, weight_files: Iterable[str | Path] = (),
                 prefixes: tuple[str, ...] = ("",)) -> Estimate:
    """:func:`estimate`, refused over :func:`max_model_bytes`; then the safetensors among
    ``weight_files`` must have the model's shape for every tensor name they share with it
    (a file name plus one of ``prefixes`` may be the model's name for it)."""
    est = estimate(build, dtype, what)
    files = [Path(f) for f in weight_files if str(f).endswith(".safetensors")]
    headers = {f: read_safetensors_header(f) for f in files}
    limit = max_model_bytes()
    if est.bytes > limit:
        on_disk = sum(_tensor_bytes(t) for h in headers.values() for t in h.values())
        extra = f" (its weight files hold {on_disk / GB:,.1f} GB)" if headers else ""
        raise ModelTooLargeError(
            f"{what}: its config builds {est.params / 1e9:,.2f} B parameters, {est.bytes / GB:,.1f} GB in "
            f"{str(dtype).replace('torch.', '')}{extra}: over the limit of {limit / GB:,.1f} GB ({_ceiling_source()}); "
            "raise it with vtg --max-model-gb N (or VTG_MAX_MODEL_GB) if this machine can hold it")
    for path, header in headers.items():
        _check_shapes(est.shapes, header, path, what, prefixes)
    return est


def check_transformers_model(source: str | Path, model_cls: Any, dtype: Any = None, *, config: Any = None,
                             what: str | None = None) -> Estimate:
    """The check for a transformers model in folder (or cached hub id) ``source`` loaded as
    ``model_cls`` (a model class or an ``AutoModel...`` class) in ``dtype`` (None: the config's
    dtype, as ``from_pretrained`` picks; float32 when it names none). One call per loader."""
    import torch

    folder = _local_folder(source)
    what = what or f"model {source}"
    check_config_counts(_read_json(folder / "config.json", what), what)
    if config is None:
        config = _load_config(folder, model_cls, what)
    if dtype is None or dtype == "auto":
        dtype = getattr(config, "dtype", None) or getattr(config, "torch_dtype", None) or torch.float32
        dtype = getattr(torch, dtype) if isinstance(dtype, str) else dtype
    build = (lambda: model_cls._from_config(config)) if hasattr(model_cls, "_from_config") \
        else (lambda: model_cls.from_config(config))
    prefix = getattr(model_cls, "base_model_prefix", "") or ""
    return check_module(build, dtype, what, _weight_files(folder, what), ("", f"{prefix}.") if prefix else ("",))


def _load_config(folder: Path, model_cls: Any, what: str):
    from transformers import AutoConfig

    config_cls = getattr(model_cls, "config_class", None) or AutoConfig
    try:
        return config_cls.from_pretrained(str(folder), local_files_only=True)
    except Exception as exc:  # a config.json is untrusted: transformers' validators raise their own types
        text = str(exc).strip().replace("\n", " ")
        raise CheckpointError(f"cannot read the config of {what}: {type(exc).__name__}: {text[:300]}") from None


def _local_folder(source: str | Path) -> Path:
    path = Path(source).expanduser()
    if path.is_dir():
        return path

    config = hf_cached_file(str(source), "config.json")
    if config is None:
        raise CheckpointError(f"{source} has no config.json to size the model from")
    return Path(config).parent


def _read_json(path: Path, what: str) -> Any:
    try:
        if path.stat().st_size > MAX_CONFIG_BYTES:
            raise CheckpointError(f"{what}: {path.name} is over {MAX_CONFIG_BYTES >> 20} MiB; not a model config")
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{what}: cannot read {path}: {exc}") from None


def _weight_files(folder: Path, what: str) -> list[Path]:
    """The safetensors files a transformers folder loads: ``model.safetensors`` or its index's shards."""
    single = folder / "model.safetensors"
    if single.is_file():
        return [single]
    index = folder / "model.safetensors.index.json"
    if not index.is_file():
        return []

    table = _read_json(index, what)
    weight_map = table.get("weight_map") if isinstance(table, dict) else None
    if not isinstance(weight_map, dict):
        raise CheckpointError(f"{what}: {index.name} has no weight_map")
    shards = sorted({str(v) for v in weight_map.values()})
    bad = next((s for s in shards if unsafe_name(s)), None)
    if bad is not None:
        raise CheckpointError(f"{what}: {index.name} names the shard {bad[:200]!r}, {unsafe_name(bad)}")
    return [folder / s for s in shards if (folder / s).is_file()]


def read_safetensors_header(path: str | Path) -> dict[str, dict]:
    """Tensor name -> {dtype, shape, data_offsets} from a safetensors file's header, checked
    against the file's size; the tensors themselves are not read."""
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            (length,) = struct.unpack("<Q", fh.read(8))
            if length > MAX_HEADER_BYTES or 8 + length > size:
                raise CheckpointError(f"{path}: its safetensors header declares {length:,} bytes in a "
                                      f"{size:,}-byte file; the file is damaged")
            header = json.loads(fh.read(length))
    except (OSError, struct.error, ValueError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{path}: not a readable safetensors file ({type(exc).__name__})") from None
    if not isinstance(header, dict):
        raise CheckpointError(f"{path}: its safetensors header is not a table of tensors")
    tensors = {k: v for k, v in header.items() if k != "__metadata__"}
    for name, info in tensors.items():
        shape = info.get("shape") if isinstance(info, dict) else None
        offsets = info.get("data_offsets") if isinstance(info, dict) else None
        if (not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape)
                or not isinstance(offsets, list) or len(offsets) != 2 or info.get("dtype") not in _DTYPE_BYTES
                or not all(isinstance(o, int) for o in offsets) or not 0 <= offsets[0] <= offsets[1] <= size - 8 - length
                or offsets[1] - offsets[0] != _tensor_bytes(info)):
            raise CheckpointError(f"{path}: tensor {name[:100]!r} declares a shape, type or place that does not fit "
                                  "the file; the file is damaged")
    return tensors


def _tensor_bytes(info: dict) -> int:
    n = 1
    for d in info["shape"]:
        n *= d
    return n * _DTYPE_BYTES[info["dtype"]]


def _check_shapes(model: dict[str, tuple[int, ...]], header: dict[str, dict], path: Path, what: str,
                  prefixes: tuple[str, ...]) -> None:
    for name, info in header.items():
        for prefix in prefixes:  # the model's name is prefix + the file's, or the file's without it
            bare = name[len(prefix):] if prefix and name.startswith(prefix) else None
            expected = model.get(prefix + name) or (model.get(bare) if bare else None)
            if expected is None:
                continue
            if tuple(info["shape"]) != expected:
                raise CheckpointError(
                    f"{what}: {path.name} holds {name} of shape {list(info['shape'])} but the model's config needs "
                    f"{list(expected)}; the weights and config.json do not belong together")
            break


@contextlib.contextmanager
def _quiet_root_logger():
    """open_clip warns "initialized randomly" on the root logger for the shape-only build."""
    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        yield
    finally:
        logging.disable(previous)
