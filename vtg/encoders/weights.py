"""Finding model weights on this machine, and downloading them on first use.

A Hugging Face id resolves from the local HF cache, an open_clip pretrained tag from the files
open_clip itself would have downloaded (HF cache or ``~/.cache/clip``). When they are missing, the
``ensure_*`` functions download them through huggingface_hub (:mod:`vtg.encoders.hub`: size first,
one progress bar on stderr), as whisper, open_clip and transformers do on first use. Offline
(``--offline``, :func:`offline`, or ``HF_HUB_OFFLINE=1``) nothing is downloaded and missing weights
raise :class:`WeightsNotFoundError` naming the model and the command that fetches it, so a run
never continues with random weights.

Everything here runs before torch, transformers or open_clip are imported, so a missing model
fails (or starts downloading) within a second of the command starting.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

from vtg.encoders import hub, open_clip_table
from vtg.errors import CheckpointError, ModelError, WeightsNotFoundError
from vtg.settings import changed, current_settings

HF_WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin",
                   "pytorch_model.bin.index.json")
OPEN_CLIP_WEIGHT_FILES = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")



def offline_mode() -> bool:
    """Whether downloads are off: the current session's ``--offline`` (:func:`offline`), or
    ``HF_HUB_OFFLINE`` / ``TRANSFORMERS_OFFLINE`` set to a true value (read now, not at import:
    huggingface_hub obeys them process-wide whatever a session says)."""
    if current_settings().offline:
        return True
    return any(os.environ.get(k, "").strip().lower() in ("1", "true", "yes", "on")
               for k in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


@contextlib.contextmanager
def offline(enabled: bool = True):
    """Within the block, missing weights are an error instead of a download (``--offline``), in
    this thread/task and the work it hands to pools with its context; ``enabled=False`` changes nothing."""
    if not enabled:
        yield
        return
    with changed(offline=True):
        yield


def _download_allowed(offline_flag: bool | None) -> bool:
    return not (offline_mode() if offline_flag is None else offline_flag)


def _offline_note() -> str:
    return " [offline: --offline or HF_HUB_OFFLINE=1 turned the automatic download off]"



def hf_cache_dir() -> Path:
    """The HF hub cache, read from the environment at call time (HF_HUB_CACHE, HF_HOME)."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    home = os.environ.get("HF_HOME") or os.path.join(os.environ.get("XDG_CACHE_HOME", "~/.cache"), "huggingface")
    return Path(home).expanduser() / "hub"


def open_clip_url_cache_dir() -> Path:
    """Where open_clip stores weights it downloads from plain URLs (its default)."""
    return Path("~/.cache/clip").expanduser()


def hf_cached_file(repo_id: str, filename: str) -> str | None:
    """Path of ``filename`` of ``repo_id`` in the local HF cache, or None (no network)."""
    from huggingface_hub import try_to_load_from_cache

    try:
        found = try_to_load_from_cache(repo_id, filename, cache_dir=str(hf_cache_dir()))
    except Exception:  # malformed repo ids raise HFValidationError
        return None
    return found if isinstance(found, str) else None


def hf_weights_cached(repo_id: str) -> str | None:
    """The cached weights file of a transformers model (config and weights both present)."""
    if not hf_cached_file(repo_id, "config.json"):
        return None
    for name in HF_WEIGHT_FILES:
        found = hf_cached_file(repo_id, name)
        if found:
            return found
    return None


def require_hf_model(repo_or_dir: str, is_local: bool, *, offline: bool | None = None) -> str:
    """The weights file of a transformers model, downloading a hub model on first use."""
    if is_local:
        path = Path(repo_or_dir)
        for name in HF_WEIGHT_FILES:
            if (path / name).is_file():
                return str(path / name)
        raise WeightsNotFoundError(f"no weights in {path} (expected one of {', '.join(HF_WEIGHT_FILES)}, "
                                   "as written by save_pretrained)")
    ensure_hf_model(repo_or_dir, offline=offline)
    found = hf_weights_cached(repo_or_dir)
    if found is None:  # ensure_hf_model checked it; a cache emptied meanwhile says so plainly
        raise WeightsNotFoundError(missing_hf_message(repo_or_dir))
    return found


def ensure_hf_model(repo_id: str, *, offline: bool | None = None) -> str:
    """The cached snapshot folder of a transformers model (config.json + weights), downloading the
    files its loader reads when it is not cached and downloads are allowed. Used for encoders,
    Video-LLMs and chat models alike."""
    found = hf_weights_cached(repo_id)
    if found:
        return os.path.dirname(found)
    if not _download_allowed(offline):
        raise WeightsNotFoundError(missing_hf_message(repo_id) + _offline_note())

    hub.download(repo_id, cache_dir=hf_cache_dir())
    found = hf_weights_cached(repo_id)
    if not found:
        raise WeightsNotFoundError(f"{repo_id!r} was downloaded but holds no config.json with "
                                   f"{' or '.join(HF_WEIGHT_FILES)}: is it a transformers model?")
    return os.path.dirname(found)


def quiet_transformers() -> None:
    """Silence transformers' own per-load progress bars: vtg shows one bar for the work that takes
    time, and output piped to a file or another program must stay clean."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()


def missing_hf_message(repo_id: str) -> str:
    return (f"weights for {repo_id!r} are not in the local Hugging Face cache ({hf_cache_dir()}); run "
            f"`vtg models download {repo_id}` or `hf download {repo_id}` (needs network), "
            "or pass a local directory written by save_pretrained")


def open_clip_tag_weights(arch: str, tag: str, *, offline: bool | None = None) -> tuple[str, dict]:
    """Local file of an open_clip (arch, pretrained tag), and the tag's config (preprocessing,
    quick_gelu). Looks where open_clip's own download would have put it, else downloads the file
    open_clip would (its ``hf_hub`` entry, safetensors preferred) unless offline."""
    cfg = open_clip_tag_config(arch, tag)
    found = find_open_clip_tag_weights(cfg)
    if found:
        return found, cfg
    if not _download_allowed(offline):
        raise WeightsNotFoundError(
            f"weights for open_clip {arch}/{tag} are not cached (looked in {hf_cache_dir()} and "
            f"{open_clip_url_cache_dir()}); run `vtg models download {arch}/{tag}` (needs network), or "
            f"pass a local file as open_clip:{arch}@/path/to/weights.safetensors" + _offline_note())
    repo, names = open_clip_hub_files(cfg)
    if not repo:
        raise WeightsNotFoundError(f"open_clip {arch}/{tag} has no Hugging Face hub entry to download from; "
                                   f"pass a local file as open_clip:{arch}@/path/to/weights")

    listing = hub.repo_files(repo)
    name = next((n for n in names if n in listing.files), None)
    if name is None:
        raise WeightsNotFoundError(f"{repo!r} on {hub.endpoint()} has none of {', '.join(names)}")
    folder = hub.download(repo, [name], cache_dir=hf_cache_dir(), listing=listing)
    return str(Path(folder) / name), cfg


def open_clip_tag_config(arch: str, tag: str) -> dict:
    """open_clip's pretrained config of (arch, tag), read without importing torch."""
    cfg = open_clip_table.pretrained_cfg(arch, tag)
    if not cfg:
        tags = open_clip_table.pretrained_tags(arch)
        raise ModelError(f"open_clip has no pretrained tag {tag!r} for {arch!r}; known: {', '.join(tags) or 'none'}")
    return cfg


def find_open_clip_tag_weights(cfg: dict) -> str | None:
    """The cached weights file of an open_clip pretrained config, or None (no network)."""
    for path in _open_clip_candidates(cfg):
        if path and Path(path).is_file():
            return path
    return None


def open_clip_hub_files(cfg: dict) -> tuple[str, list[str]]:
    """(hub repo, weight file names in open_clip's order of preference) of a pretrained config:
    ``org/name/file.bin`` means that file (its .safetensors twin first), ``org/name/`` the default
    names, as ``open_clip.pretrained.download_pretrained`` reads them."""
    hub_entry = cfg.get("hf_hub", "")
    if not hub_entry:
        return "", []
    if hub_entry.endswith("/"):
        return hub_entry.rstrip("/"), list(OPEN_CLIP_WEIGHT_FILES)
    repo, filename = os.path.split(hub_entry)
    names = [filename]
    if filename.endswith((".bin", ".pth")):
        names.insert(0, filename[:-4] + ".safetensors")
    return repo, names


def _open_clip_candidates(cfg: dict):
    if cfg.get("file"):
        yield cfg["file"]
    repo, names = open_clip_hub_files(cfg)
    for name in names:
        yield hf_cached_file(repo, name)
    if cfg.get("url"):
        yield str(open_clip_url_cache_dir() / os.path.basename(cfg["url"]))


def open_clip_hub_dir(repo_id: str, *, offline: bool | None = None) -> str:
    """The cached snapshot folder of an ``open_clip:hf-hub:`` model (config + weights), downloaded
    on first use unless offline."""
    folder = cached_open_clip_hub_dir(repo_id)
    if folder:
        return folder
    if not _download_allowed(offline):
        raise WeightsNotFoundError(missing_hf_message(repo_id).replace("save_pretrained", "open_clip")
                                   + _offline_note())

    hub.download(repo_id, cache_dir=hf_cache_dir())
    folder = cached_open_clip_hub_dir(repo_id)
    if not folder:
        raise WeightsNotFoundError(f"{repo_id!r} was downloaded but holds no open_clip_config.json with "
                                   f"{' or '.join(OPEN_CLIP_WEIGHT_FILES)}: is it an open_clip model?")
    return folder


def cached_open_clip_hub_dir(repo_id: str) -> str | None:
    """The local folder of an open_clip hub model when its config and weights are both cached."""
    config = hf_cached_file(repo_id, "open_clip_config.json")
    weights = next((w for w in (hf_cached_file(repo_id, n) for n in OPEN_CLIP_WEIGHT_FILES) if w), None)
    return str(Path(config).parent) if config and weights else None


def offline_scope(flag: bool | None):
    """``offline()`` when ``flag`` is True; nothing otherwise (None = leave the current mode)."""
    return offline(True) if flag else contextlib.nullcontext()


def fingerprint(*paths: str | Path) -> str:
    """Size and mtime of the weight files: changes when the weights under a path are replaced."""
    parts = []
    for p in paths:
        try:
            st = Path(p).stat()
            parts.append(f"{Path(p).name}:{st.st_size}:{st.st_mtime_ns}")
        except OSError:
            parts.append(f"{Path(p).name}:?")
    return ";".join(parts)


def files_fingerprint(path: str | Path) -> str:
    """:func:`fingerprint` of the weights at ``path`` (a file, or an open_clip folder: its
    config and weights)."""
    path = Path(path)
    if path.is_dir():
        return fingerprint(*sorted(p for p in path.iterdir() if p.name.startswith("open_clip")))
    return fingerprint(path)
