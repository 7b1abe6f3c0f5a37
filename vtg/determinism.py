"""Model forward passes on the CPU at one fixed intra-op thread count, whatever torch was given.

Why: issue 17 found the same batch giving different records under the local and the Ray engine
(62 of 420 records, 4th-5th significant digit of scores): Ray starts its workers with
``OMP_NUM_THREADS=1``, the local engine runs one thread per core. Traced here to the models' small
final matmuls: a batch of 5-11 frames (the last, partial batch of a video) goes through MKL's
small-matrix GEMM, which splits the sum over the model width between threads, so ``pooled @ proj``
rounds differently with 1, 2 or 3 threads (ViT-B/32: up to 3.8e-6; 18 float16 cache values over
four 23-27-frame videos; every submodule before the projection agreed bit for bit, and full
batches of 16 agreed). Rounding in one place cannot fix that (a value near a rounding boundary
still flips), and MKL's strict CNR mode (``MKL_CBWR=AUTO,STRICT``) fixed ViT-B/32 but made the
tiny CLIPs differ at every batch size.

So every CPU forward of an encoder (image and text towers) and of UniVTG's network runs at
:data:`FORWARD_THREADS` intra-op threads in the calling thread. One thread, because it is the
only count that is the same everywhere without oversubscribing a Ray actor that holds one CPU.
With torch's OpenMP backend the count is per thread: concurrent forwards in other threads (the
local batch engine's ``--workers``, the indexing pipeline's stages, the server's requests) keep
running in parallel, each on its own core (``torch.set_num_threads`` also sets the count a
thread starting torch work for the first time inherits, so one started inside the window runs on
one thread: speed only). The cost is a single forward's intra-op parallelism:
see ``benchmarks/bench_determinism.py`` and docs/batch.md for the measured figures.
CUDA forwards are left alone (their reductions do not depend on CPU threads).
"""

from __future__ import annotations

import contextlib
from typing import Iterator

#: Intra-op threads of every CPU forward pass (see the module docstring for why one).
FORWARD_THREADS = 1


@contextlib.contextmanager
def fixed_threads(device: object) -> Iterator[None]:
    """Within the block, torch ops of this thread run on :data:`FORWARD_THREADS` threads when
    ``device`` is the CPU; the thread's previous count is restored afterwards."""
    from vtg.device import device_kind

    if device_kind(str(device)) != "cpu":
        yield
        return
    import torch

    saved = torch.get_num_threads()
    if saved == FORWARD_THREADS:
        yield
        return
    torch.set_num_threads(FORWARD_THREADS)
    try:
        yield
    finally:
        torch.set_num_threads(saved)
