"""Scale-out throughput: the local engine vs Ray with 1 and 2 actors, same model and images.

    .venv/bin/python bench/scale.py [--images 128] [--size 128] [--arch resnet18] [--chunk 16] [--device cpu]

Two extractions are timed, each through :func:`matsight.scale.run_chunks` into a fresh chunk
folder: FastCAM saliency maps (``matsight saliency``) and salient stage features (the texture
workflow). ``wall`` is the whole call (Ray: actor start and model load included, ``ray.init`` not);
``steady`` is the rate once the workers run, from the chunk files' write times
(``(chunks - 1) * chunk / (last - first)``; with 2 actors both write at once, so it counts the pool).
The local engine runs with torch's default threads and with 1 thread, as each Ray actor does.
The estimates for 70k tiles and 1M images are ``startup + n / steady`` on this machine.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from matsight.models import build_model, save_checkpoint
from matsight.saliency.runner import SaliencyWorker
from matsight.scale import run_chunks
from matsight.store import ChunkStore
from matsight.textures.features import SalientWorker

# (engine, Ray actors or local torch threads); Ray actors run 1 torch thread each (OMP_NUM_THREADS=1)
ENGINES = (("local", 0), ("local", 1), ("ray", 1), ("ray", 2))


def make_job(root: Path, images: int, size: int, arch: str) -> tuple[str, list[str]]:
    """``images`` random grey PNG tiles of ``size`` px and a run folder with an untrained ``arch``."""
    rng = np.random.default_rng(0)
    paths = []
    for i in range(images):
        path = root / "images" / f"tile_{i:05d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (size, size), dtype=np.uint8)).save(path)
        paths.append(str(path))
    torch.manual_seed(0)
    save_checkpoint(
        root / "run" / "checkpoint.pt",
        build_model(arch, "regression", 1),
        {
            "arch": arch,
            "task": "regression",
            "num_outputs": 1,
            "target_names": ["cps"],
            "image_size": size,
            "crop_size": size,
            "channels": 1,
        },
    )
    return str(root / "run"), paths


def timed_run(factory, n: int, chunk: int, folder: Path, engine: str, workers: int, gpus: float) -> tuple[float, float]:
    """(wall seconds, steady images/s) of one extraction into the empty ``folder``; ``workers``:
    Ray actors, or for the local engine torch threads (0: torch's default); ``gpus`` per actor."""
    store = ChunkStore(folder)
    threads = torch.get_num_threads()
    if engine == "local" and workers:
        torch.set_num_threads(workers)
    start = time.perf_counter()
    run_chunks(n, chunk, store, factory, engine=engine, workers=workers if engine == "ray" else 1, gpus_per_worker=gpus)
    wall = time.perf_counter() - start
    torch.set_num_threads(threads)
    written = sorted(p.stat().st_mtime for p in folder.glob("chunk_*.npz"))
    steady = (len(written) - 1) * chunk / (written[-1] - written[0])
    return wall, steady


def hours(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=128)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--arch", default="resnet18")
    parser.add_argument("--chunk", type=int, default=16)
    parser.add_argument("--device", default="cpu", help="cpu or cuda (one GPU per Ray actor)")
    args = parser.parse_args()
    import ray

    with tempfile.TemporaryDirectory(prefix="matsight-bench-scale-") as tmp:
        root = Path(tmp)
        run_dir, paths = make_job(root, args.images, args.size, args.arch)
        common = dict(image_size=args.size, crop_size=args.size, channels=1, batch_size=args.chunk, device=args.device)
        gpus = 1.0 if args.device.startswith("cuda") else 0.0
        extractions = {
            "saliency maps (fastcam)": SaliencyWorker(run_dir, paths, method="fastcam", **common),
            "salient stage features": SalientWorker(run_dir, paths, **common),
        }
        start = time.perf_counter()
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
        ray_init = time.perf_counter() - start
        rows = []
        for name, factory in extractions.items():
            for engine, workers in ENGINES:
                label = (
                    f"ray, {workers} actor{'s' * (workers > 1)}"
                    if engine == "ray"
                    else f"local, {workers or torch.get_num_threads()} thread{'s' * (workers != 1)}"
                )
                folder = root / "chunks" / f"{name.split()[0]}-{engine}-{workers}"
                wall, steady = timed_run(factory, args.images, args.chunk, folder, engine, workers, gpus)
                startup = max(wall - args.images / steady, 0.0)
                rows.append(
                    f"| {name} | {label} | {wall:.1f} | {args.images / wall:.1f} | {steady:.1f} | {startup:.1f} "
                    f"| {hours(startup + 70_000 / steady)} | {hours(startup + 1_000_000 / steady)} |"
                )
        print(
            f"\n### {args.arch} on {args.device}, {args.size} px, {args.images} images in chunks of {args.chunk}; "
            f"{os.cpu_count()} CPU cores (load average {os.getloadavg()[0]:.1f}), Ray actors 1 CPU each; "
            f"ray.init {ray_init:.1f} s\n"
        )
        print(
            "| extraction | engine | wall s | images/s (wall) | images/s (steady) | startup s | 70k tiles | 1M images |"
        )
        print("|---|---|---:|---:|---:|---:|---:|---:|")
        print("\n".join(rows))
        ray.shutdown()


if __name__ == "__main__":
    main()
