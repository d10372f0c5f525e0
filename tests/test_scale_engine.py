"""The Ray engine computes exactly what the local engine computes, and both resume."""

import numpy as np
import pytest
from PIL import Image

from matsight.errors import ConfigError
from matsight.models import build_model, save_checkpoint
from matsight.scale import pending_chunks, run_chunks
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


@pytest.fixture(scope="module")
def ray_instance():
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.mark.slow
def test_ray_engine_equals_local_and_resumes(job, tmp_path, ray_instance):
    _, factory = job
    local = run_chunks(10, 4, ChunkStore(tmp_path / "local"), factory)
    remote = ChunkStore(tmp_path / "ray")
    remote.write(2, **local.read(2))  # a finished chunk from an earlier, interrupted run
    mtime = (remote.path / "chunk_000002.npz").stat().st_mtime_ns
    run_chunks(10, 4, remote, factory, engine="ray", workers=2)
    assert (remote.path / "chunk_000002.npz").stat().st_mtime_ns == mtime
    np.testing.assert_allclose(remote.concat("output"), local.concat("output"), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(remote.concat("index"), np.arange(10))


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
def test_saliency_maps_on_ray_equal_the_local_engine(tmp_path, ray_instance):
    from test_training import make_lots

    from matsight.saliency.runner import explain_dataset

    data = make_lots(tmp_path / "lots", lots=2, tiles=3, size=36)
    model = build_model("resnet18", "regression", 1).eval()
    save_checkpoint(tmp_path / "run" / "checkpoint.pt", model,
                    {"arch": "resnet18", "task": "regression", "num_outputs": 1, "target_names": ["cps"],
                     "image_size": 36, "crop_size": 32, "channels": 1})
    local = explain_dataset(tmp_path / "run", data, tmp_path / "local", method="fastcam", batch_size=4)
    remote = explain_dataset(tmp_path / "run", data, tmp_path / "ray", method="fastcam", batch_size=4,
                             engine="ray", workers=2)
    np.testing.assert_allclose(remote.chunks("maps").concat("map").astype(np.float32),
                               local.chunks("maps").concat("map").astype(np.float32), atol=1e-3)
