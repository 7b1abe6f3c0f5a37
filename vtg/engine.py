"""The model manager: one place that loads models, shares them, reports their memory, releases them.

Every model vtg loads (frame/text encoders, chat models for query decomposition, Video-LLMs, UniVTG
networks, LLM backends) goes through :class:`ModelManager`, so a long-lived process (``vtg serve``,
a batch, a notebook) keeps each model warm once and can account for and free all of them in one
call. Before it, five process-wide caches each held their own models with no way to list or free
them together.

>>> from vtg.engine import default_manager
>>> manager = default_manager()
>>> enc = load_encoder("ViT-B-32/openai", device="cpu", text_only=True)   # vtg.encoders, through it
>>> manager.memory()                   # parameter bytes per model, CUDA memory when present
>>> manager.release()                  # drop every model (and the CUDA cache)

A model is identified by ``(kind, key)``; the key holds everything that changes the loaded object
(spec, device, dtype, text-only or full). Loading is thread-safe: concurrent callers of one key
wait for a single load (batch prefetch threads, server workers), while different keys load in
parallel. The manager also keeps the text embeddings of recent queries (keyed by the encoder's
identity and the text), so a repeated query costs a dictionary lookup.

Heavy libraries are never imported here: memory is measured only if torch is already loaded.
"""

from __future__ import annotations

import contextlib
import contextvars
import gc
import logging
import sys
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Callable, Hashable, Iterator, TypeVar

import numpy as np

from vtg.contextvalue import bound

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Kinds of models the manager holds (``ModelInfo.kind``).
KINDS = ("encoder", "chat-model", "llm-backend", "video-llm", "univtg")


@dataclass(frozen=True)
class ModelInfo:
    """One loaded model: what it is and how many bytes its parameters and buffers take."""

    kind: str
    label: str
    device: str
    parameter_bytes: int

    def to_dict(self) -> dict:
        return {"kind": self.kind, "label": self.label, "device": self.device,
                "parameter_bytes": self.parameter_bytes}


class TextEmbeddingCache:
    """Text embeddings of recent sentences, least recently used dropped first.

    Keyed by the encoder's identity (canonical spec, weights fingerprint, device, dtype) and the
    sentence, so a text-only and a full copy of one model share entries, and replacing the weights
    under a path (new fingerprint) never returns stale vectors. Rows are stored read-only.
    """

    def __init__(self, capacity: int = 4096):
        self.capacity = int(capacity)
        self._rows: OrderedDict[tuple, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    @staticmethod
    def identity(encoder) -> tuple:
        return (encoder.spec, encoder.fingerprint, str(encoder.device), str(encoder.dtype))

    def encode(self, encoder, texts: list[str], compute: Callable[[list[str]], np.ndarray]) -> np.ndarray:
        """Embeddings of ``texts`` [M, D]: cached rows, and ``compute`` for the missing ones (one call)."""
        ident = self.identity(encoder)
        with self._lock:
            rows = {t: self._rows[(ident, t)] for t in texts if (ident, t) in self._rows}
            for t in rows:
                self._rows.move_to_end((ident, t))
        missing = list(dict.fromkeys(t for t in texts if t not in rows))
        with self._lock:
            self.hits += len(texts) - sum(1 for t in texts if t not in rows)
            self.misses += len(missing)
        if missing:
            fresh = np.asarray(compute(missing), np.float32)
            with self._lock:
                for t, row in zip(missing, fresh):
                    row = row.copy()
                    row.setflags(write=False)
                    rows[t] = row
                    self._rows[(ident, t)] = row
                while len(self._rows) > self.capacity:
                    self._rows.popitem(last=False)
        return np.stack([rows[t] for t in texts]).astype(np.float32, copy=True)

    def clear(self) -> None:
        with self._lock:
            self._rows.clear()

    def __len__(self) -> int:
        return len(self._rows)


class ModelManager:
    """Loads models by key, shares them, reports their memory and releases them on request."""

    def __init__(self, text_cache_size: int = 4096):
        self._lock = threading.Lock()
        self._models: dict[tuple[str, Hashable], Any] = {}
        self._labels: dict[tuple[str, Hashable], str] = {}
        self._key_locks: dict[tuple[str, Hashable], threading.Lock] = {}
        self.text_cache = TextEmbeddingCache(text_cache_size)
        #: How many loads ran (per kind): tests count work with it instead of timing.
        self.loads: dict[str, int] = {}

    # --- generic ------------------------------------------------------------------------------
    def get(self, kind: str, key: Hashable, load: Callable[[], T], *, label: str | None = None) -> T:
        """The model stored under ``(kind, key)``, loading it with ``load()`` the first time.

        Callers asking for the same key at once wait for one load; a failed load stores nothing,
        so the next call retries (after the user fixed the weights, say).
        """
        full = (kind, key)
        with self._lock:
            if full in self._models:
                return self._models[full]
            key_lock = self._key_locks.setdefault(full, threading.Lock())
        with key_lock:
            with self._lock:
                if full in self._models:
                    return self._models[full]
            model = load()
            with self._lock:
                self._models[full] = model
                self._labels[full] = label or str(key)
                self.loads[kind] = self.loads.get(kind, 0) + 1
            return model

    def peek(self, kind: str, key: Hashable) -> Any | None:
        """The model under ``(kind, key)`` if it is loaded, else None (never loads)."""
        with self._lock:
            return self._models.get((kind, key))

    def discard(self, kind: str, key: Hashable) -> bool:
        """Forget one model; True when it was loaded."""
        with self._lock:
            self._labels.pop((kind, key), None)
            return self._models.pop((kind, key), None) is not None

    def loaded(self, kind: str | None = None) -> list[tuple[str, Hashable]]:
        with self._lock:
            return [k for k in self._models if kind is None or k[0] == kind]

    def release(self, kind: str | None = None) -> int:
        """Drop every model (or every model of ``kind``) and the text-embedding cache, collect
        garbage and empty the CUDA allocator's cache; returns how many models were dropped.

        Memory is actually freed once no caller holds a model any more (a running query keeps
        its own reference until it returns)."""
        with self._lock:
            dropped = [k for k in self._models if kind is None or k[0] == kind]
            for k in dropped:
                del self._models[k]
                self._labels.pop(k, None)
        if kind in (None, "encoder"):
            self.text_cache.clear()
        gc.collect()
        torch = sys.modules.get("torch")
        if torch is not None and torch.cuda.is_available() and torch.cuda.is_initialized():
            torch.cuda.empty_cache()
        return len(dropped)

    # --- reports ------------------------------------------------------------------------------
    def models(self) -> list[ModelInfo]:
        """What is loaded, with the bytes of each model's parameters and buffers."""
        with self._lock:
            items = list(self._models.items())
            labels = dict(self._labels)
        out = []
        for (kind, key), model in items:
            nbytes, device = parameter_bytes(model)
            out.append(ModelInfo(kind, labels.get((kind, key), str(key)), device, nbytes))
        return out

    def memory(self) -> dict:
        """``{"models": [...], "parameter_bytes": total, "text_cache_entries": n, "cuda": {...} | None}``.

        ``cuda`` holds torch's allocated / reserved / peak bytes per visible device when CUDA is in
        use in this process (never initialises CUDA just to report)."""
        infos = self.models()
        return {"models": [m.to_dict() for m in infos], "parameter_bytes": sum(m.parameter_bytes for m in infos),
                "text_cache_entries": len(self.text_cache), "cuda": cuda_memory()}


def parameter_bytes(model: Any) -> tuple[int, str]:
    """(bytes of parameters and buffers, device) of the torch modules inside ``model``.

    Looks at ``model`` itself, tuples/lists of it, and its attributes one level down (an Encoder's
    ``model``, a VideoLLM's ``model``), counting shared tensors once. 0 when torch is not loaded.
    """
    torch = sys.modules.get("torch")
    if torch is None:
        return 0, ""
    seen: set[int] = set()
    total, devices = 0, []
    for module in _modules(model, torch, depth=2):
        for tensor in list(module.parameters()) + list(module.buffers()):
            if tensor.device.type == "meta":
                continue
            ptr = tensor.data_ptr()
            if ptr in seen:
                continue
            seen.add(ptr)
            total += tensor.numel() * tensor.element_size()
            devices.append(str(tensor.device))
    return total, (max(set(devices), key=devices.count) if devices else "")


def _modules(obj: Any, torch, depth: int) -> Iterator:
    if isinstance(obj, torch.nn.Module):
        yield obj
        return
    if depth <= 0:
        return
    if isinstance(obj, (tuple, list)):
        for item in obj:
            yield from _modules(item, torch, depth - 1)
        return
    for value in getattr(obj, "__dict__", {}).values():
        if isinstance(value, (torch.nn.Module, tuple, list)):
            yield from _modules(value, torch, depth - 1)


def cuda_memory() -> dict | None:
    """torch's CUDA allocator figures per device, or None when CUDA is not in use here."""
    torch = sys.modules.get("torch")
    if torch is None or not torch.cuda.is_available() or not torch.cuda.is_initialized():
        return None
    return {f"cuda:{i}": {"allocated": torch.cuda.memory_allocated(i), "reserved": torch.cuda.memory_reserved(i),
                          "peak_allocated": torch.cuda.max_memory_allocated(i)}
            for i in range(torch.cuda.device_count())}


#: The process's shared manager (a cache of loaded models, not a run setting): the default
#: session's, and every session's that does not bring its own. Built at import: an empty manager
#: costs two dicts and a lock.
_DEFAULT = ModelManager()
#: The manager of the session active in this thread / asyncio task (:class:`vtg.session.Session`).
_ACTIVE: contextvars.ContextVar[ModelManager | None] = contextvars.ContextVar("vtg_models", default=None)


def default_manager() -> ModelManager:
    """The current session's manager: the one :func:`using_manager` made current in this
    thread/task, else the process-wide one that the CLI, batch, the server and ``vtg.ground`` share."""
    active = _ACTIVE.get()
    return _DEFAULT if active is None else active


@contextlib.contextmanager
def using_manager(manager: ModelManager) -> Iterator[ModelManager]:
    """``manager`` loads and holds the models of this thread/task for the block."""
    with bound(_ACTIVE, manager):
        yield manager


def release_models() -> int:
    """Drop every model of the default manager and free the memory (GPU included)."""
    return default_manager().release()


__all__ = ["KINDS", "ModelInfo", "ModelManager", "TextEmbeddingCache", "cuda_memory", "default_manager",
           "parameter_bytes", "release_models", "using_manager"]
