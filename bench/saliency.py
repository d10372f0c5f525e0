"""Saliency speed against the field: matsight vs torchcam vs pytorch-grad-cam on five torchvision models.

    .venv/bin/python bench/saliency.py [--models resnet50,densenet121,convnext_tiny,efficientnet_b0,vit_b_16]
        [--batch 8] [--size 224] [--reps 3] [--device cpu|cuda] [--clock wall|cpu] [--torchvision] [--perturbation]

Random weights (speed does not depend on them). ResNet-50 and DenseNet-121 are built as matsight
builds them (``build_model``: the torchvision network with ImageNet normalisation inside and stages
``Z1..Z5`` from ``models/backbones.py``); the others, and all with ``--torchvision``, are plain
torchvision models whose stages matsight discovers. Every explainer uses the same deepest stage
(``Z5``) and output 0. matsight's explainers are built once (the discovery probe is set-up, like
choosing a layer); the peers' extractors are built inside each call and release their hooks after it,
so no library's hooks slow another's runs (building them only registers hooks). Every method gets one
warm-up call, then ``reps`` rounds over all methods in turn (median seconds per batch), so load spikes
hit all methods alike. ``--clock cpu`` measures the process's CPU time instead of wall time (for a
shared machine; use one thread so that idle threads do not spin into the count). ``--perturbation``
adds Score-CAM and Ablation-CAM (one forward pass per channel and image: minutes on a CPU).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings

import torch
from pytorch_grad_cam import EigenCAM as PGCEigenCAM
from pytorch_grad_cam import GradCAM as PGCGradCAM
from pytorch_grad_cam import GradCAMPlusPlus as PGCGradCAMPlusPlus
from pytorch_grad_cam import HiResCAM as PGCHiResCAM
from pytorch_grad_cam import LayerCAM as PGCLayerCAM
from pytorch_grad_cam import XGradCAM as PGCXGradCAM
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
from torch import nn
from torchcam import methods as torchcam
from torchvision import models as tvm

from matsight.models import build_model
from matsight.models.backbones import ARCHITECTURES
from matsight.saliency.layout import to_grid
from matsight.saliency.registry import build_explainer

warnings.filterwarnings("ignore")
MODELS = ("resnet50", "densenet121", "convnext_tiny", "efficientnet_b0", "vit_b_16")
# matsight key -> (torchcam class or None, pytorch-grad-cam class or None)
PEERS = {
    "gradcam": (torchcam.GradCAM, PGCGradCAM),
    "gradcam++": (torchcam.GradCAMpp, PGCGradCAMPlusPlus),
    "xgradcam": (torchcam.XGradCAM, PGCXGradCAM),
    "layercam": (torchcam.LayerCAM, PGCLayerCAM),
    "hirescam": (None, PGCHiResCAM),
    "eigencam": (None, PGCEigenCAM),
}


def timed_round_robin(methods: dict, reps: int, device: str, clock=time.perf_counter) -> dict[str, float]:
    """Median seconds per call of each method: one warm-up call each, then ``reps`` interleaved rounds
    (a progress line on stderr per round)."""

    def once(fn) -> float:
        if device == "cuda":
            torch.cuda.synchronize()
        start = clock()
        fn()
        if device == "cuda":
            torch.cuda.synchronize()
        return clock() - start

    for name, fn in methods.items():
        print(f"  warm-up: {name}", file=sys.stderr, flush=True)
        fn()
    times: dict[str, list[float]] = {name: [] for name in methods}
    for rep in range(reps):
        print(f"  round {rep + 1} of {reps}", file=sys.stderr, flush=True)
        for name, fn in methods.items():
            times[name].append(once(fn))
    return {name: statistics.median(t) for name, t in times.items()}


def build(name: str, device: str, size: int, torchvision: bool) -> nn.Module:
    torch.manual_seed(0)
    if name in ARCHITECTURES and not torchvision:
        return build_model(name, "classification", 1000).eval().to(device)
    options = {"image_size": size} if name.startswith("vit") else {}
    model = getattr(tvm, name)(weights=None, **options).eval().to(device)
    if name.startswith("vit"):
        nn.init.normal_(model.heads.head.weight, std=0.02)  # torchvision starts the head at zero
    return model


def methods_for(model: nn.Module, x: torch.Tensor, perturbation: bool) -> dict:
    """Timed callables: the plain forward, matsight's methods and each peer's equivalent."""
    keys = ["fastcam", "fastcam-gradcam", *PEERS] + (["scorecam", "ablationcam"] if perturbation else [])
    ours = {key: build_explainer(key, model) for key in keys}
    stage = ours["gradcam"].stage
    reshape = None if stage.kind == "nchw" else (lambda t: to_grid(t, stage.layout(t, x)))
    targets = [ClassifierOutputTarget(0)] * len(x)

    def pgc(cls):
        def run():
            with cls(model=model, target_layers=[stage.module], reshape_transform=reshape) as cam:
                cam(input_tensor=x, targets=targets)

        return run

    def tc(cls):
        def run():
            with cls(model, target_layer=stage.path, reshape_transform=reshape) as cam:
                cam(class_idx=0, scores=model(x))

        return run

    methods = {"forward": lambda: torch.no_grad()(model)(x)}
    for key, explainer in ours.items():
        methods[f"matsight {key}"] = lambda e=explainer: e.attribute(x, target=0)
        torchcam_cls, pgc_cls = PEERS.get(key, (None, None))
        if torchcam_cls is not None:
            methods[f"torchcam {key}"] = tc(torchcam_cls)
        if pgc_cls is not None:
            methods[f"pytorch-grad-cam {key}"] = pgc(pgc_cls)
    return methods


def report(name: str, seconds: dict[str, float], batch: int) -> list[str]:
    """A markdown table (time / forward, images/s) and the speed of matsight relative to each peer."""
    lines = ["| method | s/batch | images/s | time / forward | matsight speed-up |", "|---|---:|---:|---:|---:|"]
    for method, s in seconds.items():
        library, _, key = method.partition(" ")
        speedup = ""
        if library in ("torchcam", "pytorch-grad-cam"):
            speedup = f"{s / seconds[f'matsight {key}']:.2f}x"
        lines.append(f"| {method} | {s:.3f} | {batch / s:.1f} | {s / seconds['forward']:.2f} | {speedup} |")
    fastcam = seconds["matsight fastcam"] / seconds["forward"]
    gradcam = seconds["matsight gradcam"]
    lines += [
        "",
        f"{name}: FastCAM / forward = {fastcam:.2f} (goal <= 1.10); matsight Grad-CAM is "
        f"{seconds['torchcam gradcam'] / gradcam:.2f}x torchcam's speed (goal >= 1.0) and "
        f"{seconds['pytorch-grad-cam gradcam'] / gradcam:.2f}x pytorch-grad-cam's (goal >= 2.5)",
    ]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall")
    parser.add_argument("--torchvision", action="store_true", help="plain torchvision ResNet-50 / DenseNet-121 too")
    parser.add_argument("--perturbation", action="store_true", help="also time Score-CAM and Ablation-CAM")
    args = parser.parse_args()
    threads = torch.get_num_threads()
    clock = time.process_time if args.clock == "cpu" else time.perf_counter
    for name in args.models.split(","):
        print(f"{name}: building the model and the explainers", file=sys.stderr, flush=True)
        model = build(name, args.device, args.size, args.torchvision)
        x = torch.rand(args.batch, 3, args.size, args.size, device=args.device)
        seconds = timed_round_robin(methods_for(model, x, args.perturbation), args.reps, args.device, clock)
        kind = "matsight build_model" if name in ARCHITECTURES and not args.torchvision else "torchvision"
        print(
            f"\n#### {name} ({kind}), {args.device}, {args.size} px, batch {args.batch}, median of {args.reps} "
            f"interleaved batches, {threads} threads, {args.clock} time\n",
            flush=True,
        )
        print("\n".join(report(name, seconds, args.batch)), flush=True)


if __name__ == "__main__":
    main()
