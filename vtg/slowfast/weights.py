"""SlowFast R50 weights, from a local file; nothing in the file is run.

* PySlowFast's released Kinetics-400 model, ``SLOWFAST_8x8_R50.pkl`` (a Caffe2 pickle of numpy
  arrays, what HERO and Lighthouse load): unpickled by a reader that builds numpy arrays and
  dicts only (any other global stops it, naming it), every array's declared size checked before
  it is allocated, Caffe2 blob names mapped to PySlowFast's (:func:`torch_name`), the classifier
  dropped; every parameter of the network must be found, with its shape.
* a ``.safetensors`` file with PySlowFast's names (what :func:`save_weights` writes).

Where the release comes from: :data:`RELEASE_URL`, downloaded on first use into
:func:`default_weights` by :mod:`vtg.slowfast.download`. The release publishes no checksum, so that
download is trusted on first use: refused unless it has every parameter of the network with its
shape, its sha256 recorded beside it and checked by :func:`load_network` on every later load.
"""

from __future__ import annotations

import io
import math
import pickle
import re
from pathlib import Path
from typing import Any

from vtg.errors import CheckpointError, WeightsNotFoundError
from vtg.features import cache_root, full_hash

RELEASE_URL = "https://dl.fbaipublicfiles.com/pyslowfast/model_zoo/kinetics400/SLOWFAST_8x8_R50.pkl"
MAX_BYTES = 1 << 30  # the release is ~270 MB

#: Caffe2 blob name -> PySlowFast parameter name, applied in order (PySlowFast's conversion table
#: for the ResNet / SlowFast parts; "t_" blobs are the fast pathway, "subsample" the fusions).
_RENAMES = [
    (r"^t_pool1_subsample_bn_(.*)", r"s1_fuse.bn.\1"),
    (r"^t_pool1_subsample_(.*)", r"s1_fuse.conv_f2s.\1"),
    (r"^t_res([0-9]+)_([0-9]+)_branch2c_bn_subsample_bn_(.*)", r"s\1_fuse.bn.\3"),
    (r"^t_res([0-9]+)_([0-9]+)_branch2c_bn_subsample_(.*)", r"s\1_fuse.conv_f2s.\3"),
    (r"^res([0-9]+)_([0-9]+)_branch([0-9]+)([a-z])_(.*)", r"s\1.pathway0_res\2.branch\3.\4_\5"),
    (r"^res_conv1_bn_(.*)", r"s1.pathway0_stem.bn.\1"),
    (r"^conv1_(.*)", r"s1.pathway0_stem.conv.\1"),
    (r"^res([0-9]+)_([0-9]+)_branch([0-9]+)_(.*)", r"s\1.pathway0_res\2.branch\3_\4"),
    (r"^res_conv1_(.*)", r"s1.pathway0_stem.conv.\1"),
    (r"^t_res([0-9]+)_([0-9]+)_branch([0-9]+)([a-z])_(.*)", r"s\1.pathway1_res\2.branch\3.\4_\5"),
    (r"^t_res_conv1_bn_(.*)", r"s1.pathway1_stem.bn.\1"),
    (r"^t_conv1_(.*)", r"s1.pathway1_stem.conv.\1"),
    (r"^t_res([0-9]+)_([0-9]+)_branch([0-9]+)_(.*)", r"s\1.pathway1_res\2.branch\3_\4"),
    (r"^t_res_conv1_(.*)", r"s1.pathway1_stem.conv.\1"),
    (r"pred_(.*)", r"head.projection.\1"),
    (r"(.*)bn.b\Z", r"\1bn.bias"),
    (r"(.*)bn.s\Z", r"\1bn.weight"),
    (r"(.*)bn.rm\Z", r"\1bn.running_mean"),
    (r"(.*)bn.riv\Z", r"\1bn.running_var"),
    (r"(.*)[\._]b\Z", r"\1.bias"),
    (r"(.*)[\._]w\Z", r"\1.weight"),
]


def torch_name(blob: str) -> str:
    for pattern, replacement in _RENAMES:
        blob = re.sub(pattern, replacement, blob)
    return blob


def _reconstruct(cls: Any, shape: Any, dtype: Any) -> "_Array":
    if cls is not _Array:
        raise CheckpointError("the SlowFast checkpoint rebuilds something other than a numpy array")
    return _Array()


class _Array:
    """A numpy array being unpickled: ``__setstate__`` receives shape, dtype and raw bytes."""

    value: Any = None

    def __setstate__(self, state: Any) -> None:
        import numpy as np

        if not (isinstance(state, tuple) and len(state) == 5):
            raise CheckpointError("an array in the SlowFast checkpoint has an unexpected form")
        _, shape, dtype, fortran, data = state
        if not isinstance(dtype, np.dtype) or dtype.hasobject or not isinstance(data, (bytes, bytearray, str)):
            raise CheckpointError("an array in the SlowFast checkpoint holds objects, not numbers")
        if not isinstance(shape, tuple) or not all(isinstance(n, int) and 0 <= n < 1 << 40 for n in shape):
            raise CheckpointError(f"an array in the SlowFast checkpoint declares shape {shape!r:.60}")
        raw = data.encode("latin1") if isinstance(data, str) else bytes(data)
        if math.prod(shape) * dtype.itemsize != len(raw):
            raise CheckpointError(f"an array of shape {shape} in the SlowFast checkpoint has {len(raw)} bytes")
        self.value = np.frombuffer(raw, dtype=dtype).reshape(shape, order="F" if fortran else "C")


def _latin1(text: Any, encoding: str = "latin1") -> bytes:
    """Python 3 bytes in a protocol-2 pickle arrive as ``_codecs.encode(text, "latin1")``."""
    if encoding != "latin1" or not isinstance(text, str):
        raise CheckpointError(f"refusing _codecs.encode with encoding {encoding!r:.20}")
    return text.encode("latin1")


def _dtype(name: Any, *args: Any) -> Any:
    import numpy as np

    if not isinstance(name, str) or len(name) > 8:
        raise CheckpointError(f"the SlowFast checkpoint declares dtype {name!r:.40}")
    return np.dtype(name)


class _Caffe2Reader(pickle.Unpickler):
    """Only numpy arrays (``_reconstruct`` + ``ndarray`` + ``dtype``) and plain containers."""

    ALLOWED = {("numpy.core.multiarray", "_reconstruct"): _reconstruct,
               ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
               ("numpy", "ndarray"): _Array, ("numpy", "dtype"): _dtype, ("_codecs", "encode"): _latin1}

    def find_class(self, module: str, name: str) -> Any:
        try:
            return self.ALLOWED[(module, name)]
        except KeyError:
            raise CheckpointError(f"refusing to load {module}.{name} from the SlowFast checkpoint: not something "
                                  "a Caffe2 weights file holds (vtg never runs code from weights files)") from None


def _unwrap(value: Any) -> Any:
    if isinstance(value, _Array):
        return value.value
    if isinstance(value, dict):
        return {(k.decode("latin1") if isinstance(k, bytes) else k): _unwrap(v) for k, v in value.items()}
    return value


def read_caffe2(path: Path) -> dict[str, Any]:
    """``{blob name: numpy array}`` of a Caffe2 ``.pkl`` (``{"blobs": {...}}``)."""
    size = path.stat().st_size
    if size > MAX_BYTES:
        raise CheckpointError(f"{path} is {size} bytes, more than a SlowFast R50 checkpoint ({MAX_BYTES})")
    try:
        data = _Caffe2Reader(io.BytesIO(path.read_bytes()), encoding="latin1").load()
    except CheckpointError:
        raise
    except Exception as exc:  # a malformed pickle stream
        raise CheckpointError(f"cannot read {path}: {type(exc).__name__}: {exc}") from None
    data = _unwrap(data)
    blobs = data.get("blobs") if isinstance(data, dict) else None
    if not isinstance(blobs, dict):
        raise CheckpointError(f"{path} holds no 'blobs' (not a PySlowFast Caffe2 checkpoint)")
    return blobs


def state_from_caffe2(blobs: dict[str, Any], own: dict[str, Any]) -> dict[str, Any]:
    """The network's state dict from Caffe2 blobs; a missing or misshaped parameter is an error."""
    import torch

    state, misshaped = {}, {}
    for blob, array in blobs.items():
        name = torch_name(str(blob))
        if name in own and tuple(getattr(array, "shape", ())) == tuple(own[name].shape):
            state[name] = torch.from_numpy(array.astype("float32", copy=True))
        elif name in own:
            misshaped[name] = tuple(getattr(array, "shape", ()))
    missing = [k for k in own if k not in state and not k.endswith("num_batches_tracked")]
    wrong = [k for k in missing if k in misshaped]
    if wrong:
        raise CheckpointError(f"the SlowFast checkpoint has {len(wrong)} parameters of the wrong shape for this "
                              f"network (e.g. {wrong[0]}: {misshaped[wrong[0]]}, expected {tuple(own[wrong[0]].shape)})")
    if missing:
        raise CheckpointError(f"the SlowFast checkpoint lacks {len(missing)} parameters of the R50 network "
                              f"(e.g. {missing[:3]})")
    return state


def _shape_of(state: dict) -> tuple[int, tuple[int, ...]]:
    """(width, blocks per stage) of a PySlowFast state dict (the release: 64, (3, 4, 6, 3))."""
    if "s1.pathway0_stem.conv.weight" not in state:
        raise CheckpointError("the SlowFast weights lack s1.pathway0_stem.conv.weight; not a SlowFast network")
    width = int(state["s1.pathway0_stem.conv.weight"].shape[0])
    depths = tuple(len({k.split(".")[1] for k in state if k.startswith(f"s{s}.pathway0_res")}) for s in range(2, 6))
    return width, depths


def default_weights() -> Path:
    """Where vtg looks for the release when no path is given: ``<vtg cache>/weights/SLOWFAST_8x8_R50.pkl``."""
    return cache_root() / "weights" / "SLOWFAST_8x8_R50.pkl"


def sidecar(path: Path) -> Path:
    """Where vtg records the sha256 of a release it downloaded: ``<file>.sha256`` beside it."""
    return path.with_name(path.name + ".sha256")


def check_recorded(path: Path) -> None:
    """When vtg downloaded ``path`` (a sidecar is beside it), its content must still hash to the record."""
    record = sidecar(path)
    if not record.is_file():
        return  # a file the user put there: vtg never recorded (or changes) it
    with open(record, "rb") as f:
        expected = f.read(200).decode("ascii", errors="replace").strip().lower()  # a sha256 line, bounded

    if full_hash(path) != expected:
        raise CheckpointError(f"{path} changed since vtg downloaded it (its sha256 no longer matches {record.name}); "
                              f"delete both files to download it again, or download {RELEASE_URL} yourself "
                              "and pass it with -O slowfast_weights=PATH")


def load_network(path: str | Path | None, device: str = "cpu"):
    """The SlowFast R50 network with the weights in ``path`` (.pkl release or .safetensors), eval mode."""
    import torch

    from .network import R50_DEPTHS, SlowFastR50

    if not path:
        raise WeightsNotFoundError("SlowFast+CLIP models need SlowFast R50 weights: download PySlowFast's "
                                   f"{RELEASE_URL} to {default_weights()} or pass its path with "
                                   "-O slowfast_weights=PATH, or pass precomputed features with -O slowfast=FILE.npy")
    path = Path(path).expanduser()
    if not path.is_file():
        raise WeightsNotFoundError(f"SlowFast weights not found: {path}")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            state = load_file(str(path))
        except Exception as exc:  # safetensors' own error types
            raise CheckpointError(f"cannot read {path}: {exc}") from None
        state = {k: v for k, v in state.items() if not k.startswith("head.")}
        net = SlowFastR50(*_shape_of(state))  # a tiny test network as well as the release
        own = net.state_dict()
    else:
        check_recorded(path)  # a release vtg downloaded must not have changed since
        net = SlowFastR50(64, R50_DEPTHS)
        own = net.state_dict()
        state = state_from_caffe2(read_caffe2(path), own)
    wrong = sorted((set(own) ^ set(state)) - {k for k in own if k.endswith("num_batches_tracked")})
    if wrong:
        raise CheckpointError(f"{path} does not fit the SlowFast R50 network: {wrong[:4]}")
    net.load_state_dict(state, strict=False)
    return net.to(device).eval()


def save_weights(net, path: str | Path) -> Path:
    """A network's weights as safetensors (tests, or a converted release)."""
    from safetensors.torch import save

    from vtg.fileio import atomic_write_bytes

    tensors = {k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}
    atomic_write_bytes(path, save(tensors, metadata={"model": "slowfast_r50"}))
    return Path(path)
