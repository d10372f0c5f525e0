"""Fingerprint throughput: structures per second, the fused CPU kernel against the phase-matrix kernel.

Usage: ``python bench/fingerprint.py [--n 32] [--threads 2]``. Rows: the default CPU path (cluster
extraction + fused numba kernel), the previous implementation's torch phase-matrix kernel on the
same clusters (``intensity_torch`` on CPU, float32), and batched torch on CUDA when present. Each
row gives wall-clock structures/s, CPU seconds per structure (on a shared machine the wall clock
depends on the load, CPU time much less so), the speed-up over the phase-matrix row and the largest
difference of the fingerprints from a float64 reference (the same torch kernel in float64).
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch

from matsight.crystals.fingerprint import FingerprintTransformer, windowed_cluster
from matsight.crystals.intensity import intensity_torch
from matsight.crystals.library import library_set


class PhaseMatrixTransformer(FingerprintTransformer):
    """The previous CPU implementation: one float32 phase matrix + cos/sin per batch (torch)."""

    def __init__(self, dtype: torch.dtype = torch.float32, **kwargs):
        super().__init__(**kwargs)
        self.dtype = dtype

    def intensities(self, clusters):
        n = max(len(p) for p, _ in clusters)
        pos = torch.zeros(len(clusters), 3, n, dtype=self.dtype)
        weight = torch.zeros(len(clusters), n, dtype=self.dtype)
        for i, (p, w) in enumerate(clusters):
            pos[i, :, : len(p)] = torch.from_numpy(p.T)
            weight[i, : len(p)] = torch.from_numpy(w)
        patterns = intensity_torch(pos, weight, self._q.to(self.dtype)).numpy()
        return (patterns * self._f2).reshape(len(clusters), 3, 2, -1).sum(axis=2)


def timed(transformer: FingerprintTransformer, structures) -> tuple[torch.Tensor, float, float]:
    """``(fingerprints, structures/s wall, CPU s per structure)`` after a warm-up batch."""
    transformer.transform(structures[: transformer.batch_size])  # warm-up (numba: compile or cache load)
    cuda = transformer.device.type == "cuda"
    if cuda:
        torch.cuda.synchronize()
    start, cpu = time.perf_counter(), time.process_time()
    out = transformer.transform(structures)
    if cuda:
        torch.cuda.synchronize()
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    return out, len(structures) / wall, cpu / len(structures)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    structures = library_set(args.n, seed=0).structures
    clusters = [windowed_cluster(a, FingerprintTransformer().settings) for a in structures]
    print(
        f"{args.n} structures of the prototype library, {np.mean([len(a) for a in structures]):.0f} atoms per "
        f"supercell and {np.mean([len(p) for p, _ in clusters]):.0f} in the windowed scattering cluster on "
        f"average, 64x64 px, 6 patterns each; {args.threads} threads, load average {os.getloadavg()[0]:.1f}"
    )
    reference = PhaseMatrixTransformer(dtype=torch.float64).transform(structures)
    rows = [("cpu, fused numba kernel (default)", FingerprintTransformer(device="cpu"))]
    rows.append(("cpu, torch phase matrix (previous)", PhaseMatrixTransformer(device="cpu", batch_size=8)))
    if torch.cuda.is_available():
        rows += [
            (f"{torch.cuda.get_device_name()}, batch {b}", FingerprintTransformer(device="cuda", batch_size=b))
            for b in (8, 64)
        ]
    results = [(name, *timed(t, structures)) for name, t in rows]
    previous = results[1][2]
    print("| path | structures/s | CPU ms per structure | speed-up vs previous | max abs diff vs float64 |")
    print("|---|---|---|---|---|")
    for name, out, rate, cpu in results:
        diff = float((out - reference).abs().max())
        print(f"| {name} | {rate:.1f} | {1e3 * cpu:.1f} | {rate / previous:.1f}x | {diff:.1e} |")


if __name__ == "__main__":
    main()
