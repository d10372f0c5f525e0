"""Saliency speed: ResNet-50, 224 px, batch 16 (CPU, and CUDA when present); images/s and ratios.

    .venv/bin/python bench/saliency.py [--reps 3] [--ig-steps 8] [--batch 16] [--size 224]

Every method gets one warm-up batch, then ``reps`` rounds over all methods in turn (median time per batch).
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

import torch
from pytorch_grad_cam import GradCAM as PGCGradCAM
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

from matsight.models import build_model
from matsight.saliency import FastCAM, GradCAM, GuidedBackprop, IntegratedGradients

warnings.filterwarnings("ignore")


def timed_round_robin(methods: dict, reps: int, device: str) -> dict[str, float]:
    """Median seconds per call of each method: one warm-up call each, then ``reps`` rounds in which
    every method runs once in turn, so load spikes and clock drift hit all methods alike."""

    def once(fn) -> float:
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if device == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - start

    for fn in methods.values():
        fn()
    times: dict[str, list[float]] = {name: [] for name in methods}
    for _ in range(reps):
        for name, fn in methods.items():
            times[name].append(once(fn))
    return {name: statistics.median(t) for name, t in times.items()}


def run(device: str, reps: int, ig_steps: int, batch: int, size: int) -> None:
    torch.manual_seed(0)
    model = build_model("resnet50", "regression", 1).eval().to(device)
    x = torch.rand(batch, 3, size, size, device=device)
    pgc = PGCGradCAM(model=model, target_layers=[model.backbone.layer4])
    methods = {
        "forward": lambda: torch.no_grad()(model)(x),
        "fastcam": lambda: FastCAM(model).attribute(x),
        "fastcam x gradcam": lambda: FastCAM(model, combine_with="gradcam").attribute(x),
        "matsight gradcam": lambda: GradCAM(model).attribute(x),
        "pytorch-grad-cam gradcam": lambda: pgc(input_tensor=x, targets=[ClassifierOutputTarget(0)] * batch),
        "guided backprop (captum)": lambda: GuidedBackprop(model).attribute(x),
        f"integrated gradients (captum, {ig_steps} steps)": lambda: IntegratedGradients(
            model, n_steps=ig_steps, internal_batch_size=batch
        ).attribute(x),
    }
    seconds = timed_round_robin(methods, reps, device)
    print(
        f"\n### {device}: ResNet-50, {size} px, batch {batch}, median of {reps} interleaved batches, "
        f"{torch.get_num_threads()} threads\n"
    )
    print("| method | s/batch | images/s | time / forward |")
    print("|---|---:|---:|---:|")
    for name, s in seconds.items():
        print(f"| {name} | {s:.3f} | {batch / s:.1f} | {s / seconds['forward']:.2f} |")
    ig = [k for k in seconds if k.startswith("integrated")][0]
    print(f"\nFastCAM / forward = {seconds['fastcam'] / seconds['forward']:.2f} (goal <= 1.15)")
    print(f"FastCAM x Grad-CAM / forward = {seconds['fastcam x gradcam'] / seconds['forward']:.2f} (goal <= 1.5)")
    print(
        f"pytorch-grad-cam / matsight Grad-CAM = "
        f"{seconds['pytorch-grad-cam gradcam'] / seconds['matsight gradcam']:.2f}x (goal >= 1.5)"
    )
    print(f"captum IG / matsight Grad-CAM = {seconds[ig] / seconds['matsight gradcam']:.1f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--ig-steps", type=int, default=8)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--size", type=int, default=224)
    args = parser.parse_args()
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    for device in devices:
        run(device, args.reps, args.ig_steps, args.batch, args.size)


if __name__ == "__main__":
    main()
