"""Bench: class-averaged L2 distances, blockwise (matsight.textures.distances) vs naive full cdist.

Random float32 features: N tiles in L lots × M bank images in T classes × D dims (default the
issue's 20,000 × 5,000 × 2,048 with 100 lots and 47 classes). Each method runs in its own child
process so peak memory is measured separately: CPU → peak RSS above the baseline after the inputs
exist (``ru_maxrss``); CUDA → ``torch.cuda.max_memory_allocated`` above the inputs. The naive path
(``torch.cdist`` → full ``[N, M]`` matrix → averages) runs at ``--naive-rows`` rows when given and
is extrapolated linearly in N (its time and its extra memory are both ∝ N); the result is checked
against the blockwise one on the rows both computed.

    python bench/texture_distances.py [--n 20000 --m 5000 --d 2048] [--device cpu|cuda] [--naive-rows 5000]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import resource
import time

import numpy as np
import torch


def _inputs(n: int, m: int, d: int, lots: int, classes: int, device: str):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, d, generator=g).to(device)
    y = torch.randn(m, d, generator=g).to(device)
    return x, y, np.arange(n) % lots, np.arange(m) % classes


def _peak_bytes(device: str) -> int:
    if device.startswith("cuda"):
        return torch.cuda.max_memory_allocated()
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB


def _child(method: str, n: int, m: int, d: int, lots: int, classes: int, device: str, block: int, threads: int, queue):
    from matsight.textures.correlation import class_average
    from matsight.textures.distances import grouped_mean_distances

    torch.set_num_threads(threads)
    x, y, row_g, col_g = _inputs(n, m, d, lots, classes, device)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    base = _peak_bytes(device)
    start = time.perf_counter()
    if method == "blockwise":
        out = grouped_mean_distances(x, y, row_g, col_g, block=block, device=device)
    else:
        full = torch.cdist(x, y).double().cpu().numpy()  # [N, M] in memory at once
        out = class_average(class_average(full, row_g, lots, axis=0), col_g, classes, axis=1)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    queue.put(
        {
            "method": method,
            "n": n,
            "seconds": seconds,
            "extra_bytes": _peak_bytes(device) - base,
            "result": out.tolist(),
        }
    )


def run(method: str, **kw) -> dict:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(method,), kwargs={**kw, "queue": queue})
    proc.start()
    result = queue.get()
    proc.join()
    return result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=20000)
    p.add_argument("--m", type=int, default=5000)
    p.add_argument("--d", type=int, default=2048)
    p.add_argument("--lots", type=int, default=100)
    p.add_argument("--classes", type=int, default=47)
    p.add_argument("--block", type=int, default=4096)
    p.add_argument("--naive-rows", type=int, default=None, help="run cdist on this many rows and extrapolate")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args()
    common = dict(m=a.m, d=a.d, lots=a.lots, classes=a.classes, device=a.device, block=a.block, threads=a.threads)
    blockwise = run("blockwise", n=a.n, **common)
    naive_n = a.naive_rows or a.n
    naive = run("naive", n=naive_n, **common)
    scale = a.n / naive_n
    # check: with n % lots == 0 and rows grouped i % lots, the first naive_n rows hold whole lots only
    # when naive_n == n; otherwise compare a recomputed blockwise result at naive_n rows.
    reference = blockwise if naive_n == a.n else run("blockwise", n=naive_n, **common)
    err = float(np.abs(np.array(reference["result"]) - np.array(naive["result"])).max())
    rows = [
        ("blockwise", a.n, blockwise["seconds"], blockwise["extra_bytes"], "measured"),
        (
            "naive cdist",
            a.n,
            naive["seconds"] * scale,
            naive["extra_bytes"] * scale,
            "measured" if scale == 1 else f"extrapolated ×{scale:g} from N={naive_n}",
        ),
    ]
    print(
        f"N={a.n} M={a.m} D={a.d} lots={a.lots} classes={a.classes} block={a.block} device={a.device} "
        f"threads={a.threads}; max |blockwise - naive| = {err:.2e}"
    )
    print(f"{'method':12s} {'N':>7s} {'seconds':>9s} {'extra peak MiB':>15s}  note")
    for name, n, s, b, note in rows:
        print(f"{name:12s} {n:7d} {s:9.2f} {b / 2**20:15.0f}  {note}")
    print(
        json.dumps(
            {
                "blockwise": {k: v for k, v in blockwise.items() if k != "result"},
                "naive": {k: v for k, v in naive.items() if k != "result"},
                "max_abs_diff": err,
            }
        )
    )


if __name__ == "__main__":
    main()
