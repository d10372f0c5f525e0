"""Ground-truth check of the knobs workflow on synthetic SEM lots with a known CPS formula.

Two settings share the same tiles and attributes (same generator seed) and differ only in the CPS
formula: the default coefficients, and a copy with one coefficient negated (``--flip size``). So
one editor serves both; each setting has its own regressor. Steps (``--part``, each resumable, so
they can run in separate processes):

- ``regressors``: generate the lots of both settings and train a CPS regressor on each;
- ``editor``: train the editor on the tiles and measure knob control (the independent measurer);
- ``evaluate``: per setting, sweep every knob and run the inverse search for ±10 % — over the
  knobs that pass the control check (tile by tile, and one answer per lot) and over all knobs —
  judging the edits with that setting's regressor; the oracle sweep (tiles re-rendered with one
  attribute changed) gives the regressor's true response, overall and per lot.

For each attribute the expected sign of d(CPS)/d(attribute) is the sign of its coefficient in
``ground_truth.json``, reversed for ``size`` (the formula uses size^-1/2, Hall–Petch-like):
:func:`matsight.knobs.agreement.planted_signs`, as in ``matsight demo``. Writes
``<out>/knobs_ground_truth.csv``: per (setting, attribute) the control check, the oracle and sweep
slopes, the fraction of lots that share the sweep's sign and that agree with their oracle slope, the
inverse mean ΔA for "increase" (trusted knobs per tile and per lot, all knobs) and whether the signs
agree.

    python examples/knobs_ground_truth.py --out /tmp/knobs-gt --flip size \
        [--part regressors|editor|evaluate] [--only default|flipped]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd

from matsight.knobs.agreement import planted_signs
from matsight.knobs.config import EditorConfig, InverseConfig, SweepConfig
from matsight.knobs.pipeline import run_inverse, run_sweep, run_train
from matsight.knobs.regressor import PropertyRegressor
from matsight.knobs.response import rerendered_predictions
from matsight.synth.sem import DEFAULT_COEFFICIENTS, generate_lots
from matsight.training import TrainConfig, train


def settings(flip: str) -> dict[str, dict]:
    flipped = dict(DEFAULT_COEFFICIENTS, **{flip: -DEFAULT_COEFFICIENTS[flip]})
    return {"default": dict(DEFAULT_COEFFICIENTS), f"flipped-{flip}": flipped}


def make_lots(root: Path, label: str, coefficients: dict, args) -> Path:
    lots = root / label / "lots"
    if not (lots / "ground_truth.json").exists():
        generate_lots(
            lots,
            lots=args.lots,
            tiles_per_lot=args.tiles,
            size=args.tile_size,
            seed=args.seed,
            coefficients=coefficients,
            design=args.design,
            progress=False,
        )
    return lots


def train_regressor(root: Path, label: str, lots: Path, args) -> None:
    train(
        TrainConfig(
            data=lots,
            out=root / label / "regressor",
            epochs=args.epochs,
            image_size=args.image_size,
            optimizer=args.optimizer,
            schedule=args.schedule,
            seed=args.seed,
            device=args.device,
        )
    )


def editor_dir(args) -> Path:
    return args.out / args.editor_name


def train_and_check_editor(args, lots: Path, regressor: Path) -> None:
    run_train(
        EditorConfig(
            out=editor_dir(args),
            regressor=regressor,
            lots=lots,
            image_size=args.editor_size,
            steps=args.steps,
            depth=args.editor_depth,
            attribute_weight=args.attribute_weight,
            attributes=tuple(args.attributes.split(",")),
            quality_epochs=args.quality_epochs,
            seed=args.seed,
            device=args.device,
        )
    )


def oracle_slopes(regressor: Path, lots: Path, names: list[str], args, levels: int = 9) -> pd.DataFrame:
    """The regressor's true partial dependence on each attribute (MPa per the lots' full range):
    every lot's tiles re-rendered with one attribute changed
    (:func:`~matsight.knobs.response.rerendered_predictions`). Columns
    ``attribute, lot, slope``; lot ``"all"`` is the mean over lots."""
    table = pd.read_csv(lots / "lots.csv")
    model = PropertyRegressor.from_run(regressor, args.device)
    x, rows = np.linspace(0, 1, levels), []
    for name in names:
        values = np.linspace(table[name].min(), table[name].max(), levels)
        pred = (
            rerendered_predictions(model, table, name, values, args.oracle_tiles, args.tile_size, seed=args.seed + 1)
            .reshape(levels, len(table), args.oracle_tiles)
            .mean(2)
        )
        rows.append({"attribute": name, "lot": "all", "slope": float(np.polyfit(x, pred.mean(1), 1)[0])})
        rows += [
            {"attribute": name, "lot": str(lot), "slope": float(slope)}
            for lot, slope in zip(table["lot"], np.polyfit(x, pred, 1)[0])
        ]
    return pd.DataFrame(rows)


def evaluation_dir(args, label: str) -> Path:
    """``<editor>/<setting>``, or ``<editor>/<setting>-<view>`` for an explicit ``--view``."""
    return editor_dir(args) / (label if args.view == "auto" else f"{label}-{args.view}")


def evaluate(args, label: str, regressor: Path) -> pd.DataFrame:
    editor = editor_dir(args)
    control = json.loads((editor / "knob_control.json").read_text())
    oracle_lots = oracle_slopes(regressor, args.out / label / "lots", control["names"], args)
    oracle = oracle_lots[oracle_lots["lot"] == "all"].set_index("attribute")["slope"]
    truth = json.loads((args.out / label / "lots" / "ground_truth.json").read_text())
    planted = planted_signs(truth)
    out = evaluation_dir(args, label)
    judged = dict(editor=editor, regressor=regressor, view=args.view, device=args.device)
    swept = run_sweep(SweepConfig(out=out / "sweep", tiles=args.eval_tiles, **judged))
    sweeps = swept.read_table("knob_sweeps").groupby("attribute").first()
    slopes = sweeps["slope"]
    lot_pairs = pd.read_csv(swept.path / "tables" / "knob_sweep_lots.csv", dtype={"lot": str}).merge(
        oracle_lots, on=["attribute", "lot"], suffixes=("_sweep", "_oracle")
    )
    lots_agree = (
        lot_pairs.assign(same=np.sign(lot_pairs["slope_sweep"]) == np.sign(lot_pairs["slope_oracle"]))
        .groupby("attribute")["same"]
        .mean()
    )

    def search(folder: str, **kw) -> pd.DataFrame:
        return run_inverse(InverseConfig(out=out / folder, goal="+10%", **judged, **kw)).read_table("inverse_effects")

    searches = {"all": search("all-knobs", tiles=args.eval_tiles, knobs="all")}
    if any(control["passes"]):
        searches["trusted"] = search("inverse", tiles=args.eval_tiles, knobs="passing")
        searches["lots"] = search("per-lot", tiles=args.lot_tiles, knobs="passing", per="lot")
    rows = []
    for i, name in enumerate(control["names"]):
        sign = planted[name]
        row = {
            "setting": label,
            "attribute": name,
            "coefficient": truth["coefficients"][name],
            "expected_sign": sign,
            "control_slope": control["slopes"][i][i],
            "measurer_r2": control["measurer_r2"][i],
            "control_passes": bool(control["passes"][i]),
            "oracle_slope": oracle[name],
            "oracle_agrees": bool(np.sign(oracle[name]) == sign),
            "sweep_slope": slopes[name],
            "sweep_agrees": bool(np.sign(slopes[name]) == sign),
            "sweep_agrees_with_oracle": bool(np.sign(slopes[name]) == np.sign(oracle[name])),
            "sweep_lots_agreeing": sweeps.loc[name, "lots_agreeing"],
            "lots_agreeing_with_oracle": lots_agree[name],
        }
        for kind, table in searches.items():
            up = table[table["direction"] == "increase"].set_index("attribute").loc[name]
            if not up["free"]:
                continue
            row.update(
                {
                    f"inverse_{kind}_mean_delta": up["mean_delta"],
                    f"inverse_{kind}_ci_low": up["ci_low"],
                    f"inverse_{kind}_ci_high": up["ci_high"],
                    f"inverse_{kind}_agrees": bool(np.sign(up["mean_delta"]) == sign),
                }
            )
        rows.append(row)
    return pd.DataFrame(rows)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--flip", default="size", help="attribute whose coefficient is negated in the second setting")
    p.add_argument("--part", choices=["regressors", "editor", "evaluate", "all"], default="all")
    p.add_argument("--only", choices=["default", "flipped"], help="regressors/evaluate: one setting only")
    p.add_argument("--attributes", default="size,porosity,polydispersity,facetness", help="the knobs")
    p.add_argument("--lots", type=int, default=30)
    p.add_argument("--tiles", type=int, default=24)
    p.add_argument("--tile-size", type=int, default=96)
    p.add_argument("--design", default="random", help="lot attributes: random or lhs (nearly uncorrelated)")
    p.add_argument("--image-size", type=int, default=96)
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--optimizer", default="adam")
    p.add_argument("--schedule", default="cosine")
    p.add_argument("--editor-name", default="editor", help="editor run folder under --out (compare editor settings)")
    p.add_argument("--editor-size", type=int, default=96, help="96 = the regressor's input: no resizing")
    p.add_argument("--editor-depth", type=int, default=4)
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--attribute-weight", type=float, default=10.0, help="AttGAN λ2: attribute loss on edits")
    p.add_argument("--quality-epochs", type=int, default=60)
    p.add_argument("--eval-tiles", type=int, default=48)
    p.add_argument("--view", default="auto", help="what the regressor reads: auto, edit or transfer")
    p.add_argument("--lot-tiles", type=int, default=96, help="held-out tiles of the per-lot inverse search")
    p.add_argument("--oracle-tiles", type=int, default=2, help="re-rendered tiles per lot for the oracle sweep")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu")
    args = p.parse_args()
    coefficient_sets = settings(args.flip)
    chosen = [
        label for label in coefficient_sets if args.only is None or (label == "default") == (args.only == "default")
    ]
    lots = {label: make_lots(args.out, label, coefficient_sets[label], args) for label in coefficient_sets}
    if args.part in ("regressors", "all"):
        for label in chosen:
            train_regressor(args.out, label, lots[label], args)
    if args.part in ("editor", "all"):
        train_and_check_editor(args, lots["default"], args.out / "default" / "regressor")
    if args.part in ("evaluate", "all"):
        for label in chosen:
            evaluate(args, label, args.out / label / "regressor").to_csv(
                evaluation_dir(args, label) / "ground_truth_rows.csv", index=False
            )
        rows = [evaluation_dir(args, label) / "ground_truth_rows.csv" for label in coefficient_sets]
        table = pd.concat([pd.read_csv(f) for f in rows if f.exists()], ignore_index=True)
        table.to_csv(
            editor_dir(args)
            / ("knobs_ground_truth.csv" if args.view == "auto" else f"knobs_ground_truth-{args.view}.csv"),
            index=False,
        )
        with pd.option_context("display.width", 250, "display.max_columns", 30):
            print(table.round(3).to_string(index=False))
        passing = table[table["control_passes"]]
        agree = {c: int(passing[c].fillna(False).astype(bool).sum()) for c in passing if c.endswith("_agrees")}
        print(
            f"\nknobs passing control: {len(passing)}/{len(table)}; sign agreement among them: "
            + ", ".join(f"{c[:-7]} {n}/{len(passing)}" for c, n in agree.items())
        )


if __name__ == "__main__":
    main()
