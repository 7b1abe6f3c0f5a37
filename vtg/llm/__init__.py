"""LLM sub-event decomposition of queries (TFVTG, Zheng et al. ECCV 2024, Sec. 3.2).

>>> from vtg.llm import decompose
>>> d = decompose("person opens the door then walks out")          # rules: offline, deterministic
>>> d.relationship, [s.descriptions for s in d.sub_events]
('sequentially', [('person opens the door',), ('person walks out',)])

Backends (``backend=`` / ``--llm``): ``rules`` (default), ``none``, ``hf:<model id or dir>`` (local
transformers chat model), ``json:<file>`` (precomputed, TFVTG's ``llm_outputs.json`` format) and
``openai[:<model>]`` with ``url=`` / ``--llm-url`` (vLLM, llama.cpp server, Ollama, ...). Answers
are parsed defensively; after retries, or when the overall deadline of the call passes, a backend
falls back to the whole query with a warning.
"""

from __future__ import annotations

from vtg.engine import default_manager
from vtg.errors import UnknownNameError, UsageError
from vtg.llm.parse import AnswerError, extract_json, from_object, parse_answer
from vtg.llm.types import RELATIONSHIPS, Decomposition, SubEvent

BACKENDS = ("rules", "none", "hf:<model>", "json:<file>", "openai[:<model>] with --llm-url")

def load_backend(spec: str | None = "rules", url: str | None = None, *, device: str = "auto",
                 deadline: float | None = None):
    """The backend for ``spec``, shared through the model manager (a chat model or a decomposition
    file loads once per process; :func:`vtg.engine.release_models` drops them).

    A ``url`` selects the OpenAI-compatible HTTP backend unless ``spec`` names another explicit
    backend (``hf:``/``json:``/``none``). ``deadline``: overall seconds per decomposition of the
    HTTP backend (default ``$VTG_LLM_TIMEOUT`` or 120), after which it falls back to the whole query.
    """
    text = (spec or "rules").strip()
    kind, arg = backend_kind(spec, url)

    return default_manager().get("llm-backend", (kind, arg, url, device, deadline),
                                 lambda: _make(kind, arg, url, device, text, deadline),
                                 label=text if not url else f"{text} at {url}")


def backend_kind(spec: str | None, url: str | None = None) -> tuple[str, str]:
    """``(kind, argument)`` of a backend spec: ``hf:Qwen/X`` is ``("hf", "Qwen/X")``; a ``url``
    turns ``rules``/``openai`` into the HTTP backend. The one reading of ``--llm`` (a query's plan
    names the chat model to fetch from it)."""
    kind, _, arg = (spec or "rules").strip().partition(":")
    kind = kind.lower()
    if url and kind in ("rules", "openai"):
        kind = "openai"
    return kind, arg


def _make(kind: str, arg: str, url: str | None, device: str, text: str, deadline: float | None = None):
    if kind == "rules":
        from vtg.llm.rules import RulesBackend

        return RulesBackend()
    if kind in ("none", "off"):
        from vtg.llm.rules import NoneBackend

        return NoneBackend()
    if kind == "hf":
        if not arg:
            raise UsageError("--llm hf needs a model: hf:<hub id or local directory>")
        from vtg.llm.hf import HFBackend

        return HFBackend(arg, device=device)
    if kind == "json":
        if not arg:
            raise UsageError("--llm json needs a file: json:<path to decompositions>")
        from vtg.llm.jsonfile import JsonFileBackend

        return JsonFileBackend(arg)
    if kind == "openai":
        if not url:
            raise UsageError("--llm openai needs --llm-url, e.g. --llm-url http://localhost:8000/v1")
        from vtg.llm.openai_http import OpenAIBackend

        return OpenAIBackend(url, arg or None, deadline=deadline)
    raise UnknownNameError("LLM backend", text, list(BACKENDS))


def clear_backends() -> None:
    """Forget loaded backends (models, files)."""
    default_manager().release("llm-backend")
    default_manager().release("chat-model")


def decompose(query: str, backend: str | None = "rules", *, url: str | None = None, video_id: str | None = None,
              device: str = "auto", deadline: float | None = None) -> Decomposition:
    """Split ``query`` into sub-events with the chosen backend; never fails on a bad LLM answer."""
    return load_backend(backend, url, device=device, deadline=deadline).decompose(query, video_id=video_id)


__all__ = ["Decomposition", "SubEvent", "RELATIONSHIPS", "BACKENDS", "AnswerError", "decompose", "load_backend",
           "clear_backends", "extract_json", "from_object", "parse_answer"]
