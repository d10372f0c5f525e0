"""Ground truth for the texture probe: plant CPS = f(porosity) only, check the pit family's ranks.

As in the paper, the regressor starts from a backbone that has already learnt generic textures (they
used ImageNet weights; nothing is downloaded here, so ``--pretrain-epochs`` trains a ResNet-18
classifier on a *separate* procedural bank, seed 100, and the regressors start from its weights;
0 trains from scratch). For sign in (+1, -1): generate lots whose CPS depends only on porosity with
that sign (``generate_lots(..., coefficients={"porosity": sign, others: 0})``), fine-tune the
regressor on them, probe it with the procedural texture bank (seed 0) at each of ``--stages``, and
print the ranks (1 = highest score, of T textures) of the pitted/dotted/perforated/porous family.
Expected: near the top for +1, near the bottom for -1.

    python examples/texture_ground_truth.py OUT [--pretrain-epochs 8] [--lots 24] [--tiles 16] \
        [--epochs 20] [--signs 1 -1]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from matsight.synth.sem import generate_lots
from matsight.synth.textures import generate_bank
from matsight.textures import TexturesConfig
from matsight.textures import run as run_textures
from matsight.training import TrainConfig, train

FAMILY = ("pitted", "dotted", "perforated", "porous")


def pretrain(out: Path, epochs: int, image_size: int) -> Path:
    """A ResNet-18 texture classifier on its own procedural bank (40 per class, seed 100); its checkpoint."""
    bank = out / "pretrain-bank"
    if not bank.exists():
        generate_bank(bank, per_class=40, size=image_size, seed=100)
    run = train(
        TrainConfig(
            data=bank,
            out=out / "pretrained",
            task="classification",
            epochs=epochs,
            image_size=image_size,
            device="cpu",
            seed=0,
            optimizer="adam",
            lr=1e-3,
            schedule="cosine",
        )
    )  # a rerun reuses the finished classifier
    return run.path / "checkpoint.pt"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--lots", type=int, default=24)
    parser.add_argument("--tiles", type=int, default=16)
    parser.add_argument("--tile-size", type=int, default=96)
    parser.add_argument("--image-size", type=int, default=96)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--per-class", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--pretrain-epochs", type=int, default=8, help="0 = regressors from scratch")
    parser.add_argument("--stages", nargs="+", default=["Z5", "Z4", "Z3"])
    parser.add_argument("--signs", type=int, nargs="+", default=[1, -1], choices=[1, -1])
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    bank = args.out / "bank"
    if not bank.exists():
        generate_bank(bank, per_class=args.per_class, size=args.tile_size, seed=0)
    weights = pretrain(args.out, args.pretrain_epochs, args.image_size) if args.pretrain_epochs else None
    summary = {}
    for sign in args.signs:
        start = time.perf_counter()
        name = "plus" if sign > 0 else "minus"
        coefficients = {"porosity": float(sign), "size": 0.0, "polydispersity": 0.0, "facetness": 0.0, "cracks": 0.0}
        lots = args.out / f"lots-{name}"
        if not (lots / "lots.csv").exists():
            generate_lots(
                lots, lots=args.lots, tiles_per_lot=args.tiles, size=args.tile_size, seed=1, coefficients=coefficients
            )
        run = train(
            TrainConfig(
                data=lots,
                out=args.out / f"model-{name}",
                epochs=args.epochs,
                image_size=args.image_size,
                device="cpu",
                seed=0,
                optimizer="adam",
                lr=1e-3,
                schedule="cosine",
                weights=weights,
                overwrite=True,
            )
        )
        for stage in args.stages:
            folder = run_textures(
                TexturesConfig(
                    out=args.out / f"textures-{name}-{stage}",
                    run=run.path,
                    lots=lots,
                    bank=bank,
                    stage=stage,
                    n_boot=100,
                    n_perm=499,
                    highlight=FAMILY,
                    overwrite=True,
                )
            )
            table = folder.read_table("texture_scores")  # highest score first
            ranks = {t: int(np.flatnonzero(table.texture == t)[0]) + 1 for t in FAMILY}
            summary[f"{name} {stage}"] = {
                "ranks": ranks,
                "mean_rank": float(np.mean(list(ranks.values()))),
                "textures": len(table),
                "top5": table.texture.head(5).tolist(),
                "seconds": round(time.perf_counter() - start, 1),
            }
            print(name, stage, json.dumps(summary[f"{name} {stage}"]), flush=True)
    (args.out / f"ground_truth_ranks{''.join(f'{s:+d}' for s in args.signs)}.json").write_text(
        json.dumps(summary, indent=2)
    )


if __name__ == "__main__":
    main()
