"""Ground-truth check of the knobs workflow on synthetic SEM lots with a known CPS formula.

For the default coefficients and for a copy with one coefficient flipped (``--flip porosity``):
generate lots, train the CPS regressor (matsight.training.train), train the editor, measure knob
control, sweep every knob and run the inverse search for +10 %/−10 %. For each attribute the
expected sign of d(CPS)/d(attribute) is the sign of its coefficient in ground_truth.json, reversed
for ``size`` (the formula uses size^-1/2, Hall–Petch-like). Writes ``<out>/knobs_ground_truth.csv``:
one row per (coefficient set, attribute) with the control check, the sweep slope, the inverse mean
ΔA for "increase" and whether their signs agree with the formula.

    python examples/knobs_ground_truth.py --out /tmp/knobs-gt [--flip porosity] [--editor-size 64] [--steps 3000] [--only default|flipped]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from matsight.knobs.pipeline import check_quality, run_inverse, run_sweeps
from matsight.knobs.train_editor import EditorConfig, train_editor
from matsight.synth.sem import DEFAULT_COEFFICIENTS, generate_lots
from matsight.training import TrainConfig, train



def expected_sign(name: str, coefficient: float) -> int:
    return int(-np.sign(coefficient) if name == "size" else np.sign(coefficient))


def one_setting(root: Path, label: str, coefficients: dict, args) -> pd.DataFrame:
    lots = root / label / "lots"
    if not (lots / "ground_truth.json").exists():
        generate_lots(lots, lots=args.lots, tiles_per_lot=args.tiles, size=args.tile_size, seed=args.seed,
                      coefficients=coefficients, progress=False)
    truth = json.loads((lots / "ground_truth.json").read_text())["coefficients"]
    reg = train(TrainConfig(data=lots, out=root / label / "regressor", epochs=args.epochs, image_size=args.image_size,
                            optimizer=args.optimizer, schedule=args.schedule, seed=args.seed,
                            device=args.device))
    out = root / label / "editor"
    train_editor(EditorConfig(regressor=reg.path, lots=lots, out=out, image_size=args.editor_size, steps=args.steps,
                              attributes=args.attributes.split(","), seed=args.seed, device=args.device))
    control = check_quality(out, epochs=args.quality_epochs, device=args.device)
    slopes = run_sweeps(out, max_tiles=args.eval_tiles, device=args.device).groupby("attribute")["slope"].first()
    effects = run_inverse(out, "+10%", max_tiles=args.eval_tiles, device=args.device)
    up = effects[effects["direction"] == "increase"].set_index("attribute")
    rows = []
    for i, name in enumerate(control.names):
        sign = expected_sign(name, truth[name])
        rows.append({"setting": label, "attribute": name, "coefficient": truth[name], "expected_sign": sign,
                     "control_slope": control.slopes[i, i], "measurer_r2": control.measurer_r2[i],
                     "control_passes": bool(control.passes[i]), "sweep_slope": slopes[name],
                     "inverse_mean_delta": up.loc[name, "mean_delta"], "inverse_ci_low": up.loc[name, "ci_low"],
                     "inverse_ci_high": up.loc[name, "ci_high"],
                     "sweep_agrees": bool(np.sign(slopes[name]) == sign),
                     "inverse_agrees": bool(np.sign(up.loc[name, "mean_delta"]) == sign)})
    return pd.DataFrame(rows)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--flip", default="porosity", help="attribute whose coefficient is negated in the second setting")
    p.add_argument("--only", choices=["default", "flipped"], help="run one setting (e.g. in two processes)")
    p.add_argument("--attributes", default="size,porosity,polydispersity,facetness,cracks",
                   help="knobs; every attribute of the CPS formula by default, so none leaks into the others")
    p.add_argument("--lots", type=int, default=30)
    p.add_argument("--tiles", type=int, default=24)
    p.add_argument("--tile-size", type=int, default=96)
    p.add_argument("--image-size", type=int, default=96)
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--optimizer", default="adam")
    p.add_argument("--schedule", default="cosine")
    p.add_argument("--editor-size", type=int, default=64)
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--quality-epochs", type=int, default=60)
    p.add_argument("--eval-tiles", type=int, default=48)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu")
    args = p.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    flipped = dict(DEFAULT_COEFFICIENTS, **{args.flip: -DEFAULT_COEFFICIENTS[args.flip]})
    settings = {"default": ("default", dict(DEFAULT_COEFFICIENTS)), "flipped": (f"flipped-{args.flip}", flipped)}
    for key in [args.only] if args.only else list(settings):
        label, coefficients = settings[key]
        one_setting(args.out, label, coefficients, args).to_csv(args.out / label / "ground_truth_rows.csv", index=False)
    table = pd.concat([pd.read_csv(f) for f in sorted(args.out.glob("*/ground_truth_rows.csv"))], ignore_index=True)
    table.to_csv(args.out / "knobs_ground_truth.csv", index=False)
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(table.round(3).to_string(index=False))
    passing = table[table["control_passes"]]
    print(f"\nknobs passing control: {len(passing)}/{len(table)}; sign agreement among them: "
          f"sweep {int(passing['sweep_agrees'].sum())}/{len(passing)}, inverse {int(passing['inverse_agrees'].sum())}/{len(passing)}")


if __name__ == "__main__":
    main()
