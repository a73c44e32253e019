"""Independent single-threaded CPU streams for the forward pass.

On a CPU with ``torch.get_num_threads() > 1``, batches run as independent single-threaded
streams, one per thread, instead of one batch at a time split across threads: each matrix
multiply then stays in one core's cache and no core waits at a barrier for another (on a shared
or busy machine a barrier waits for the slowest, descheduled thread). Results do not depend on
the number of streams; ``torch.set_num_threads(1)`` gives one stream.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import torch


@contextmanager
def cpu_streams(device: torch.device, n_batches: int) -> Iterator[ThreadPoolExecutor | None]:
    """A pool of single-threaded workers, one per torch thread, on a CPU; else None."""
    threads = torch.get_num_threads()
    if device.type != "cpu" or threads < 2 or n_batches < 2:
        yield None
        return
    # set_num_threads in each worker sets that thread's OpenMP team size to one.
    pool = ThreadPoolExecutor(
        min(threads, n_batches), initializer=torch.set_num_threads, initargs=(1,)
    )
    try:
        yield pool
    finally:
        # After an error, batches not yet started are dropped instead of run to the end.
        pool.shutdown(wait=True, cancel_futures=True)
        torch.set_num_threads(threads)
