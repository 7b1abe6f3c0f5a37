"""One-time conversion of an official UniVTG checkpoint (``model_best.ckpt``) to safetensors + JSON.

The released checkpoints are ``torch.save`` pickles holding the model's state dict, the optimiser
and scheduler states, the epoch and the training options (an ``argparse.Namespace``). Unpickling
an arbitrary downloaded file can run any code, so vtg never does it at load time. This module
reads the file once with a restricted unpickler that resolves only the handful of globals such a
checkpoint needs and builds tensors itself from the raw storages in the zip archive; any other
global (``os.system``, a custom class, ...) stops the conversion with a :class:`CheckpointError`
naming it. Only the model weights and the architecture options are kept.

Every size the file declares is checked before anything is allocated, against the bytes actually
in the archive and a ceiling (``max_bytes``, default :data:`DEFAULT_MAX_BYTES`, or
``$VTG_MAX_CHECKPOINT_BYTES``; ``vtg models convert --max-gib``): each zip entry's declared
uncompressed size (a compressed entry expanding more than :data:`MAX_RATIO` times is refused as a
zip bomb: torch stores tensors uncompressed), every storage's element count against its entry's
bytes, and every tensor's size, stride and offset against its storage, so a 1-element storage
viewed with stride 0 as 2^30 elements is refused rather than materialised.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import pickle
import zipfile
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vtg.envvars import positive_number
from vtg.errors import CheckpointError
from .config import TEF_DIM, ModelConfig, from_official_options
from .weights import load_state, save_model

_STORAGE_DTYPES = {
    "FloatStorage": "float32", "DoubleStorage": "float64", "HalfStorage": "float16",
    "BFloat16Storage": "bfloat16", "LongStorage": "int64", "IntStorage": "int32", "ShortStorage": "int16",
    "CharStorage": "int8", "ByteStorage": "uint8", "BoolStorage": "bool", "UntypedStorage": "uint8",
}


#: Bytes a checkpoint may make the converter allocate (all storages and tensors together).
DEFAULT_MAX_BYTES = 4 << 30
#: Largest expansion of a compressed zip entry (torch itself stores entries uncompressed).
MAX_RATIO = 100
#: A tensor may view more elements than its storage holds (stride 0) only up to this many.
MAX_EXPANDED = 1 << 20
_MAX_DIMS = 16


def default_max_bytes() -> int:
    return int(positive_number("VTG_MAX_CHECKPOINT_BYTES", DEFAULT_MAX_BYTES))


def _positive(value: float, name: str) -> int:
    if not (math.isfinite(value) and value >= 1):
        raise CheckpointError(f"{name} must be a positive number of bytes, got {value!r}")
    return int(value)


def _raise_hint() -> str:
    return "raise the ceiling with `vtg models convert --max-gib N` or VTG_MAX_CHECKPOINT_BYTES if the file is genuine"


@dataclass(frozen=True)
class _StorageType:
    dtype: str


def _index(value, what: str) -> int:
    """A non-negative Python int read from the pickle (bools, floats and huge values refused)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0 or value >= 1 << 62:
        raise CheckpointError(f"the checkpoint declares an invalid {what}: {value!r:.60}")
    return value


def _shape(values, what: str) -> tuple[int, ...]:
    if not isinstance(values, (tuple, list)) or len(values) > _MAX_DIMS:
        raise CheckpointError(f"the checkpoint declares an invalid tensor {what}: {values!r:.60}")
    return tuple(_index(v, f"tensor {what} entry") for v in values)


def _rebuild_parameter(data, requires_grad=False, hooks=None):
    return data


def _device(*args):
    return ":".join(str(a) for a in args if a is not None)


def _latin1(text, encoding="latin1"):
    if encoding != "latin1":
        raise CheckpointError(f"refusing _codecs.encode with encoding {encoding!r}")
    return text.encode("latin1")


ALLOWED_GLOBALS: dict[tuple[str, str], Any] = {
    ("collections", "OrderedDict"): OrderedDict,
    ("argparse", "Namespace"): argparse.Namespace,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch", "device"): _device,
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("_codecs", "encode"): _latin1,
    **{("torch", name): _StorageType(dtype) for name, dtype in _STORAGE_DTYPES.items()},
}


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickles a torch zip checkpoint's ``data.pkl`` allowing only :data:`ALLOWED_GLOBALS`.

    Counts the bytes it allocates (storages read, tensors built) against ``max_bytes``.
    """

    def __init__(self, data: bytes, archive: zipfile.ZipFile, prefix: str, max_bytes: int | None = None):
        super().__init__(io.BytesIO(data))
        self.archive, self.prefix = archive, prefix
        self.storages: dict[str, Any] = {}
        self.max_bytes = max_bytes if max_bytes is not None else default_max_bytes()
        self.allocated = 0

    def _spend(self, nbytes: int, what: str) -> None:
        if self.allocated + nbytes > self.max_bytes:
            raise CheckpointError(f"{what} would take the checkpoint's tensors past {self.max_bytes} bytes; "
                                  + _raise_hint())
        self.allocated += nbytes

    def find_class(self, module: str, name: str):
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return self._rebuild_tensor
        try:
            return ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise CheckpointError(
                f"refusing to load {module}.{name} from the checkpoint: not something a model checkpoint "
                "holds (vtg never runs code from checkpoint files)") from None

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"):
            raise CheckpointError(f"unexpected persistent id in the checkpoint: {pid!r:.80}")
        _, stype, key, _location, numel = pid
        if not isinstance(stype, _StorageType):
            raise CheckpointError(f"unexpected storage type in the checkpoint: {stype!r:.80}")
        key = str(key)[:200]
        if key not in self.storages:
            self.storages[key] = self._read_storage(key, stype.dtype, _index(numel, "storage size"))
        return self.storages[key]

    def _read_storage(self, key: str, dtype: str, numel: int):
        """The storage's elements, after checking the entry really holds that many bytes."""
        import torch

        name = f"{self.prefix}data/{key}"
        try:
            info = self.archive.getinfo(name)
        except KeyError:
            raise CheckpointError(f"the checkpoint lacks the data of storage {key}") from None
        tdtype = getattr(torch, dtype)
        itemsize = torch.empty((), dtype=tdtype).element_size()
        nbytes = numel * itemsize
        if info.file_size < nbytes:
            raise CheckpointError(f"storage {key} is truncated ({info.file_size} bytes for {numel} x {dtype})")
        self._spend(nbytes, f"storage {key} ({numel} x {dtype})")
        if not nbytes:
            return torch.empty(0, dtype=tdtype)
        with self.archive.open(info) as fh:
            raw = bytearray(fh.read(nbytes))
        if len(raw) < nbytes:
            raise CheckpointError(f"storage {key} is truncated ({len(raw)} bytes for {numel} x {dtype})")
        return torch.frombuffer(raw, dtype=tdtype)

    def _rebuild_tensor(self, storage, offset, size, stride, requires_grad=False, hooks=None, metadata=None):
        """A tensor viewing ``storage``, after checking the view stays inside it and within budget."""
        import torch

        if not isinstance(storage, torch.Tensor) or storage.dim() != 1:
            raise CheckpointError("a tensor in the checkpoint does not refer to a storage")
        offset = _index(offset, "tensor offset")
        size, stride = _shape(size, "size"), _shape(stride, "stride")
        if len(size) != len(stride):
            raise CheckpointError(f"a tensor declares size {size} but stride {stride}")
        numel = math.prod(size)
        if numel:
            last = offset + sum((n - 1) * s for n, s in zip(size, stride))
            if last >= storage.numel():
                raise CheckpointError(f"a tensor of size {size}, stride {stride}, offset {offset} reaches element "
                                      f"{last} of a storage of {storage.numel()}")
            if numel > storage.numel() and numel > MAX_EXPANDED:
                raise CheckpointError(f"a tensor of size {size} views a storage of {storage.numel()} elements "
                                      f"with stride {stride}: {numel} elements from repeated data; refused")
        self._spend(numel * storage.element_size(), f"a tensor of size {size}")
        return torch.as_strided(storage, size, stride, offset).clone()


def check_archive(zf: zipfile.ZipFile, path: Path, max_bytes: int) -> None:
    """Refuse an archive whose entries declare more than ``max_bytes`` in all, or a compressed
    entry that would expand past :data:`MAX_RATIO` times its stored size (a zip bomb)."""
    total = 0
    for info in zf.infolist():
        total += info.file_size
        if total > max_bytes:
            raise CheckpointError(f"{path}: its entries declare more than {max_bytes} bytes; " + _raise_hint())
        if info.compress_type != zipfile.ZIP_STORED and info.file_size > MAX_RATIO * max(info.compress_size, 1 << 10):
            raise CheckpointError(
                f"{path}: entry {info.filename[:80]!r} would expand {info.compress_size} compressed bytes to "
                f"{info.file_size} (a zip bomb? torch checkpoints store tensors uncompressed)")


def read_checkpoint(path: str | Path, max_bytes: int | None = None) -> Any:
    """The checkpoint's top-level object, read without running any code from the file.

    ``max_bytes``: ceiling on what the file may make us allocate (default :func:`default_max_bytes`).
    """
    max_bytes = default_max_bytes() if max_bytes is None else _positive(float(max_bytes), "max_bytes")
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    if not zipfile.is_zipfile(path):
        raise CheckpointError(f"{path} is not a torch zip checkpoint (legacy pre-1.6 torch.save files are not supported)")
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise CheckpointError(f"cannot read {path}: {exc}") from None
    with zf:
        check_archive(zf, path, max_bytes)
        pkls = [n for n in zf.namelist() if n.endswith("data.pkl") and n.count("/") == 1]
        if len(pkls) != 1:
            raise CheckpointError(f"{path}: expected one <archive>/data.pkl entry, found {len(pkls)}")
        prefix = pkls[0][: -len("data.pkl")]
        order = f"{prefix}byteorder"
        if order in zf.namelist() and zf.read(order).strip() != b"little":
            raise CheckpointError(f"{path}: big-endian checkpoints are not supported")
        try:
            return RestrictedUnpickler(zf.read(pkls[0]), zf, prefix, max_bytes).load()
        except CheckpointError:
            raise
        except Exception as exc:  # malformed pickle stream
            raise CheckpointError(f"cannot read {path}: {type(exc).__name__}: {exc}") from None


def model_state(ckpt: Any) -> dict:
    """The model's tensors, with a DistributedDataParallel ``module.`` prefix removed."""
    import torch

    state = ckpt.get("model") if isinstance(ckpt, dict) else None
    if not isinstance(state, dict) or not state:
        raise CheckpointError("the checkpoint has no 'model' state dict")
    out = {}
    for key, value in state.items():
        if not isinstance(value, torch.Tensor):
            raise CheckpointError(f"model entry {key!r} is a {type(value).__name__}, not a tensor")
        out[key[len("module."):] if key.startswith("module.") else key] = value
    return out


def checkpoint_options(ckpt: Any, opt_json: Path | None) -> dict[str, Any]:
    """Training options: the pickled ``opt`` Namespace, else ``opt.json`` beside the checkpoint."""
    opt = ckpt.get("opt") if isinstance(ckpt, dict) else None
    if isinstance(opt, argparse.Namespace):
        return dict(vars(opt))
    if isinstance(opt, dict):
        return dict(opt)
    if opt_json is not None and opt_json.is_file():
        try:
            opt = json.loads(opt_json.read_text())
        except (ValueError, OSError) as exc:
            raise CheckpointError(f"cannot read {opt_json}: {exc}") from None
        if not isinstance(opt, dict):
            raise CheckpointError(f"{opt_json} must hold a JSON object of training options")
        return opt
    raise CheckpointError("the checkpoint holds no options and there is no opt.json beside it")


def shape_options(state: dict) -> dict[str, int]:
    """Architecture sizes read off the weights themselves (these win over stated options)."""
    def dim(key, axis):
        if key not in state:
            raise CheckpointError(f"the checkpoint lacks {key}; is it a UniVTG model?")
        return int(state[key].shape[axis])

    layers = {k.split(".")[3] for k in state if k.startswith("transformer.encoder.layers.")}
    return {
        "v_feat_dim": dim("input_vid_proj.0.LayerNorm.weight", 0),
        "t_feat_dim": dim("input_txt_proj.0.LayerNorm.weight", 0),
        "hidden_dim": dim("token_type_embeddings.weight", 1),
        "enc_layers": len(layers),
        "dim_feedforward": dim("transformer.encoder.layers.0.linear1.weight", 0),
        "max_q_l": dim("txt_position_embed.position_embeddings.weight", 0),
        "n_input_proj": len({k.split(".")[1] for k in state if k.startswith("input_vid_proj.")}),
    }


def config_from_checkpoint(state: dict, options: dict[str, Any]) -> ModelConfig:
    sizes = shape_options(state)
    for key, value in sizes.items():
        stated = options.get(key)
        if key == "v_feat_dim" and stated is not None and _as_int(stated, key) + TEF_DIM == value:
            continue  # opt.json is saved before BaseOptions.parse adds the TEF's 2 dims (512 -> 514)
        if stated is not None and key != "n_input_proj" and _as_int(stated, key) != value:
            raise CheckpointError(f"options say {key}={stated} but the weights have {value}")
    return from_official_options({**options, **sizes})


def _as_int(value: Any, key: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):
        raise CheckpointError(f"the checkpoint's option {key}={value!r:.40} is not an integer") from None


def convert_checkpoint(ckpt_path: str | Path, out_dir: str | Path | None = None, *,
                       max_bytes: int | None = None) -> Path:
    """Convert ``model_best.ckpt`` (+ optional ``opt.json`` beside it) into ``out_dir``; returns it.

    ``max_bytes``: ceiling on the bytes the checkpoint may make us allocate (see the module docs)."""
    from .model import UniVTGModel

    ckpt_path = Path(ckpt_path).expanduser()
    ckpt = read_checkpoint(ckpt_path, max_bytes)
    state = model_state(ckpt)
    options = checkpoint_options(ckpt, ckpt_path.parent / "opt.json")
    cfg = config_from_checkpoint(state, options)
    record = dict(cfg.source, checkpoint=ckpt_path.name)
    if isinstance(ckpt.get("epoch"), int):
        record["epoch"] = ckpt["epoch"]
    import dataclasses

    cfg = dataclasses.replace(cfg, source=record)
    net = UniVTGModel(cfg)
    load_state(net, {k: v.float() if v.is_floating_point() else v for k, v in state.items()}, str(ckpt_path))
    out = Path(out_dir) if out_dir else ckpt_path.parent / "vtg-univtg"
    return save_model(net, cfg, out)
