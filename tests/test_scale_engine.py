"""The Ray engine computes exactly what the local engine computes, and both resume.

Local-engine behaviour first (chunks, resume, stale chunks, job keys), then every batch extraction
on one local Ray instance (``num_cpus=2``) shared by the module: saliency maps, ``matsight
predict`` outputs (1 and 2 actors, and resuming an interrupted run), texture salient features,
crystal fingerprints and the analytics embedding inputs equal the local engine's to 1e-5; a worker
process killed mid-chunk costs nothing. The engine code is the same for every extraction, so 1
vs 2 actors is checked once (predictions); each other extraction runs once, on 2 actors.
"""

import dataclasses

import numpy as np
import pytest
from PIL import Image
from test_training import make_lots

from matsight.errors import ConfigError
from matsight.models import build_model, save_checkpoint
from matsight.scale import Engine, pending_chunks, run_chunks
from matsight.scale.workers import ImageBatchWorker
from matsight.store import ChunkStore


@pytest.fixture(scope="module")
def job(tmp_path_factory):
    root = tmp_path_factory.mktemp("scale")
    rng = np.random.default_rng(0)
    paths = []
    for i in range(10):
        path = root / f"img_{i}.png"
        Image.fromarray(rng.integers(0, 255, (40, 40), dtype=np.uint8)).save(path)
        paths.append(str(path))
    model = build_model("resnet18", "regression", 1).eval()
    save_checkpoint(root / "run" / "checkpoint.pt", model, {"arch": "resnet18", "task": "regression", "num_outputs": 1})
    return root, ImageBatchWorker(str(root / "run"), paths, image_size=36, crop_size=32, batch_size=4)


def test_local_engine_writes_every_chunk_once(job, tmp_path):
    _, factory = job
    store = ChunkStore(tmp_path / "local")
    run_chunks(10, 4, store, factory)
    assert store.indices() == [0, 1, 2] and pending_chunks(10, 4, store) == []
    np.testing.assert_array_equal(store.concat("index"), np.arange(10))
    assert store.concat("output").shape == (10, 1)


def test_rerun_resumes_without_recomputing(job, tmp_path):
    _, factory = job
    store = ChunkStore(tmp_path / "resume")
    run_chunks(10, 4, store, factory)
    calls = []

    def counting_factory():
        worker = factory()
        return lambda idx: calls.append(idx) or worker(idx)

    (store.path / "chunk_000001.npz").unlink()  # as if the run died while computing chunk 1
    run_chunks(10, 4, store, counting_factory)
    assert [list(c) for c in calls] == [[4, 5, 6, 7]]


def test_unknown_engine_is_a_user_error(job, tmp_path):
    with pytest.raises(ConfigError, match="local or ray"):
        run_chunks(10, 4, ChunkStore(tmp_path), job[1], engine="spark")
    with pytest.raises(ConfigError, match="local or ray"):
        Engine("spark")
    with pytest.raises(ConfigError, match="--workers"):
        Engine("ray", workers=0)


def test_chunks_of_another_job_are_discarded(tmp_path):
    store = ChunkStore(tmp_path)

    def scaled(factor):
        return lambda: lambda indices: {"value": factor * indices}

    run_chunks(6, 3, store, scaled(1), key="a")
    run_chunks(6, 3, store, scaled(2), key="a")  # same job: resumes, nothing recomputed
    np.testing.assert_array_equal(store.concat("value"), np.arange(6))
    run_chunks(6, 3, store, scaled(2), key="b")  # another job: the old chunks are stale
    np.testing.assert_array_equal(store.concat("value"), 2 * np.arange(6))


def test_job_key_follows_model_and_images_not_device(job):
    _, factory = job
    key = factory.job_key()
    assert dataclasses.replace(factory, device="cuda").job_key() == key
    assert dataclasses.replace(factory, paths=factory.paths[::-1]).job_key() != key
    assert dataclasses.replace(factory, crop_size=28).job_key() != key
    model = build_model("resnet18", "regression", 1)
    assert dataclasses.replace(factory, model=model).job_key() == dataclasses.replace(factory, model=model).job_key()
    assert (
        dataclasses.replace(factory, model=model).job_key()
        != dataclasses.replace(factory, model=build_model("resnet18", "regression", 1)).job_key()
    )


@pytest.fixture(scope="module")
def ray_instance():
    ray = pytest.importorskip("ray")
    from matsight.scale.engine import start_local_ray

    start_local_ray(2)  # as `--engine ray` without --address does
    yield ray
    ray.shutdown()


def _listening_addresses(pids: set[int]) -> set[str]:
    """Local IP addresses on which the processes ``pids`` accept TCP connections (from /proc)."""
    import os
    import socket

    inodes = set()
    for pid in pids:
        try:
            links = [os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")]
        except OSError:
            continue
        inodes |= {link[8:-1] for link in links if link.startswith("socket:[")}
    found = set()
    for table, family in (("tcp", socket.AF_INET), ("tcp6", socket.AF_INET6)):
        for line in open(f"/proc/net/{table}").read().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                raw = bytes.fromhex(fields[1].split(":")[0])
                words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
                found.add(socket.inet_ntop(family, words))
    return found


def _descendants(pid: int) -> set[int]:
    import os

    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                parents[int(entry)] = int(open(f"/proc/{entry}/stat").read().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def test_local_ray_listens_on_loopback_only(ray_instance):
    import os

    ray_instance.get(ray_instance.remote(lambda: 1).remote())  # a worker process is up too
    addresses = _listening_addresses(_descendants(os.getpid()) | {os.getpid()})
    assert addresses, "found no listening Ray process"
    assert addresses <= {"127.0.0.1", "::ffff:127.0.0.1"}, addresses


TOLERANCE = {"rtol": 1e-5, "atol": 1e-5}
TWO_ACTORS = Engine("ray", workers=2)


@pytest.fixture(scope="module")
def regressor(tmp_path_factory):
    """A lots folder (2 lots x 5 tiles of 36 px) and a run folder with an untrained regressor."""
    root = tmp_path_factory.mktemp("extractions")
    data = make_lots(root / "lots", lots=2, tiles=5, size=36)
    meta = {
        "arch": "resnet18",
        "task": "regression",
        "num_outputs": 1,
        "target_names": ["cps"],
        "target_mean": [12.5],
        "target_std": [2.5],
        "image_size": 36,
        "crop_size": 32,
        "channels": 1,
    }
    save_checkpoint(root / "run" / "checkpoint.pt", build_model("resnet18", "regression", 1), meta)
    return data, root / "run"


class KillFirstAttempt:
    """Factory whose worker kills its own process the first time it meets chunk 1's items."""

    def __init__(self, factory, marker):
        self.factory, self.marker = factory, marker

    def __call__(self):
        import os
        from pathlib import Path

        worker = self.factory()

        def flaky(indices):
            if 4 in indices and not Path(self.marker).exists():
                Path(self.marker).touch()
                os._exit(1)  # the worker process dies mid-chunk
            return worker(indices)

        return flaky


@pytest.mark.slow
def test_ray_run_survives_a_killed_worker(job, tmp_path, ray_instance):
    import sys

    from ray import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    _, factory = job
    expected = run_chunks(10, 4, ChunkStore(tmp_path / "local"), factory).concat("output")
    store = ChunkStore(tmp_path / "ray")
    for _attempt in range(2):  # Ray restarts the actor; a rerun resumes if the job failed anyway
        try:
            run_chunks(10, 4, store, KillFirstAttempt(factory, str(tmp_path / "killed")), engine="ray", workers=1)
            break
        except Exception:
            continue
    assert (tmp_path / "killed").exists()
    np.testing.assert_allclose(store.concat("output"), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_saliency_maps_on_ray_equal_the_local_engine(regressor, ray_instance, tmp_path):
    from matsight.saliency import SaliencyConfig
    from matsight.saliency import run as explain

    data, run = regressor
    local = explain(SaliencyConfig(tmp_path / "local", run, data, method="fastcam", batch_size=4))
    remote = explain(
        SaliencyConfig(tmp_path / "ray", run, data, method="fastcam", batch_size=4, engine=Engine("ray", workers=2))
    )
    np.testing.assert_allclose(
        remote.chunks("maps").concat("map").astype(np.float32),
        local.chunks("maps").concat("map").astype(np.float32),
        atol=1e-3,
    )


@pytest.fixture(scope="module")
def local_predictions(regressor):
    from matsight.training import predict

    data, run = regressor
    return predict(run, data, batch_size=4)


@pytest.mark.slow
def test_predictions_on_one_ray_actor_equal_local(regressor, local_predictions, ray_instance, tmp_path):
    from matsight.training import predict

    data, run = regressor
    remote = predict(run, data, batch_size=4, engine=Engine("ray", workers=1), chunks=tmp_path / "chunks")
    assert list(remote["image"]) == list(local_predictions["image"])
    np.testing.assert_allclose(remote["predicted"], local_predictions["predicted"], **TOLERANCE)


@pytest.mark.slow
def test_interrupted_prediction_resumes_on_two_ray_actors(regressor, local_predictions, ray_instance, tmp_path):
    from matsight.training import predict

    data, run = regressor
    chunks = tmp_path / "chunks"
    predict(run, data, batch_size=4, chunks=chunks)
    for chunk in (1, 2):  # the local run was killed after its first chunk
        (chunks / f"chunk_{chunk:06d}.npz").unlink()
    first = (chunks / "chunk_000000.npz").stat().st_mtime_ns
    resumed = predict(run, data, batch_size=4, engine=TWO_ACTORS, chunks=chunks)
    assert (chunks / "chunk_000000.npz").stat().st_mtime_ns == first
    assert sorted(p.name for p in chunks.glob("chunk_*.npz")) == [f"chunk_00000{i}.npz" for i in range(3)]
    np.testing.assert_allclose(resumed["predicted"], local_predictions["predicted"], **TOLERANCE)


@pytest.mark.slow
def test_texture_features_on_ray_equal_local(regressor, ray_instance, tmp_path):
    from matsight.data import read_lots
    from matsight.models import load_model
    from matsight.store import RunFolder
    from matsight.textures.features import extract

    data, run = regressor
    model, _ = load_model(run)
    table = read_lots(data)
    local = extract(model, table, RunFolder(tmp_path / "local"), "lots", 32, batch_size=4)
    remote = extract(model, table, RunFolder(tmp_path / "ray"), "lots", 32, batch_size=4, engine=TWO_ACTORS)
    assert remote.grids == local.grids and set(remote.vectors) == set(local.vectors)
    for stage, vectors in local.vectors.items():
        np.testing.assert_allclose(remote.vectors[stage], vectors, **TOLERANCE)
    np.testing.assert_allclose(remote.location, local.location, **TOLERANCE)
    np.testing.assert_allclose(remote.predictions, local.predictions, **TOLERANCE)


@pytest.mark.slow
def test_fingerprints_on_ray_equal_local(ray_instance, tmp_path):
    from matsight.crystals.train import FINGERPRINTS, build

    local = np.load(build(tmp_path / "local", n=9, seed=3) / FINGERPRINTS)
    remote = np.load(build(tmp_path / "ray", n=9, seed=3, engine=TWO_ACTORS) / FINGERPRINTS)
    assert local.shape == (9, 3, 64, 64) and local.max() > 0
    np.testing.assert_allclose(remote, local, **TOLERANCE)


@pytest.mark.slow
def test_analytics_inputs_on_ray_equal_local(ray_instance, tmp_path):
    from matsight.analytics import Analytics, AnalyticsConfig
    from matsight.analytics import run as run_analytics
    from matsight.store import RunFolder
    from matsight.synth.xray import TAGS, generate_xray

    data = generate_xray(tmp_path / "data", n=10, size=32, seed=1)
    run = RunFolder(tmp_path / "run")
    run.start("train", {"data": str(data)}, inputs={"data": data})
    meta = {
        "arch": "resnet18",
        "task": "multilabel",
        "num_outputs": len(TAGS),
        "target_names": TAGS,
        "class_names": [],
        "image_size": 32,
        "crop_size": 32,
        "channels": 1,
    }
    save_checkpoint(run.path / "checkpoint.pt", build_model("resnet18", "multilabel", len(TAGS)), meta)
    config = AnalyticsConfig(out=tmp_path / "local", run=run.path, perplexity=2, batch_size=4)
    local = Analytics.read(run_analytics(config).path)
    remote = Analytics.read(run_analytics(dataclasses.replace(config, out=tmp_path / "ray", engine=TWO_ACTORS)).path)
    for key in ("features", "output"):
        expected = ChunkStore(local.out_dir / "arrays" / "inputs").concat(key)
        np.testing.assert_allclose(ChunkStore(remote.out_dir / "arrays" / "inputs").concat(key), expected, **TOLERANCE)
    probabilities = [f"prob__{t}" for t in TAGS]
    np.testing.assert_allclose(remote.points[probabilities], local.points[probabilities], **TOLERANCE)
