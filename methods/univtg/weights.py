"""The on-disk form vtg loads UniVTG from: a directory with ``model.safetensors`` + ``config.json``.

Both ``vtg models convert univtg`` (official checkpoints) and ``vtg train univtg`` write it. Nothing
here unpickles: safetensors holds only tensors and the config is JSON.
"""

from __future__ import annotations

from pathlib import Path

from vtg.encoders.specs import parse_spec
from vtg.errors import CheckpointError, UsageError, VtgError, WeightsNotFoundError
from vtg.modelsize import check_module
from vtg.outputs import check_output_dir
from .config import ModelConfig

WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"

HOW_TO_GET = (
    "download an official UniVTG checkpoint folder (model_best.ckpt + opt.json; links in "
    "https://github.com/showlab/UniVTG/blob/main/model.md, e.g. the CLIP-B/32 pretrained or fine-tuned one), "
    "then run: vtg models convert univtg path/to/model_best.ckpt -o DIR, and pass --model DIR "
    "(or train one with vtg train univtg)"
)


def save_model(model, cfg: ModelConfig, out_dir: str | Path, filename: str = WEIGHTS_FILE) -> Path:
    """Write the weights (safetensors, atomically) and the config JSON; returns the directory."""
    from safetensors.torch import save

    from vtg.fileio import atomic_write_bytes

    out = check_output_dir(out_dir, what="model folder")  # a file there: one line, not FileExistsError
    out.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    atomic_write_bytes(out / filename, save(tensors, metadata={"format": "pt", "model": "univtg"}))
    cfg.save(out / CONFIG_FILE)
    return out


def resolve_model_dir(model: str | Path | None) -> Path:
    """The converted/trained directory named by ``--model``, or an error saying how to get one."""
    if not model:
        raise WeightsNotFoundError(f"UniVTG needs weights: {HOW_TO_GET}")
    path = Path(model).expanduser()
    if path.is_file() and path.suffix in (".ckpt", ".pth", ".pt"):
        raise WeightsNotFoundError(
            f"{path} is an unconverted checkpoint; vtg never unpickles checkpoints at load time. "
            f"Convert it once: vtg models convert univtg {path} -o DIR, then pass --model DIR")
    if not (path / WEIGHTS_FILE).is_file() or not (path / CONFIG_FILE).is_file():
        raise WeightsNotFoundError(f"no UniVTG weights at {path} (expected {WEIGHTS_FILE} + {CONFIG_FILE}); {HOW_TO_GET}")
    return path


def load_model(model_dir: str | Path, device: str = "cpu", filename: str = WEIGHTS_FILE):
    """(model in eval mode on ``device``, config) from a converted or trained directory."""
    from safetensors.torch import load_file

    from .model import UniVTGModel

    path = resolve_model_dir(model_dir)
    cfg = ModelConfig.load(path / CONFIG_FILE)
    import torch

    check_module(lambda: UniVTGModel(cfg), torch.float32, f"UniVTG model {path}", [path / filename])
    try:
        net = UniVTGModel(cfg)
    except (TypeError, ValueError, RuntimeError) as exc:  # a config.json the network cannot be built from
        raise CheckpointError(f"cannot build UniVTG from {path / CONFIG_FILE}: {exc}") from None
    try:
        state = load_file(str(path / filename))
    except Exception as exc:  # safetensors raises its own error types for truncated/corrupt files
        raise CheckpointError(f"cannot read {path / filename}: {exc}") from None
    load_state(net, state, str(path / filename))
    return net.to(device).eval(), cfg


def load_state(net, state: dict, where: str, architecture: str = "UniVTG") -> None:
    """``load_state_dict(strict=True)`` with a one-line error naming missing/unexpected/misshaped keys."""
    own = net.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shapes = [f"{k} {tuple(state[k].shape)} != {tuple(own[k].shape)}" for k in own
              if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or shapes:
        parts = []
        if missing:
            parts.append(f"missing {missing[:4]}{' ...' if len(missing) > 4 else ''}")
        if unexpected:
            parts.append(f"unexpected {unexpected[:4]}{' ...' if len(unexpected) > 4 else ''}")
        if shapes:
            parts.append(f"shape mismatch {shapes[:3]}")
        raise CheckpointError(f"{where} does not fit the {architecture} architecture in its config: {'; '.join(parts)}")
    net.load_state_dict(state, strict=True)


def recorded_encoder(model_dir: str | Path | None) -> str | None:
    """The encoder a converted/trained folder records in its config.json (None: not recorded,
    as in folders written before vtg recorded it). Reads only the JSON, never the weights."""
    if not model_dir:
        return None
    return ModelConfig.load(resolve_model_dir(model_dir) / CONFIG_FILE).encoder


def choose_encoder(explicit: str | None, model_dir: str | Path | None, default: str) -> str:
    """The encoder to run UniVTG weights with: the folder's recorded one unless ``explicit`` is
    given; ``default`` (CLIP ViT-B/32) for folders that record none.

    An explicit encoder that differs from the recorded one is a UsageError: features of another
    encoder fit the network's input width just as well (every CLIP ViT-B/32 variant is 512-d) and
    would give confident nonsense. The one exception is a recorded local folder that no longer
    exists (the encoder was moved): then the explicit one is used, with a warning.
    """
    recorded = recorded_encoder(model_dir)
    if recorded is None:
        return explicit or default
    if explicit is None or _same_encoder(explicit, recorded):
        return recorded
    if _is_missing_local(recorded):
        import logging

        logging.getLogger("vtg").warning("the encoder recorded in %s/config.json (%s) no longer exists; using %s",
                                         model_dir, recorded, explicit)
        return explicit
    raise UsageError(f"{model_dir} was trained on features of {recorded} (recorded in its config.json), "
                     f"not {explicit}; drop --encoder to use the recorded one")


def _same_encoder(a: str, b: str) -> bool:
    if a.strip() == b.strip():
        return True

    try:
        return parse_spec(a).canonical == parse_spec(b).canonical
    except VtgError:
        return False


def _is_missing_local(spec: str) -> bool:
    for prefix in ("open_clip:local-dir:", "hf-clip:", "hf-siglip:", "blip2:", "open_clip:"):
        if spec.startswith(prefix):
            spec = spec[len(prefix):]
            break
    path = spec.split("@", 1)[-1]
    return path.startswith(("/", "~", ".")) and not Path(path).expanduser().exists()
