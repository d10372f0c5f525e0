"""Why does FastCAM score below random maps on an SEM regressor? Measure the hypotheses.

For each trained regressor RUN (e.g. three training seeds), on ``--images`` tiles spread over the
lots, for sign +1 and -1, the script scores saliency maps with matsight's insertion - deletion
(blur and mean substrates) and Quantus's FaithfulnessCorrelation (black and mean baselines) next to
random maps, and measures each map's correlation with closeness to the image centre:

- FastCAM (uniform stage weights, the default), FastCAM with the paper's weights, FastCAM of each
  single stage Z1..Z5 (stage weighting);
- FastCAM x Grad-CAM, Grad-CAM, integrated gradients (signed methods);
- FastCAM is class-agnostic: its map is the same for sign +1 and -1, so comparing its score under
  both signs tells whether it shows "where information is" rather than "what pushes the output up";
- a centre bump (closeness to the centre, no model) tests the border/padding bias on its own.

    python examples/saliency_regression_faithfulness.py RUN [RUN ...] --lots LOTS --out results.csv

Prints a table (method, sign, metric: mean over images, then mean and sd over runs) and writes
every per-run row to ``--out``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from matsight.data import ImageDataset
from matsight.data.validate import read_dataset
from matsight.models import load_model
from matsight.saliency.captum_methods import IntegratedGradients
from matsight.saliency.evaluation import EvaluationConfig, evaluate_maps
from matsight.saliency.fastcam import FastCAM
from matsight.saliency.gradcam import GradCAM
from matsight.saliency.selection import evaluation_rows


def centre_closeness(size: int) -> torch.Tensor:
    """1 at the centre, 0 at the corners ``[size, size]``."""
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    c = (size - 1) / 2
    d = torch.sqrt((yy - c) ** 2 + (xx - c) ** 2)
    return 1 - d / d.max()


def explainers(model, ig_steps: int, stages: list[str] | None) -> dict:
    out = {
        "fastcam": lambda x, s: FastCAM(model).attribute(x, None, s),
        "fastcam-paper-weights": lambda x, s: FastCAM(model, weights="paper").attribute(x, None, s),
        "fastcam-gradcam": lambda x, s: FastCAM(model, combine_with="gradcam").attribute(x, None, s),
        "gradcam": lambda x, s: GradCAM(model).attribute(x, None, s),
        "integrated-gradients": lambda x, s: IntegratedGradients(model, n_steps=ig_steps).attribute(x, None, s),
    }
    for stage in FastCAM(model).stages if stages is None else stages:
        out[f"fastcam-{stage}-only"] = lambda x, s, st=stage: FastCAM(model, layers=[st]).attribute(x, None, s)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--lots", type=Path, required=True)
    parser.add_argument("--images", type=int, default=16)
    parser.add_argument("--ig-steps", type=int, default=16)
    parser.add_argument("--runs-fc", type=int, default=30, help="FaithfulnessCorrelation's random subsets")
    parser.add_argument("--signs", type=int, nargs="+", default=[1, -1], choices=[1, -1])
    parser.add_argument("--stages", nargs="*", default=None, help="single-stage FastCAM maps (default: every stage)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows = []
    for run in args.runs:
        start = time.perf_counter()
        model, meta = load_model(run)
        table = read_dataset(args.lots, target=meta["target_names"][0])
        chosen = evaluation_rows(table.groups, args.images)
        ds = ImageDataset(table, meta["image_size"], channels=meta["channels"], crop_size=meta["crop_size"])
        x = torch.stack([ds[i][0] for i in chosen])
        closeness = centre_closeness(x.shape[-1]).flatten()
        for sign in args.signs:
            maps = {name: f(x, sign) for name, f in explainers(model, args.ig_steps, args.stages).items()}
            maps["centre-bump"] = centre_closeness(x.shape[-1]).expand(len(x), -1, -1)
            for substrate, baseline in (("blur", "black"), ("mean", "mean")):
                config = EvaluationConfig(
                    substrate=substrate,
                    perturb_baseline=baseline,
                    metrics=("insertion-minus-deletion", "faithfulness-correlation"),
                    runs=args.runs_fc,
                    seed=0,
                )
                result = evaluate_maps(model, x, maps, sign=sign, config=config)
                result["baseline"] = f"{substrate}/{baseline}"
                result["sign"] = sign
                result["run"] = str(run)
                rows.append(result)
            centre = pd.DataFrame(
                {
                    "method": list(maps),
                    "metric": "correlation-with-centre",
                    "mean": [
                        float(
                            np.mean(
                                [np.corrcoef(m[i].flatten().numpy(), closeness.numpy())[0, 1] for i in range(len(x))]
                            )
                        )
                        for m in maps.values()
                    ],
                    "sign": sign,
                    "run": str(run),
                    "baseline": "-",
                }
            )
            rows.append(centre)
        print(f"{run}: {time.perf_counter() - start:.0f} s", flush=True)
        pd.concat(rows, ignore_index=True).to_csv(args.out, index=False)  # kept after every run
    results = pd.concat(rows, ignore_index=True)
    summary = (
        results.groupby(["metric", "baseline", "sign", "method"], sort=False)
        .agg(
            mean=("mean", "mean"),
            sd_over_runs=("mean", "std"),
            runs=("run", "nunique"),
            random=("random_baseline", "mean"),
        )
        .reset_index()
    )
    pd.set_option("display.width", 200)
    pd.set_option("display.max_rows", 500)
    print(summary.to_string(index=False, float_format="%.3f"))


if __name__ == "__main__":
    main()
