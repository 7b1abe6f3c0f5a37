"""What a batch record means: the settings that produced it, and what a resume may reuse.

Every record of ``vtg batch`` carries ``settings``: the method, the method options that change
results and ``top_k``, as they applied to that line (a line's own ``method``/``options`` count).
Options that only change *where or how fast* the same answer is computed (``device``,
``batch_size``, an LLM endpoint's address) are left out, so a resume on another machine or GPU
is still a resume. On resume (:func:`plan_resume`):

* a result (``ok``) whose settings differ from what this run asks for the same qid is a
  :class:`SettingsMismatchError` naming both, before any work (reusing it would silently mix two
  experiments in one file); ``--new-output`` moves the old file aside and starts afresh;
* an error record made with other settings is run again (those settings failed; these may not);
* an error record of kind ``environment``/``internal`` is run again (its cause may be gone);
  ``input`` errors stay final unless ``retry_errors``;
* results written by an earlier vtg, which recorded no settings, are kept when their ``method``
  matches; the count is reported so the user knows (``legacy``).
"""

from __future__ import annotations

import functools
import json
import math
import typing
from dataclasses import dataclass, field
from typing import Any

from vtg.batch.inputs import BatchItem, qid_key
from vtg.batch.journal import MARKER, recorded_kind
from vtg.errors import UsageError
from vtg.options import coerce_value
from vtg.registry import method_class

#: Options that do not change a result: where and how fast it is computed, or which server runs
#: the same named LLM (the model itself is the ``llm`` option, which does count).
NEUTRAL_OPTIONS = frozenset({"device", "batch_size", "llm_url", "llm_timeout", "timeout", "num_threads"})


class SettingsMismatchError(UsageError):
    """The output holds results made with other settings than this run's."""


def settings_of(item: BatchItem, top_k: int | None) -> dict[str, Any]:
    """The JSON form of what produced ``item``'s record (canonical: typed as the method's config
    types them, so ``-O fps=2`` and ``--fps 2`` are the same setting; sorted; plain JSON)."""
    options = {k: _typed(item.method, k, v) for k, v in item.options.items() if k not in NEUTRAL_OPTIONS}
    plain = json.loads(json.dumps(_plain(options), sort_keys=True, default=str))
    return {"method": item.method, "options": plain, "top_k": top_k}


def _typed(method: str, key: str, value: Any) -> Any:
    """``value`` coerced as the method's ``Config`` field ``key`` would be; as given when the
    method, the field or the value is unknown or invalid (the run itself then says why)."""
    hint = _config_hints(method).get(key)
    if hint is None or not isinstance(value, str):
        return value

    try:
        return coerce_value(value, hint, key)
    except Exception:  # an invalid value is the line's error record, not the fingerprint's
        return value


@functools.lru_cache(maxsize=64)
def _config_hints(method: str) -> dict[str, Any]:
    try:
        return typing.get_type_hints(method_class(method).Config)
    except Exception:  # unknown method, a missing optional dependency: keep values as given
        return {}


def _plain(value: Any) -> Any:
    """JSON-safe: non-finite floats (a line's ``"fps": NaN``) become text, so the record that
    says the line is bad can still be written."""
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def describe(settings: dict[str, Any]) -> str:
    """``method=tfvtg encoder=ViT-B-32/openai fps=1 top_k=5`` (all, in a fixed order)."""
    opts = " ".join(f"{k}={v}" for k, v in sorted((settings.get("options") or {}).items()))
    top_k = settings.get("top_k")
    k = "" if "top_k" not in settings else f"top_k={'all' if top_k is None else top_k}"
    return " ".join(p for p in (f"method={settings.get('method')}", opts, k) if p) + \
        ("" if "options" in settings else " (other settings not recorded by that vtg)")


@dataclass
class ResumePlan:
    """What to do with the records already in the output."""

    #: qid keys whose records are removed and run again
    rerun: set[str] = field(default_factory=set)
    #: results of an earlier vtg version kept without recorded settings
    legacy: int = 0


def plan_resume(records: list[dict[str, Any]], items: list[BatchItem], settings: dict[str, dict[str, Any]], *,
                retry_errors: bool, output: Any) -> ResumePlan:
    """Decide, from the records in the output, what is reused and what runs again."""
    by_key = {item.key: item for item in items}
    plan = ResumePlan()
    for record in records:
        key = qid_key(record.get("qid"))
        if key not in by_key:
            continue  # a record of another input: left as it is
        wanted = settings[key]
        error = record.get("status") == "error"
        if MARKER not in record:  # an earlier vtg: no settings recorded
            if error:
                if retry_errors or recorded_kind(record) != "input":
                    plan.rerun.add(key)
            elif record.get("method") != wanted["method"]:
                raise mismatch(output, record, {"method": record.get("method")}, wanted)
            else:
                plan.legacy += 1
            continue
        had = record["settings"]
        if not error:
            if had != wanted:
                raise mismatch(output, record, had, wanted)
        elif had != wanted or retry_errors or recorded_kind(record) != "input":
            plan.rerun.add(key)
    return plan


def mismatch(output: Any, record: dict[str, Any], had: dict[str, Any], wanted: dict[str, Any]) -> SettingsMismatchError:
    return SettingsMismatchError(
        f"{output} holds results made with other settings (qid {record.get('qid')!r}: {describe(had)}) "
        f"than this run asks for ({describe(wanted)}); rerun with the same settings to resume, or pass "
        "--new-output to keep that file as NAME.~N~ and start a new one")


__all__ = ["NEUTRAL_OPTIONS", "ResumePlan", "SettingsMismatchError", "describe", "plan_resume", "settings_of"]
