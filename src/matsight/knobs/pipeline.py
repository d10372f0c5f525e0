"""The knobs workflow on an editor run folder: quality check, sweeps, inverse search, tables, report.

Each function reads the editor run (``editor.pt`` and its meta: lots folder, regressor run,
attribute scaler, held-out tiles) and writes tables/figures into it, or into ``out``; the CLI and the
demo call these. Sweeps and the inverse search can judge the edits with another regressor than the
one the editor was trained for (``regressor_run=``): the editor only knows tiles and attributes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from matsight import options
from matsight.errors import ConfigError
from matsight.knobs import figures
from matsight.knobs.inverse import Goal, InverseSearch, answers_table, effects_table
from matsight.knobs.quality import ControlReport, attribute_control, fit_measurer
from matsight.knobs.regressor import PropertyRegressor
from matsight.knobs.sweep import lot_slopes, summarise_sweeps, sweep_knob, sweep_pair
from matsight.knobs.train_editor import editor_intensity, load_editor, load_tiles, read_split, split_table
from matsight.knobs.transfer import choose_view, transfer_edit
from matsight.report import Section, write_section
from matsight.store import RunFolder


@dataclass
class HeldOut:
    """Held-out tiles of an editor run: ``images [N,1,S,S]`` at the editor's size, scaled
    ``attributes [N,A]``, each tile's lot (``groups``) and, when the regressor sees the real tile plus
    each edit (view ``"transfer"``), ``full [N,1,H,W]`` at the regressor's size (else ``None``)."""

    images: torch.Tensor
    attributes: torch.Tensor
    groups: list[str]
    full: torch.Tensor | None

    @property
    def view(self) -> str:
        """What the regressor reads of an edit: ``"transfer"`` when ``full`` is kept, else ``"edit"``."""
        return "edit" if self.full is None else "transfer"


def pick_tiles(groups: list[str], max_tiles: int, spread_lots: bool = False, seed: int = 0) -> np.ndarray:
    """Up to ``max_tiles`` row indices in random order; with ``spread_lots`` every lot's k-th tile
    comes before any lot's (k+1)-th, so the pick covers as many lots as it can, evenly."""
    order = np.random.default_rng(seed).permutation(len(groups))
    if spread_lots:
        lots = np.asarray(groups, str)[order]
        rank = pd.Series(lots).groupby(lots).cumcount().to_numpy()
        order = order[np.argsort(rank, kind="stable")]
    return order[:max_tiles]


def _setup(
    run_dir: Path,
    max_tiles: int,
    device: str = "cpu",
    regressor_run: Path | None = None,
    spread_lots: bool = False,
    view: str = "auto",
):
    """Editor, meta, regressor (the editor run's own unless given), up to ``max_tiles`` held-out tiles
    (:func:`pick_tiles`) as :class:`HeldOut` with the regressor's view of edits
    (:func:`~matsight.knobs.transfer.choose_view`), and the attribute scaler."""
    editor, meta = load_editor(run_dir, device)
    regressor = PropertyRegressor.from_run(regressor_run or meta["regressor"], device)
    view = choose_view(view, meta["image_size"], regressor.image_size)
    held, scaler = split_table(run_dir, "held_out")
    held = held.subset(pick_tiles(held.groups, max_tiles, spread_lots))
    size = regressor.image_size or meta["image_size"]
    full = load_tiles(held, size, regressor.spec.intensity).to(device) if view == "transfer" else None
    tiles = HeldOut(
        load_tiles(held, meta["image_size"], editor_intensity(meta)).to(device),
        torch.from_numpy(scaler.transform(held.attributes)).to(device),
        held.groups,
        full,
    )
    return editor, meta, regressor, tiles, scaler


def _output_folder(run_dir: Path, out: Path | None, regressor_run: Path | None) -> RunFolder:
    """The editor run itself, or a new folder ``out`` with a manifest naming the editor and regressor."""
    if out is None:
        return RunFolder(run_dir, create=False)
    run = RunFolder(out)
    run.start(
        "knobs",
        {"editor": str(run_dir), "regressor": str(regressor_run) if regressor_run else None},
        inputs={"editor": Path(run_dir) / "editor.pt"},
    )
    return run


def check_quality(run_dir: Path, epochs: int = 60, device: str = "cpu") -> ControlReport:
    """Train the independent attribute measurer on the editor's training tiles and measure control."""
    editor, meta = load_editor(run_dir, device)
    run = RunFolder(run_dir, create=False)
    train, held = read_split(run_dir, "train"), read_split(run_dir, "held_out")
    measurer = fit_measurer(
        RunFolder(run.path / "attribute-measurer"),
        train.images,
        train.attributes,
        held.images,
        held.attributes,
        epochs=epochs,
        seed=meta["seed"],
        device=device,
    )
    report = attribute_control(editor, measurer, held.images, held.attributes, meta["attributes"])
    run.write_json("knob_control.json", report.to_dict())
    names = meta["attributes"]
    run.write_table(
        "knob_control",
        pd.DataFrame(
            [
                {"knob": names[i], "measured": names[j], "slope": report.slopes[i, j]}
                for i in range(len(names))
                for j in range(len(names))
            ]
        ),
    )
    figures.control_figure(report.slopes, names, run.figure_path("knob_control.png"))
    return report


def free_knobs(run_dir: Path, knobs: str | list[str], names: list[str]) -> np.ndarray:
    """Which knobs the inverse search may turn, bool ``[A]``: ``"all"``, ``"passing"`` (those that
    passed the control check in ``knob_control.json``) or a list of attribute names."""
    if knobs == "all":
        return np.ones(len(names), bool)
    if knobs == "passing":
        path = Path(run_dir) / "knob_control.json"
        if not path.exists():
            raise ConfigError(f"--knobs passing needs {path}: run `matsight knobs train` (it measures control) first")
        passes = np.asarray(json.loads(path.read_text())["passes"], bool)
        if not passes.any():
            raise ConfigError(
                f"no knob passed the control check ({path}); search anyway with --knobs all "
                "or name the knobs, e.g. --knobs size,porosity"
            )
        return passes
    unknown = sorted(set(knobs) - set(names))
    if unknown:
        raise ConfigError(
            f"--knobs {','.join(knobs)}: {', '.join(unknown)} is not a knob of this editor (knobs: {', '.join(names)})"
        )
    return np.isin(names, knobs)


def run_sweeps(
    run_dir: Path,
    levels: int = 9,
    max_tiles: int = 48,
    pair: tuple[int, int] = (0, 1),
    regressor_run: Path | None = None,
    out: Path | None = None,
    view: str = "auto",
    device: str = "cpu",
) -> pd.DataFrame:
    """Sweep every knob over its range on held-out tiles spread over the lots; ``tables/knob_sweeps.csv``
    (with ``lots_agreeing``), ``tables/knob_sweep_lots.csv`` (each lot's slope) and figures in ``out``
    (default: the editor run); ``view``: what the regressor sees of an edit (column ``view``)."""
    options.at_least("--levels", levels, 2, " (a sweep needs two ends)")
    options.at_least("--tiles", max_tiles, 1)
    editor, meta, regressor, held, scaler = _setup(
        run_dir, max_tiles, device, regressor_run, spread_lots=True, view=view
    )
    images, attrs, full = held.images, held.attributes, held.full
    run = _output_folder(run_dir, out, regressor_run)
    names, values = meta["attributes"], np.linspace(0, 1, levels)
    user = {n: scaler.low[j] + values * scaler.span[j] for j, n in enumerate(names)}
    curves = {n: sweep_knob(editor, regressor, images, attrs, j, values, full=full) for j, n in enumerate(names)}
    per_lot = lot_slopes(curves, values, held.groups)
    table = summarise_sweeps(curves, values, user, per_lot).assign(view=held.view)
    run.write_table("knob_sweeps", table)
    run.write_table("knob_sweep_lots", per_lot)
    label = f"predicted {regressor.name}"
    figures.sweep_figure(table, run.figure_path("knob_sweeps.png"), label)
    if len(names) > 1:
        coarse = np.linspace(0, 1, 5)
        grid = sweep_pair(
            editor, regressor, images[:16], attrs[:16], pair, coarse, full=None if full is None else full[:16]
        )
        u, v = (scaler.low[k] + coarse * scaler.span[k] for k in pair)
        figures.heatmap_figure(grid, u, v, (names[pair[0]], names[pair[1]]), run.figure_path("knob_pair.png"), label)
    if out is not None:  # the editor run's own status belongs to its training
        run.set_status("finished")
    return table


PER = ("tile", "lot")


def run_inverse(
    run_dir: Path,
    goal: str = "+10%",
    max_tiles: int = 32,
    steps: int = 150,
    lam: float = 10.0,
    knobs: str | list[str] = "all",
    per: str = "tile",
    show: int = 3,
    regressor_run: Path | None = None,
    out: Path | None = None,
    view: str = "auto",
    device: str = "cpu",
) -> pd.DataFrame:
    """Inverse search on held-out tiles turning the knobs chosen by ``knobs`` (see :func:`free_knobs`);
    ``tables/inverse_effects.csv``, ``tables/inverse_answers.csv`` (each tile's or lot's ΔA) and the
    ΔA figure in ``out`` (default: the editor run).

    ``per="tile"`` searches every tile alone (the paper's Eq. 2); ``per="lot"`` spreads the tiles over
    as many lots as it can and searches one ``A'`` per lot for the lot's mean prediction (lot
    attributes are one value per lot). A relative goal (``±x%``) is searched in both directions.
    ``view``: what the regressor sees of an edit (:func:`~matsight.knobs.transfer.choose_view`).
    """
    if per not in PER:
        raise ConfigError(
            f"--per {per!r}: choose tile (each tile alone, the paper's search) or lot (one answer per lot)"
        )
    wanted = Goal.parse(goal)
    options.at_least("--tiles", max_tiles, 1)
    options.at_least("--steps", steps, 1)
    options.non_negative("--lam", lam)
    editor, meta, regressor, held, scaler = _setup(
        run_dir, max_tiles, device, regressor_run, spread_lots=per == "lot", view=view
    )
    free = free_knobs(run_dir, knobs, meta["attributes"])
    run = _output_folder(run_dir, out, regressor_run)
    search = InverseSearch(editor, regressor, lam=lam, steps=steps)
    goals = (
        {"increase": Goal(abs(wanted.value), True), "decrease": Goal(-abs(wanted.value), True)}
        if wanted.relative
        else {None: wanted}
    )
    groups = held.groups if per == "lot" else None
    results = {}
    for direction, g in goals.items():
        res = search.search(held.images, held.attributes, g, full=held.full, free=free, groups=groups)
        direction = direction or ("increase" if float(np.mean(res.goal - res.baseline)) > 0 else "decrease")
        results[direction] = res
    table = effects_table(results, meta["attributes"], scaler.span, free)
    table.insert(2, "goal", goal)
    table.insert(3, "per", per)
    table["view"] = held.view
    run.write_table("inverse_effects", table)
    run.write_table("inverse_answers", answers_table(results, meta["attributes"], scaler.span))
    _inverse_figure(editor, held, results, meta["attributes"], show, run.figure_path("inverse_tiles.png"))
    run.write_json(
        "inverse_summary.json",
        {
            d: {
                "per": per,
                "view": held.view,
                "searched": len(r.found),
                "converged": float(r.converged.mean()),
                "steps": r.steps,
                "baseline": float(r.baseline.mean()),
                "goal": float(r.goal.mean()),
                "reached": float(r.reached.mean()),
            }
            for d, r in results.items()
        },
    )
    if out is not None:  # the editor run's own status belongs to its training
        run.set_status("finished")
    return table


@torch.no_grad()
def _inverse_figure(editor, held: HeldOut, results: dict, names: list[str], show: int, path: Path) -> None:
    """Paper Fig. 3 for the first ``show`` searched tiles (or one tile of each of the first lots): the
    tile as the regressor saw it, with each direction's edit, and the ΔA bars."""
    first = next(iter(results.values()))
    rows = (
        np.arange(min(show, len(first.found)))
        if first.groups is None
        else np.array([held.groups.index(g) for g in first.groups[:show]])
    )
    images = held.images[rows]
    if held.full is None:
        shown, reconstructed = images, None
    else:
        shown, reconstructed = held.full[rows], editor(images, held.attributes[rows])

    def seen(found: np.ndarray) -> np.ndarray:
        edited = editor(images, torch.from_numpy(found[: len(rows)]).to(images.device))
        return (edited if held.full is None else transfer_edit(shown, edited, reconstructed))[:, 0].cpu().numpy()

    edited = {d: seen(r.found) for d, r in results.items()}
    labels = None if first.groups is None else [f"lot {g}" for g in first.groups[: len(rows)]]
    figures.inverse_figure(
        shown[:, 0].cpu().numpy(), edited, {d: r.delta[: len(rows)] for d, r in results.items()}, names, path, labels
    )


def write_knobs_section(run_dir: Path) -> Path:
    """Report section with whatever the run holds: control numbers, sweeps, inverse table."""
    run = RunFolder(run_dir, create=False)
    figs = [
        f"figures/{n}"
        for n in ("knob_sweeps.png", "knob_pair.png", "knob_control.png", "inverse_tiles.png")
        if run.figure_path(n).exists()
    ]
    tables = [
        f"tables/{n}.csv" for n in ("inverse_effects", "knob_control") if (run.path / "tables" / f"{n}.csv").exists()
    ]
    metrics: dict[str, float | str] = {}
    control_path = run.path / "knob_control.json"
    if control_path.exists():
        control = json.loads(control_path.read_text())
        metrics["held-out reconstruction L1"] = round(control["reconstruction_l1"], 4)
        for i, name in enumerate(control["names"]):
            metrics[f"control slope {name}"] = round(control["slopes"][i][i], 3)
            metrics[f"measurer R² {name}"] = round(control["measurer_r2"][i], 3)
            metrics[f"max |cross-talk| {name}"] = (
                round(max(abs(v) for j, v in enumerate(control["slopes"][i]) if j != i), 3)
                if len(control["names"]) > 1
                else 0.0
            )
    sweeps_path = run.path / "tables" / "knob_sweeps.csv"
    if sweeps_path.exists():
        sweeps = pd.read_csv(sweeps_path).groupby("attribute", sort=False).first()
        if "view" in sweeps:
            metrics["the regressor reads"] = {"edit": "the edited tile", "transfer": "the real tile plus the edit"}[
                sweeps["view"].iloc[0]
            ]
        for name, row in sweeps.iterrows():
            metrics[f"sweep slope {name} (per range)"] = round(float(row["slope"]), 3)
            if "lots_agreeing" in row:
                metrics[f"lots sharing the sweep's sign {name}"] = round(float(row["lots_agreeing"]), 2)
    effects_path = run.path / "tables" / "inverse_effects.csv"
    if effects_path.exists():
        effects = pd.read_csv(effects_path)
        metrics["knobs turned by the inverse search"] = ", ".join(effects.loc[effects["free"], "attribute"].unique())
    text = (
        "An attribute-conditioned editor G(I; A) turns the lots' attributes into knobs. Control slope: how much "
        "the independently measured attribute moves per unit requested (scaled 0..1; 1 = perfect); cross-talk: "
        "how much the other attributes move. Sweeps show the regressor's prediction as one knob turns (band: "
        "10–90 % of held-out tiles); the fraction of lots whose own sweep has the sign of the mean tells whether "
        "the lots agree or a few lots decide the mean (0.5: no agreement). The inverse table gives the mean "
        "attribute change (user units, 95 % CI) that the search (Liu, Kailkhura et al., Eq. 2) found to raise "
        "or lower the prediction of each tile (or each lot: --per lot), turning the knobs listed below "
        "(the demo turns only those that pass the control check when any does; a knob passes "
        "when the measurer reads its attribute, R² ≥ 0.3, its control slope is ≥ 0.2 and it moves no other "
        "readable attribute by more than half as much)."
    )
    return write_section(
        run.path,
        Section(
            key="knobs", title="Attribute knobs", text=text, figures=figs, tables=tables, metrics=metrics, order=40
        ),
    )
