"""Where a fleet's members run: a pool of threads in this process, or Dask workers (shared by every kind of fleet).

The compiled loops release the GIL, so threads run one member per core. On Dask the members are split into
contiguous chunks; each chunk's result comes back in order, so the results never depend on the runner.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Optional


def thread_count(threads: Optional[int] = None) -> int:
    """``threads``, or one per core."""
    return max(1, threads or os.cpu_count() or 1)


def thread_map(one: Callable[[int], None], n_items: int, threads: Optional[int] = None) -> None:
    """Call ``one(i)`` for every ``i < n_items`` on ``threads`` threads (default: one per core); a member's error is
    raised here."""
    with ThreadPoolExecutor(max_workers=thread_count(threads)) as pool:
        list(pool.map(one, range(n_items)))  # list(): re-raises a member's error here


def chunk_edges(n_items: int, n_chunks: int) -> list[tuple[int, int]]:
    """``n_chunks`` contiguous ``(start, stop)`` ranges covering ``0 .. n_items - 1``."""
    edges = [math.floor(i * n_items / n_chunks) for i in range(n_chunks + 1)]
    return list(zip(edges[:-1], edges[1:]))


def run_on_dask(
    run_chunk: Callable[[Any, Any, int], Any],
    shared: Any,
    chunk: Callable[[int, int], Any],
    n_items: int,
    scheduler: Optional[str] = None,
    workers: int = 2,
    chunks: Optional[int] = None,
) -> list:
    """Run ``run_chunk(shared, chunk(start, stop), threads)`` for contiguous chunks of ``n_items`` members on Dask.

    ``scheduler`` (``tcp://HOST:PORT``) or a LocalCluster of ``workers`` processes; ``chunks`` pieces (default: two
    per worker thread); ``shared`` is sent once to every worker. Returns the chunks' results in member order; the
    workers need socbal installed.
    """
    from dask.distributed import Client, LocalCluster

    if scheduler is not None:
        client = Client(scheduler)
        cluster = None
    else:
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None)
        client = Client(cluster)
    try:
        threads = max(1, sum(client.nthreads().values()))
        n_chunks = min(n_items, chunks or 2 * threads)
        per_worker = max(1, threads // max(1, len(client.nthreads())))
        shared_future = client.scatter([shared], broadcast=True)[0]
        pieces = chunk_edges(n_items, n_chunks)
        futures = [client.submit(run_chunk, shared_future, chunk(a, b), per_worker, pure=False) for a, b in pieces]
        return client.gather(futures)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
