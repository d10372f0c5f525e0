"""Fingerprint throughput: structures per second on CPU (and CUDA when present).

Usage: ``python bench/fingerprint.py [--n 32] [--threads 2]``; prints a small table.
"""

from __future__ import annotations

import argparse
import time

import torch

from matsight.crystals.fingerprint import Diffraction2D, FingerprintTransformer, windowed_cluster
from matsight.crystals.prototypes import pristine_set


def throughput(structures, device: str, batch_size: int) -> float:
    transformer = FingerprintTransformer(device=device, batch_size=batch_size)
    transformer.transform(structures[:batch_size])  # warm-up
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    start = time.perf_counter()
    transformer.transform(structures)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return len(structures) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    structures, _ = pristine_set(args.n, seed=0)
    atoms = sum(len(a) for a in structures) / len(structures)
    cluster = sum(len(windowed_cluster(a, Diffraction2D())[0]) for a in structures) / len(structures)
    print(
        f"{args.n} structures, {atoms:.0f} atoms per supercell and {cluster:.0f} in the windowed "
        "scattering cluster on average, 64x64 px, 6 patterns each"
    )
    print("| device | batch | structures/s |\n|---|---|---|")
    rows = [("cpu", 8)] + ([("cuda", 8), ("cuda", 64)] if torch.cuda.is_available() else [])
    for device, batch in rows:
        print(
            f"| {device} ({args.threads} threads)" if device == "cpu" else f"| {torch.cuda.get_device_name()}",
            f"| {batch} | {throughput(structures, device, batch):.1f} |",
        )


if __name__ == "__main__":
    main()
