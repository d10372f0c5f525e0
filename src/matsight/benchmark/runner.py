"""``run(config) -> RunFolder``: every task × seed × method, scored, aggregated and reported.

Work is resumable per (task, seed): each finished unit writes ``parts/<task>-seed<k>-<key>.csv``
(the key hashes the settings and the methods, so a changed command does not reuse stale parts),
pools and trained models live in the cache folder (keyed by content).
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from matsight.benchmark import metrics, recovery
from matsight.benchmark.config import BenchmarkConfig, Preset
from matsight.benchmark.methods import Method, all_methods
from matsight.benchmark.tasks import TASKS, Instances, Pool, Task
from matsight.benchmark.training import train_model
from matsight.errors import UserError
from matsight.progress import PLAIN_ENV, is_quiet, note, progress, quiet
from matsight.store import RunFolder
from matsight.store.atomic import atomic_path
from matsight.store.claim import claim_folder
from matsight.workflow import execute

POOL_VERSION = 3
"""Bump when a generator or a task's pool changes (2: crystals from matsight.crystals.library; 3: crystal
fingerprint amplitudes by the rank of Z)."""


def _digest(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:12]


def load_pool(task: Task, settings: Preset, seed: int, cache: Path) -> Pool:
    """The task's pool from the cache, or drawn (and cached) when missing."""
    spec = {
        "task": task.name,
        "spec": getattr(task, "coefficients", None),
        "image_size": settings.image_size,
        "pool": settings.pool,
        "per_class": settings.crystals_per_class,
        "seed": seed,
        "version": POOL_VERSION,
    }
    path = cache / f"pool-{task.name}-{_digest(spec)}.npz"
    if path.exists():
        try:
            with np.load(path) as data:  # allow_pickle stays False: arrays only
                return Pool(data["x"], data["y"], data["masks"], data["outputs"].tolist())
        except Exception as exc:  # a damaged cache entry: draw it again and replace it
            note(f"{path.name} in the cache is unreadable ({type(exc).__name__}): drawing the pool again")
    start = time.perf_counter()
    pool = task.draw(settings, seed)
    with atomic_path(path) as tmp, tmp.open("wb") as handle:
        np.savez(handle, **pool.arrays(), outputs=np.array(pool.outputs))
    note(f"{task.name}: pool of {len(pool.x)} images drawn in {time.perf_counter() - start:.0f} s")
    return pool


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _forward_seconds(model, groups, device: torch.device, repeats: int = 3) -> float:
    total = 0.0
    with torch.no_grad():
        for x in groups:
            times = []
            for _ in range(repeats):
                _sync(device)
                start = time.perf_counter()
                model(x)
                _sync(device)
                times.append(time.perf_counter() - start)
            total += float(np.median(times))
    return total


def score_method(
    method: Method, model, instances: Instances, kind: str, settings: Preset, seed: int, device: torch.device
) -> tuple[dict[str, np.ndarray], float]:
    """Per-instance values of every metric (``name -> float64 [n]``) and the method's seconds."""
    values: dict[str, list[np.ndarray]] = {}
    seconds = 0.0
    for target, index in instances.groups():
        x, masks = instances.x[index].to(device), instances.masks[index]
        _sync(device)
        start = time.perf_counter()
        maps = method.explain(model, x, target, 1).detach().float()
        _sync(device)
        seconds += time.perf_counter() - start
        maps = maps.to(device)
        scores = metrics.localisation(maps, masks)
        scores["insertion_minus_deletion"] = metrics.insertion_minus_deletion(model, x, maps, target, 1, settings.steps)
        scores["faithfulness_correlation"] = metrics.faithfulness_correlation(
            model, x, maps, target, 1, settings.fc_runs, settings.fc_subset, seed
        )
        scores["road"] = metrics.road(model, x, maps, target, 1, kind, settings.road_percentages)
        scores["randomisation"] = metrics.randomisation(method.explain, model, x, target, 1)
        for name, array in scores.items():
            values.setdefault(name, []).append(np.asarray(array, np.float64))
    return {name: np.concatenate(parts) for name, parts in values.items()}, seconds


def score_unit(
    task: Task, pool: Pool, seed: int, methods: list[Method], config: BenchmarkConfig
) -> tuple[pd.DataFrame, dict]:
    """Train (or reuse) the seed's model, explain its held-out instances with every method; rows
    ``task, seed, method, library, metric, value, n`` and the model's info."""
    settings, device = config.settings, torch.device(config.device)
    rng = np.random.default_rng([config.seed, seed])
    train, held_out = task.split(pool, settings, rng)
    model, info = train_model(task, pool, train, held_out, settings, seed, config.cache_dir, config.device)
    quality = ", ".join(f"{k} {v:.2f}" for k, v in info.items() if k in ("r2", "accuracy", "mAP"))
    how = "reused from the cache" if info["cached"] else f"trained in {info['seconds']:.0f} s"
    note(f"{task.name} seed {seed}: model {how} ({len(train)} images), held-out {quality}")
    instances = task.instances(pool, held_out, settings, rng)
    groups = [instances.x[index].to(device) for _, index in instances.groups()]
    forward = _forward_seconds(model, groups, device)
    rows = []
    with progress(len(methods), f"{task.name} seed {seed}: scoring methods") as bar:
        for method in methods:
            try:
                values, seconds = score_method(method, model, instances, task.kind, settings, seed, device)
            except Exception as exc:  # a peer library failing on a model is a result, not a crash
                note(f"{task.name} seed {seed}: {method.key} FAILED: {type(exc).__name__}: {exc}")
                rows.append({"method": method.name, "library": method.library, "metric": "failed", "value": np.nan})
                bar.advance(info=method.key)
                continue
            values["cost"] = np.array([seconds / forward])
            for metric, array in values.items():
                value = float(np.nanmean(array)) if np.isfinite(array).any() else np.nan
                rows.append({"method": method.name, "library": method.library, "metric": metric, "value": value})
            bar.advance(info=method.key)
    table = pd.DataFrame(rows)
    table.insert(0, "seed", seed)
    table.insert(0, "task", task.name)
    table["n"] = len(instances.targets)
    return table, {"task": task.name, "seed": seed, **info}


@contextmanager
def intra_op_threads(threads: int) -> Iterator[None]:
    """torch's intra-op CPU threads set to ``threads`` inside the block (``0``: unchanged), restored after."""
    before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def run(config: BenchmarkConfig) -> RunFolder:
    """Run the benchmark into ``config.out`` (resumable); see :mod:`matsight.benchmark`."""
    from matsight.benchmark.report import write_outputs

    methods = all_methods(config.methods)
    unit_key = _digest({"settings": config.settings.__dict__, "methods": [m.key for m in methods], "seed": config.seed})

    def body(folder: RunFolder) -> RunFolder:
        if config.cache is not None:  # shared between runs, but like any output never a user's folder or data
            claim_folder(config.cache, CACHE_COMMAND, option="--cache")
        units = [(name, seed) for name in config.tasks for seed in range(config.seeds)]
        parts = {unit: folder.path / "parts" / f"{unit[0]}-seed{unit[1]}-{unit_key}.csv" for unit in units}
        infos = {unit: part.with_suffix(".json") for unit, part in parts.items()}
        pending = []
        for unit, part in parts.items():
            if part.exists() and infos[unit].exists():
                note(f"{unit[0]} seed {unit[1]}: already scored ({part.name})")
            else:
                pending.append(unit)
        with intra_op_threads(config.settings.threads):
            for unit, (table, info) in score_units(pending, config, methods):
                with atomic_path(parts[unit]) as tmp:
                    table.to_csv(tmp, index=False)
                folder.write_json(str(infos[unit].relative_to(folder.path)), info)
        scores = pd.concat([pd.read_csv(parts[unit]) for unit in units], ignore_index=True)
        models = pd.DataFrame([json.loads(infos[unit].read_text()) for unit in units])
        recovered = run_recovery(folder, config) if config.runs_recovery else None
        if recovered is not None:
            scores = pd.concat([scores, recovered.scores], ignore_index=True)
        for line in write_outputs(folder, config, scores, models, recovered):
            note(line)
        return folder

    return execute(config, body)


def run_recovery(folder: RunFolder, config: BenchmarkConfig) -> recovery.RecoveryOutcome:
    """Every seed's CPS concept and knob recovery (:mod:`matsight.benchmark.recovery`), its runs under
    the cache folder (keyed by the recovery's sizes and ``--seed``), each finished seed's tables kept in
    ``parts/``; the seeds' outcomes stacked. Runs in this process with torch's default threads (ResNet-18
    fine-tunes, the texture probe and the editor use every core)."""
    preset = recovery.resolve(config.settings.recovery)
    key = _digest(recovery.identity(preset, config.seed))
    root = config.cache_dir / f"recovery-{key}"
    outcomes = []
    for seed in range(config.seeds):
        paths = {name: folder.path / "parts" / f"recovery-seed{seed}-{key}-{name}.csv" for name in recovery.PARTS}
        if all(path.exists() for path in paths.values()):
            note(f"cps recovery seed {seed}: already done ({paths['scores'].name})")
            outcomes.append(recovery.RecoveryOutcome(*(pd.read_csv(paths[name]) for name in recovery.PARTS)))
            continue
        note(f"cps recovery seed {seed}: planted and flipped formula (lots, regressors, texture probe, knobs)")
        outcome = recovery.recover(root, preset, seed, config.device, config.seed)
        for name in recovery.PARTS:
            with atomic_path(paths[name]) as tmp:
                getattr(outcome, name).to_csv(tmp, index=False)
        outcomes.append(outcome)
    return recovery.RecoveryOutcome(
        *(pd.concat([getattr(o, name) for o in outcomes], ignore_index=True) for name in recovery.PARTS)
    )


CACHE_COMMAND = "benchmark cache"
"""What a ``--cache`` folder's marker says wrote it (runs sharing it resume it)."""

Unit = tuple[str, int]
"""A task name and a seed: one trained model, explained by every method."""


def score_units(
    units: list[Unit], config: BenchmarkConfig, methods: list[Method]
) -> Iterator[tuple[Unit, tuple[pd.DataFrame, dict]]]:
    """Score ``units`` with ``methods`` and yield each one's :func:`score_unit` result as it finishes: in
    this process (each task's pool read once), or, when there are several units, in
    ``config.worker_count`` spawned processes (each with its share of the CPU threads, progress as
    plain lines) that read the pools drawn and cached here first."""
    seeds: dict[str, list[int]] = {}
    for name, seed in units:
        seeds.setdefault(name, []).append(seed)
    workers = min(config.worker_count, len(units))
    if workers <= 1:
        for name, task_seeds in seeds.items():
            task = TASKS[name]
            pool = load_pool(task, config.settings, config.seed, config.cache_dir)
            for seed in task_seeds:
                yield (name, seed), score_unit(task, pool, seed, methods, config)
        return
    for name in seeds:
        load_pool(TASKS[name], config.settings, config.seed, config.cache_dir)
    threads = config.settings.threads or max(1, torch.get_num_threads() // workers)
    note(f"benchmark: {len(units)} units (task × seed) on {workers} worker processes, {threads} thread(s) each")
    context = multiprocessing.get_context("spawn")  # fork would copy torch's thread pools and locks
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_plain_progress) as pool:
        futures = {pool.submit(_score_unit_job, unit, config, threads, is_quiet()): unit for unit in units}
        try:
            for future in as_completed(futures):
                yield futures[future], future.result()
        except BrokenProcessPool as exc:
            pool.shutdown(cancel_futures=True)
            raise UserError(
                "a benchmark worker process ended abruptly. From a Python script, call matsight.benchmark.run under "
                '`if __name__ == "__main__":` (worker processes import the script again); otherwise a worker was '
                "killed (out of memory?): rerun with --workers 1 (finished units are kept)"
            ) from exc
        except BaseException:
            pool.shutdown(cancel_futures=True)
            raise


def _plain_progress() -> None:
    """Worker initialiser: workers share the parent's terminal, so they write plain lines, never a bar."""
    os.environ[PLAIN_ENV] = "1"


def _score_unit_job(unit: Unit, config: BenchmarkConfig, threads: int, silent: bool) -> tuple[pd.DataFrame, dict]:
    """:func:`score_unit` of one (task, seed) in a worker process, its pool read from the cache."""
    name, seed = unit
    task = TASKS[name]
    with quiet(silent), intra_op_threads(threads):
        pool = load_pool(task, config.settings, config.seed, config.cache_dir)
        return score_unit(task, pool, seed, all_methods(config.methods), config)
