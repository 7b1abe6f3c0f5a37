"""Batch grounding: many (video, query) lines into one resumable, crash-safe JSONL output.

``run_batch(input, output, engine="local"|"ray", ...)`` is the entry point (``vtg batch`` on the
command line). See docs/batch.md for the input forms, the output records and resume rules.
"""

from vtg.batch.inputs import BatchItem, read_items
from vtg.batch.journal import Journal
from vtg.batch.runner import ENGINES, BatchSummary, run_batch

__all__ = ["BatchItem", "BatchSummary", "ENGINES", "Journal", "read_items", "run_batch"]
