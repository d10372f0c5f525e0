"""Batch engines: the same chunked, resumable extraction in-process or on a Ray cluster.

A batch extraction (saliency maps, stage features, predictions, fingerprints) is described by a
*worker factory*: a picklable callable that builds a worker once per process (loading the model
there), and the worker maps a chunk of item indices to named arrays::

    factory() -> worker;   worker(indices: int64 [n]) -> {"maps": float32 [n, H, W], ...}

:func:`run_chunks` splits ``range(n_items)`` into chunks of ``chunk_size``, skips chunks already in
the :class:`~matsight.store.ChunkStore` (so a rerun resumes), and computes the rest either in this
process (``engine="local"``) or with Ray Data (``engine="ray"``): ``map_batches`` over the pending
chunk ids with an actor pool, one actor per worker holding the model, ``num_gpus`` per actor when
GPUs are asked for. Actors write their chunks straight into the store (a shared file system on a
cluster), so the outputs are the same files whichever engine ran, and a killed worker loses at
most the chunk it was computing.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable

import numpy as np
from rich.progress import Progress

from matsight.errors import ConfigError
from matsight.store import ChunkStore

ENGINES = ("local", "ray")
Worker = Callable[[np.ndarray], dict[str, np.ndarray]]


def chunk_indices(n_items: int, chunk_size: int, chunk: int) -> np.ndarray:
    """Item indices of chunk number ``chunk`` (int64)."""
    return np.arange(chunk * chunk_size, min(n_items, (chunk + 1) * chunk_size), dtype=np.int64)


def pending_chunks(n_items: int, chunk_size: int, store: ChunkStore) -> list[int]:
    """Chunk numbers not yet written to ``store``."""
    n_chunks = -(-n_items // chunk_size)
    return [c for c in range(n_chunks) if not store.has(c)]


def _compute_chunk(worker: Worker, store: ChunkStore, n_items: int, chunk_size: int, chunk: int) -> None:
    indices = chunk_indices(n_items, chunk_size, chunk)
    store.write(chunk, index=indices, **worker(indices))


def run_chunks(n_items: int, chunk_size: int, store: ChunkStore, factory: Callable[[], Worker], *,
               engine: str = "local", address: str | None = None, workers: int = 1,
               gpus_per_worker: float = 0.0, description: str = "extracting") -> ChunkStore:
    """Compute every missing chunk of ``range(n_items)`` into ``store``; return the store.

    ``engine``: ``local`` (in-process) or ``ray``. ``address``: the Ray cluster to join
    (``auto`` for the one started by ``ray start``; ``None`` starts a local Ray instance).
    ``workers``: size of Ray's actor pool. ``gpus_per_worker``: GPUs reserved by each actor.
    """
    if engine not in ENGINES:
        raise ConfigError(f"--engine {engine!r} is not an engine: use {' or '.join(ENGINES)}")
    if chunk_size < 1:
        raise ConfigError(f"chunk size must be at least 1, got {chunk_size}")
    pending = pending_chunks(n_items, chunk_size, store)
    if not pending:
        return store
    if engine == "local":
        worker = factory()
        with Progress(transient=True) as progress:
            task = progress.add_task(description, total=len(pending))
            for chunk in pending:
                _compute_chunk(worker, store, n_items, chunk_size, chunk)
                progress.advance(task)
        return store
    for _ in _run_on_ray(pending, n_items, chunk_size, store, factory, address, workers, gpus_per_worker):
        pass
    return store


class _ChunkActor:
    """Ray actor: builds the worker once, then computes and stores the chunks it is handed."""

    def __init__(self, factory: Callable[[], Worker], store_path: str, n_items: int, chunk_size: int):
        self.worker = factory()
        self.store = ChunkStore(store_path)
        self.n_items, self.chunk_size = n_items, chunk_size

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        for chunk in batch["chunk"]:
            if not self.store.has(int(chunk)):
                _compute_chunk(self.worker, self.store, self.n_items, self.chunk_size, int(chunk))
        return {"chunk": np.asarray(batch["chunk"])}


def _run_on_ray(pending: list[int], n_items: int, chunk_size: int, store: ChunkStore,
                factory: Callable[[], Worker], address: str | None, workers: int,
                gpus_per_worker: float) -> Iterable[Any]:
    try:
        import ray
    except ImportError:
        raise ConfigError("--engine ray needs Ray: pip install 'ray[data]' (it is in requirements.lock)") from None
    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False, log_to_driver=False,
                 ignore_reinit_error=True, **({} if address else {"num_cpus": max(workers, 1)}))
    dataset = ray.data.from_items([{"chunk": c} for c in pending], override_num_blocks=len(pending))
    results = dataset.map_batches(
        _ChunkActor, fn_constructor_args=(factory, str(store.path), n_items, chunk_size),
        batch_size=1, concurrency=workers, num_cpus=1, num_gpus=gpus_per_worker or None)
    yield from results.iter_rows()
