"""Which saliency method should explain a regressor by default? Measured on small SEM regressors.

For each training seed, a ResNet-18 CPS regressor is trained on synthetic SEM lots
(:func:`matsight.synth.sem.generate_lots`: CPS rises with porosity; the same lots for every seed) with
``matsight train``'s workflow. On ``--images`` held-out tiles spread over the lots, for sign +1 (what
pushes the prediction up) and -1 (down), every candidate method of the registry is scored with
matsight's insertion - deletion (blur substrate) and Quantus's FaithfulnessCorrelation, next to
random maps (uniform noise) and a centre bump (closeness to the image centre, no model: the border /
padding bias on its own); each map's correlation with closeness to the centre is reported too.

    OMP_NUM_THREADS=1 nice -n 10 python bench/saliency_regression_default.py --out /tmp/bench-default

Prints, per metric and sign, each method's mean over images averaged over seeds, its sd over seeds,
and in how many seeds it beats random maps; writes every per-seed row to ``OUT/results.csv`` and the
figure ``OUT/saliency-regression-default.png``. Trained runs are reused on a rerun.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from matsight.data import read_lots
from matsight.models import load_model
from matsight.report.style import OKABE_ITO, save_figure
from matsight.saliency.evaluation import EvaluationConfig, evaluate_maps
from matsight.saliency.registry import build_explainer
from matsight.saliency.selection import evaluation_rows
from matsight.store import RunFolder
from matsight.synth.sem import generate_lots
from matsight.training import TrainConfig, train
from matsight.training.seen import split_of

CANDIDATES = (
    "fastcam",
    "fastcam-gradcam",
    "gradcam",
    "gradcam++",
    "hirescam",
    "xgradcam",
    "layercam",
    "eigencam",
    "guided-backprop",
    "integrated-gradients",
    "smoothgrad",
    "lrp",
)
OPTIONS = {"integrated-gradients": {"n_steps": 16}}
METRICS = ("insertion-minus-deletion", "faithfulness-correlation")


def centre_closeness(size: int) -> torch.Tensor:
    """1 at the centre, 0 at the corners, ``[size, size]``."""
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    c = (size - 1) / 2
    d = torch.sqrt((yy - c) ** 2 + (xx - c) ** 2)
    return 1 - d / d.max()


def centre_correlation(maps: torch.Tensor) -> float:
    """Mean over images of Pearson r between a map and closeness to the centre (NaN for constant maps)."""
    closeness = centre_closeness(maps.shape[-1]).flatten().numpy()
    values = [np.corrcoef(m.flatten().numpy(), closeness)[0, 1] if m.std() > 0 else np.nan for m in maps]
    return float(np.nanmean(values)) if np.isfinite(values).any() else float("nan")


def regressor(args, lots: Path, seed: int) -> Path:
    run = train(
        TrainConfig(
            data=lots,
            out=args.out / f"regressor-seed{seed}",
            target="cps",
            epochs=args.epochs,
            image_size=args.size,
            split="tiles",
            optimizer="adam",
            schedule="cosine",
            seed=seed,
            device="cpu",
        )
    )
    return run.path


def measure(args, run: Path, lots: Path, seed: int) -> list[pd.DataFrame]:
    model, spec = load_model(run)
    table = read_lots(lots, target="cps")
    held = np.flatnonzero(split_of(run, table.paths) == "held-out")
    held_table = table.subset(held)
    chosen = evaluation_rows(held_table.groups, args.images)
    dataset = spec.dataset(held_table)
    x = torch.stack([dataset[i][0] for i in chosen])
    r2 = float(RunFolder(run, create=False).read_json("metrics.json")["validation"]["tiles"]["r2"])
    rows = []
    config = EvaluationConfig(metrics=METRICS, runs=args.fc_runs, seed=0)
    for sign in args.signs:
        maps = {}
        for key in args.methods:
            start = time.perf_counter()
            maps[key] = build_explainer(key, model, **OPTIONS.get(key, {})).attribute(x, None, sign)
            print(f"seed {seed} sign {sign:+d} {key}: {time.perf_counter() - start:.1f} s", flush=True)
        maps["centre-bump"] = centre_closeness(x.shape[-1]).expand(len(x), -1, -1)
        result = evaluate_maps(model, x, maps, sign=sign, config=config)
        centre = pd.DataFrame(
            {
                "method": list(maps),
                "metric": "correlation-with-centre",
                "mean": [centre_correlation(m) for m in maps.values()],
            }
        )
        for frame in (result, centre):
            rows.append(frame.assign(sign=sign, seed=seed, held_out_r2=r2))
    return rows


def summarise(results: pd.DataFrame) -> pd.DataFrame:
    scored = results[results["metric"].isin(METRICS)]
    return (
        scored.groupby(["metric", "sign", "method"], sort=False)
        .agg(
            mean=("mean", "mean"),
            sd_over_seeds=("mean", "std"),
            random=("random_baseline", "mean"),
            beats_random=("beats_random", "sum"),
            seeds=("seed", "nunique"),
            images=("n", "mean"),
        )
        .reset_index()
    )


def figure(summary: pd.DataFrame, path: Path) -> None:
    import matplotlib.pyplot as plt

    signs = sorted(summary["sign"].unique(), reverse=True)
    fig, axes = plt.subplots(len(METRICS), 1, figsize=(9, 3.2 * len(METRICS)), squeeze=False)
    for ax, metric in zip(axes[:, 0], METRICS):
        part = summary[summary["metric"] == metric]
        methods = list(dict.fromkeys(part["method"]))
        width = 0.8 / len(signs)
        for k, sign in enumerate(signs):
            rows = part[part["sign"] == sign].set_index("method").loc[methods]
            ax.bar(
                np.arange(len(methods)) + (k - (len(signs) - 1) / 2) * width,
                rows["mean"],
                width,
                yerr=rows["sd_over_seeds"],
                color=OKABE_ITO[k],
                label=f"sign {sign:+d} ({'up' if sign > 0 else 'down'})",
            )
            ax.axhline(rows["random"].mean(), color=OKABE_ITO[k], linestyle="--", linewidth=1)
        ax.set_xticks(np.arange(len(methods)), methods, rotation=35, ha="right", fontsize=8)
        ax.set_ylabel(f"{metric}\n(mean over images; bars: sd over seeds)", fontsize=8)
        ax.axhline(0, color="black", linewidth=0.5)
        ax.set_title(f"{metric} on SEM regressors (dashed: random maps)", fontsize=9)
        ax.legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--lots", type=int, default=20)
    parser.add_argument("--tiles", type=int, default=16)
    parser.add_argument("--size", type=int, default=96, help="tile and training image size (px)")
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--images", type=int, default=16, help="held-out tiles evaluated per seed")
    parser.add_argument("--fc-runs", type=int, default=50, help="FaithfulnessCorrelation's random subsets")
    parser.add_argument("--signs", type=int, nargs="+", default=[1, -1], choices=[1, -1])
    parser.add_argument("--methods", nargs="+", default=list(CANDIDATES))
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    lots = args.out / "lots"
    if not (lots / "ground_truth.json").exists():
        generate_lots(lots, lots=args.lots, tiles_per_lot=args.tiles, size=args.size, seed=0)
    rows = []
    for seed in args.seeds:
        start = time.perf_counter()
        run = regressor(args, lots, seed)
        rows += measure(args, run, lots, seed)
        pd.concat(rows, ignore_index=True).to_csv(args.out / "results.csv", index=False)  # kept after every seed
        print(f"seed {seed}: {time.perf_counter() - start:.0f} s", flush=True)
    results = pd.concat(rows, ignore_index=True)
    summary = summarise(results)
    centre = (
        results[results["metric"] == "correlation-with-centre"]
        .groupby(["sign", "method"], sort=False)["mean"]
        .mean()
        .rename("correlation_with_centre")
        .reset_index()
    )
    summary = summary.merge(centre, on=["sign", "method"], how="left")
    pd.set_option("display.width", 200)
    pd.set_option("display.max_rows", 500)
    r2 = results.groupby("seed")["held_out_r2"].first()
    print("held-out tile R² per seed: " + ", ".join(f"{s}: {v:.3f}" for s, v in r2.items()))
    print(summary.to_string(index=False, float_format="%.3f"))
    summary.to_csv(args.out / "summary.csv", index=False)
    figure(summary, args.out / "saliency-regression-default.png")


if __name__ == "__main__":
    main()
