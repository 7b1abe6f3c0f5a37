"""``run_batch``: read the input, skip what the output already holds, run the rest, summarise.

The runner owns the journal and the progress bar; engines (local, ray) only turn runnable items
into records and hand each to the runner's sink as soon as it is ready, so every engine writes
the same records with the same crash-safety.

Resume rules (:mod:`vtg.batch.settings`): a qid already in the output is skipped, so every input
line appears exactly once; a result made with other settings is an error naming both (unless
``new_output``, which moves the old file aside); error records of kind ``environment`` or
``internal``, or made with other settings, are removed from the output (atomically) and run
again; ``input`` errors are final unless ``retry_errors``. The output must be vtg's own journal
(:mod:`vtg.batch.journal`): anything else is refused before a byte changes.
"""

from __future__ import annotations

import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from vtg.batch.inputs import BatchItem, qid_key, read_items
from vtg.batch.journal import FORMAT, MARKER, Journal
from vtg.batch.local import run_local
from vtg.batch.ray_engine import run_ray
from vtg.batch.records import error_record
from vtg.batch.settings import plan_resume, settings_of
from vtg.errors import UnknownNameError, VtgError
from vtg.outputs import check_output
from vtg.session import Session, current_session
from vtg.settings import current_settings

ENGINES = ("local", "ray")


class BatchFailedError(VtgError):
    """Raised by the CLI after a batch that finished with error records (exit code 1)."""


@dataclass
class BatchSummary:
    """Counts for one run; ``failed`` counts error records of this input in the whole output."""

    lines: int = 0
    skipped: int = 0
    ok: int = 0
    errors: int = 0
    failed: int = 0
    seconds: float = 0.0
    #: error records of earlier runs removed and run again (environment errors, changed settings)
    rerun: int = 0
    #: results of an earlier vtg version kept, whose settings were not recorded
    legacy: int = 0
    #: where ``new_output`` moved the previous output
    previous: str | None = None

    @property
    def ran(self) -> int:
        return self.ok + self.errors

    @property
    def rate(self) -> float:
        return self.ran / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ran": self.ran, "queries_per_second": round(self.rate, 3)}

    def notes(self) -> list[str]:
        """What the user should know about the existing output (printed as ``vtg: note:``)."""
        out = []
        if self.previous:
            out.append(f"the previous output was kept as {self.previous}")
        if self.rerun:
            out.append(f"{self.rerun} error records from an earlier run are run again (caused by the environment, "
                       "made with other settings, or --retry-errors)")
        if self.legacy:
            out.append(f"{self.legacy} results were written by an earlier vtg that did not record its settings "
                       "(only their method is checked); --new-output starts afresh")
        return out

    def text(self) -> str:
        return (f"{self.lines} lines: {self.ok} done, {self.errors} failed, {self.skipped} already in the output; "
                f"{self.seconds:.1f} s" + (f" ({self.rate:.2f} queries/s)" if self.ran else "")  # no "0.00 queries/s"
                + (f"; {self.failed} error records in the output" if self.failed else ""))


def run_batch(input_path: str | Path, output: str | Path, *, engine: str = "local", method: str = "tfvtg",
              options: dict[str, Any] | None = None, video_dir: str | Path | None = None, workers: int = 1,
              top_k: int | None = None, retry_errors: bool = False, fsync: bool = True,
              progress: bool = False, ray_address: str | None = None, ray_num_cpus: int | None = None,
              ray_num_gpus: float | None = None, new_output: bool = False,
              session: Session | None = None) -> BatchSummary:
    """Ground every line of ``input_path`` into ``output`` (JSONL), resuming a previous run.

    Returns the summary; ``summary.failed > 0`` means some lines have error records.
    ``new_output`` moves an existing output aside (``NAME.~N~``) instead of resuming it.
    Every line runs in ``session`` (default: the current one; Ray workers get its settings).
    """
    session = session if session is not None else current_session()
    if engine not in ENGINES:
        raise UnknownNameError("engine", engine, ENGINES)
    check_output(output, inputs=[input_path], what="-o")  # before reading anything
    items = read_items(Path(input_path), method=method, options=options,
                       video_dir=Path(video_dir) if video_dir is not None else None)
    settings = {item.key: settings_of(item, top_k) for item in items}
    summary = BatchSummary(lines=len(items))
    start = time.perf_counter()
    with Journal(output, fsync=fsync, inputs=[input_path]).open(new_output=new_output, prepare=False) as journal:
        plan = plan_resume(journal.records, items, settings, retry_errors=retry_errors, output=output)
        journal.prepare(drop=lambda record: qid_key(record.get("qid")) in plan.rerun)
        summary.rerun, summary.legacy = len(plan.rerun), plan.legacy
        summary.previous = str(journal.moved_to) if journal.moved_to else None
        todo = [i for i in items if not journal.done(i.key)]
        summary.skipped = len(items) - len(todo)
        bar = progress_bar(len(todo), progress)
        sink = Recorder(journal, summary, bar, settings)
        try:
            for item in todo:
                if item.error is not None:
                    sink(error_record(item, item.error))
            runnable = [i for i in todo if i.error is None]
            with session.active():
                run_engine(engine, runnable, sink, workers=workers, top_k=top_k, ray_address=ray_address,
                           ray_num_cpus=ray_num_cpus, ray_num_gpus=ray_num_gpus)
        finally:
            bar.close()
            summary.seconds = time.perf_counter() - start
        summary.failed = sum(1 for i in items if journal.status.get(i.key) == "error")
    return summary


class Recorder:
    """The engines' sink: stamps each record as vtg's (marker, settings, error kind), appends it
    to the journal (once per qid) and counts it."""

    def __init__(self, journal: Journal, summary: BatchSummary, bar: Any,
                 settings: dict[str, dict[str, Any]] | None = None):
        self.journal, self.summary, self.bar = journal, summary, bar
        self.settings = settings or {}

    def stamp(self, record: dict[str, Any]) -> dict[str, Any]:
        """The marker first (a torn line is recognisable by its first bytes), then the record."""
        out = {MARKER: FORMAT, **{k: v for k, v in record.items() if k != MARKER}}
        out["settings"] = self.settings.get(qid_key(record.get("qid")), {})
        if out.get("status") == "error" and out.get("error_kind") not in ("input", "environment", "internal"):
            out["error_kind"] = "internal"
        return out

    def __call__(self, record: dict[str, Any]) -> None:
        if self.journal.done(qid_key(record.get("qid"))):  # a replayed task (Ray retries): never twice
            return
        try:
            self.journal.append(self.stamp(record))
            failed = record.get("status") == "error"
        except ValueError as exc:  # not JSON-serialisable (NaN in meta...): record why instead
            item = BatchItem(qid=record.get("qid"), line=record.get("line", 0))
            self.journal.append(self.stamp(error_record(item, exc)))
            failed = True
        if failed:
            self.summary.errors += 1
        else:
            self.summary.ok += 1
        self.bar.set_postfix_str(f"errors={self.summary.errors}", refresh=False)
        self.bar.update(1)


def run_engine(engine: str, items: list[BatchItem], sink: Any, *, workers: int, top_k: int | None,
               ray_address: str | None, ray_num_cpus: int | None, ray_num_gpus: float | None) -> None:
    if not items:
        return
    if engine == "ray":
        run_ray(items, sink, workers=workers, top_k=top_k, address=ray_address, num_cpus=ray_num_cpus,
                num_gpus=ray_num_gpus, settings=current_settings())
    else:
        run_local(items, sink, workers=workers, top_k=top_k)


def progress_bar(total: int, enabled: bool) -> Any:
    """tqdm on stderr: count, rate (queries/s) and ETA."""
    from tqdm import tqdm

    return tqdm(total=total, unit="q", desc="vtg batch", file=sys.stderr, disable=not enabled,
                dynamic_ncols=True, smoothing=0.1)
