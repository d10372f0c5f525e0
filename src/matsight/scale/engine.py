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
most the chunk it was computing. A ``job.json`` in the store names the job (model, items,
settings): chunks of another job are discarded rather than resumed. :class:`Engine` carries the
CLI's ``--engine/--address/--workers`` to the extraction entry points.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from matsight.errors import ConfigError
from matsight.progress import progress
from matsight.store import ChunkStore
from matsight.store.atomic import atomic_write_json, remove_stale_temporaries

ENGINES = ("local", "ray")
_SINGLE_NODE_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"
JOB_FILE = "job.json"
Worker = Callable[[np.ndarray], dict[str, np.ndarray]]


@dataclass(frozen=True)
class Engine:
    """Where a batch extraction runs: the CLI's ``--engine``, ``--address`` and ``--workers``.

    ``name``: ``local`` (in this process) or ``ray``; ``address``: the Ray cluster to join
    (``auto`` for the one ``ray start`` runs; ``None`` starts a local Ray instance with
    ``workers`` CPUs); ``workers``: Ray actors, each holding one copy of the model.
    """

    name: str = "local"
    address: str | None = None
    workers: int = 1

    def __post_init__(self):
        if self.name not in ENGINES:
            raise ConfigError(f"--engine {self.name!r} is not an engine: use {' or '.join(ENGINES)}")
        if self.workers < 1:
            raise ConfigError(f"--workers must be at least 1, got {self.workers}")

    def run(
        self,
        n_items: int,
        chunk_size: int,
        store: ChunkStore,
        factory: Callable[[], Worker],
        device: str = "cpu",
        description: str = "extracting",
    ) -> ChunkStore:
        """:func:`run_chunks` on this engine; one GPU per Ray actor when ``device`` is CUDA.

        A factory with a ``job_key()`` method (the image workers) ties ``store`` to that job:
        chunks left by a different job (other images, model or settings) are discarded.
        """
        key = factory.job_key() if hasattr(factory, "job_key") else None
        return run_chunks(
            n_items,
            chunk_size,
            store,
            factory,
            engine=self.name,
            address=self.address,
            workers=self.workers,
            gpus_per_worker=1.0 if str(device).startswith("cuda") else 0.0,
            description=description,
            key=key,
        )


LOCAL = Engine()


@contextmanager
def chunk_store(path: str | Path | None) -> Iterator[ChunkStore]:
    """The :class:`ChunkStore` at ``path`` (kept, so a rerun resumes), or a temporary one removed
    on exit when ``path`` is None (on a multi-node Ray cluster give a folder every node sees)."""
    if path is not None:
        yield ChunkStore(path)
        return
    folder = tempfile.mkdtemp(prefix="matsight-chunks-")
    try:
        yield ChunkStore(folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def chunk_indices(n_items: int, chunk_size: int, chunk: int) -> np.ndarray:
    """Item indices of chunk number ``chunk`` (int64)."""
    return np.arange(chunk * chunk_size, min(n_items, (chunk + 1) * chunk_size), dtype=np.int64)


def pending_chunks(n_items: int, chunk_size: int, store: ChunkStore) -> list[int]:
    """Chunk numbers not yet written to ``store``."""
    n_chunks = -(-n_items // chunk_size)
    return [c for c in range(n_chunks) if not store.has(c)]


def claim(store: ChunkStore, key: str, n_items: int, chunk_size: int) -> None:
    """Tie ``store`` to one job: unless its ``job.json`` names this job (``key``, item count and
    chunk size), its chunks are stale (another job's, or of no known job) and are deleted; then
    ``job.json`` names this job. Temporary files of interrupted chunk writes are removed."""
    job = {"key": key, "n_items": n_items, "chunk_size": chunk_size}
    path = store.path / JOB_FILE
    remove_stale_temporaries(store.path)
    if _read_job(path) == job:
        return
    for chunk in store.path.glob("chunk_*.npz"):
        chunk.unlink()
    atomic_write_json(path, job)


def _read_job(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _compute_chunk(worker: Worker, store: ChunkStore, n_items: int, chunk_size: int, chunk: int) -> None:
    indices = chunk_indices(n_items, chunk_size, chunk)
    store.write(chunk, index=indices, **worker(indices))


def run_chunks(
    n_items: int,
    chunk_size: int,
    store: ChunkStore,
    factory: Callable[[], Worker],
    *,
    engine: str = "local",
    address: str | None = None,
    workers: int = 1,
    gpus_per_worker: float = 0.0,
    description: str = "extracting",
    key: str | None = None,
) -> ChunkStore:
    """Compute every missing chunk of ``range(n_items)`` into ``store``; return the store.

    ``engine``: ``local`` (in-process) or ``ray``. ``address``: the Ray cluster to join
    (``auto`` for the one started by ``ray start``; ``None`` starts a local Ray instance).
    ``workers``: size of Ray's actor pool. ``gpus_per_worker``: GPUs reserved by each actor.
    ``key``: identifies the job (see :func:`claim`); ``None`` trusts any chunks already there.
    """
    if engine not in ENGINES:
        raise ConfigError(f"--engine {engine!r} is not an engine: use {' or '.join(ENGINES)}")
    if chunk_size < 1:
        raise ConfigError(f"chunk size must be at least 1, got {chunk_size}")
    if key is not None:
        claim(store, key, n_items, chunk_size)
    pending = pending_chunks(n_items, chunk_size, store)
    if not pending:
        return store
    total = -(-n_items // chunk_size)
    with progress(total, f"{description} (chunks of {chunk_size})", completed=total - len(pending)) as bar:
        if engine == "local":
            worker = factory()
            for chunk in pending:
                _compute_chunk(worker, store, n_items, chunk_size, chunk)
                bar.advance()
        else:
            for _ in _run_on_ray(pending, n_items, chunk_size, store, factory, address, workers, gpus_per_worker):
                bar.advance()
    return store


def start_local_ray(num_cpus: int) -> None:
    """Start a fresh local Ray instance (even where a cluster runs) that listens on 127.0.0.1 only,
    without the dashboard.

    Ray 2.60 binds its servers (GCS, raylet, workers) to every interface unless the node's IP is
    the loopback address, and it replaces a requested ``_node_ip_address="127.0.0.1"`` by the
    machine's reachable address unless it treats the machine as a single-node install
    (``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``, read into ``ray_constants.ENABLE_RAY_CLUSTER``).
    Both are set while Ray starts (the processes it spawns inherit the setting) and restored after,
    so joining a real cluster later in this process is unaffected.
    """
    import ray
    from ray._private import ray_constants

    saved = os.environ.get(_SINGLE_NODE_ENV), ray_constants.ENABLE_RAY_CLUSTER
    os.environ[_SINGLE_NODE_ENV], ray_constants.ENABLE_RAY_CLUSTER = "0", False
    try:
        ray.init(
            address="local",
            num_cpus=num_cpus,
            include_dashboard=False,
            log_to_driver=False,
            _node_ip_address="127.0.0.1",
        )
    finally:
        if saved[0] is None:
            os.environ.pop(_SINGLE_NODE_ENV, None)
        else:
            os.environ[_SINGLE_NODE_ENV] = saved[0]
        ray_constants.ENABLE_RAY_CLUSTER = saved[1]


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


def _run_on_ray(
    pending: list[int],
    n_items: int,
    chunk_size: int,
    store: ChunkStore,
    factory: Callable[[], Worker],
    address: str | None,
    workers: int,
    gpus_per_worker: float,
) -> Iterable[Any]:
    try:
        import ray
    except ImportError:
        raise ConfigError("--engine ray needs Ray: pip install 'ray[data]' (it is in requirements.lock)") from None
    if not ray.is_initialized() and not address:
        start_local_ray(workers)
    elif not ray.is_initialized():
        try:
            ray.init(address=address, include_dashboard=False, log_to_driver=False)
        except (ConnectionError, ValueError) as exc:
            raise ConfigError(
                f"--address {address}: cannot join that Ray cluster ({exc}); "
                "start one with `ray start --head` or omit --address"
            ) from None
    dataset = ray.data.from_items([{"chunk": c} for c in pending], override_num_blocks=len(pending))
    results = dataset.map_batches(
        _ChunkActor,
        fn_constructor_args=(factory, str(store.path), n_items, chunk_size),
        batch_size=1,
        compute=ray.data.ActorPoolStrategy(size=workers),
        num_cpus=1,
        num_gpus=gpus_per_worker or None,
    )
    yield from results.iter_rows()
