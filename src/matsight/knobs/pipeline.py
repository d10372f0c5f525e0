"""The three knobs workflows, each ``run_*(config) -> RunFolder`` on :func:`matsight.workflow.execute`.

- :func:`run_train` (``matsight knobs train``): train the editor (resumable), train the independent
  attribute measurer and measure each knob's control (``knob_control.json``), report section.
- :func:`run_sweep` (``matsight knobs sweep``): turn every knob across its range on held-out tiles
  spread over the lots (``tables/knob_sweeps.csv``, each lot's slope in ``knob_sweep_lots.csv``; on generator lots
  the regressor's real response to each attribute in ``regressor_response.csv``).
- :func:`run_inverse` (``matsight knobs inverse``): the inverse search (``tables/inverse_effects.csv``,
  each tile's or lot's answer in ``inverse_answers.csv``).

Sweeps and searches read an editor run (``editor.pt`` and its meta: lots, regressor, attribute
scaler, held-out tiles) and write their own run folder. They can judge the edits with another
regressor than the one the editor was trained for: the editor only knows tiles and attributes. When
the regressor was trained on synthetic lots with a ``ground_truth.json``, each passing knob's answers
are compared with the planted effects (``tables/knob_agreement.csv``, :mod:`matsight.knobs.agreement`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from matsight.errors import ConfigError
from matsight.knobs import figures, section
from matsight.knobs.agreement import Truth, ground_truth_of, knob_agreement, trusted_knobs
from matsight.knobs.config import EditorConfig, InverseConfig, SweepConfig
from matsight.knobs.inverse import Goal, InverseSearch, answers_table, effects_table
from matsight.knobs.quality import ControlReport, attribute_control, fit_measurer
from matsight.knobs.regressor import PropertyRegressor
from matsight.knobs.response import regressor_response
from matsight.knobs.sweep import lot_slopes, summarise_sweeps, sweep_knob, sweep_pair
from matsight.knobs.train_editor import (
    editor_intensity,
    load_editor,
    load_tiles,
    read_editor_lots,
    read_meta,
    read_split,
    split_table,
    train_editor,
)
from matsight.knobs.transfer import choose_view, transfer_edit
from matsight.progress import note
from matsight.store import RunFolder
from matsight.workflow import execute

CONTROL = "knob_control.json"


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


def _setup(config: SweepConfig | InverseConfig, spread_lots: bool):
    """Editor, meta, regressor (the editor run's own unless ``config.regressor``), up to ``config.tiles``
    held-out tiles (:func:`pick_tiles`) as :class:`HeldOut` with the regressor's view of edits
    (:func:`~matsight.knobs.transfer.choose_view`), and the attribute scaler."""
    editor, meta = load_editor(config.editor, config.device)
    regressor = PropertyRegressor.from_run(_regressor_run(config, meta), config.device)
    view = choose_view(config.view, meta["image_size"], regressor.image_size)
    held, scaler = split_table(config.editor, "held_out")
    held = held.subset(pick_tiles(held.groups, config.tiles, spread_lots))
    size = regressor.image_size or meta["image_size"]
    full = load_tiles(held, size, regressor.spec.intensity).to(config.device) if view == "transfer" else None
    tiles = HeldOut(
        load_tiles(held, meta["image_size"], editor_intensity(meta)).to(config.device),
        torch.from_numpy(scaler.transform(held.attributes)).to(config.device),
        held.groups,
        full,
    )
    return editor, meta, regressor, tiles, scaler


def read_control(editor_run: Path) -> dict:
    """The editor run's ``knob_control.json`` (names, slopes, measurer R², passes, reconstruction L1)."""
    path = Path(editor_run) / CONTROL
    if not path.exists():
        raise ConfigError(f"{path} is missing: run `matsight knobs train` (it measures control) first")
    return json.loads(path.read_text())


def editor_inputs(editor_run: Path, regressor: Path | None = None, meta: dict | None = None) -> dict[str, Path]:
    """What a sweep or search of ``editor_run`` reads besides it: the ``regressor`` (default: the editor
    run's own) and the ``lots`` the editor was trained on; its output is never one of them. ``meta``: the
    editor run's :func:`read_meta`, when already read."""
    meta = meta or read_meta(editor_run)
    return {"regressor": Path(regressor or meta["regressor"]), "lots": Path(meta["lots"])}


def _regressor_run(config: SweepConfig | InverseConfig, meta: dict) -> Path:
    """The regression run that judges the edits: ``config.regressor``, else the editor run's own."""
    return Path(config.regressor or meta["regressor"])


# -- knobs train -------------------------------------------------------------------------------------
def run_train(config: EditorConfig) -> RunFolder:
    """Train (or resume) the editor in ``config.out``, then measure its control
    (:func:`check_quality`) and write the report section; rerunning the same config resumes."""

    table = read_editor_lots(config)  # errors before the folder is claimed

    def body(run: RunFolder) -> RunFolder:
        train_editor(config, run, table)
        check_quality(run, config.quality_epochs, config.measure_size, config.device)
        section.write_train_section(run)
        return run

    return execute(config, body)


def check_quality(
    run: RunFolder, epochs: int = 60, measure_size: int | None = None, device: str = "cpu"
) -> ControlReport:
    """Train the independent attribute measurer on the editor's training tiles (read at ``measure_size``
    px, default the editor's size) and measure control: ``knob_control.json``, ``tables/knob_control``
    and its figure in the editor run ``run``."""
    editor, meta = load_editor(run.path, device)
    note("knobs: training the independent attribute measurer")
    train, held = read_split(run.path, "train"), read_split(run.path, "held_out")
    measurer = fit_measurer(
        RunFolder(run.path / "attribute-measurer"),
        train.images,
        train.attributes,
        held.images,
        held.attributes,
        epochs=epochs,
        size=measure_size,
        seed=meta["seed"],
        device=device,
    )
    report = attribute_control(editor, measurer, held.images, held.attributes, meta["attributes"])
    run.write_json(CONTROL, report.to_dict())
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


# -- knobs sweep -------------------------------------------------------------------------------------
def run_sweep(config: SweepConfig) -> RunFolder:
    """Sweep every knob over its range on held-out tiles spread over the lots: ``tables/knob_sweeps.csv``
    (per knob and level the mean and 10–90 % band; per knob the slope, its 95 % interval over the lots
    and ``lots_agreeing``), ``tables/knob_sweep_lots.csv`` (each lot's slope), figures, the ground-truth
    comparison when there is one, and the report section, in ``config.out``."""
    # a clear error before the folder is claimed when EDITOR is no editor run; the regressor and lots
    # behind the editor are inputs too
    implied = editor_inputs(config.editor, config.regressor)

    def body(run: RunFolder) -> RunFolder:
        editor, meta, regressor, held, scaler = _setup(config, spread_lots=True)
        names, values = meta["attributes"], np.linspace(0, 1, config.levels)
        user = {n: scaler.low[j] + values * scaler.span[j] for j, n in enumerate(names)}
        curves = {}
        for j, name in enumerate(names):
            note(f"knobs: sweeping {name} ({config.levels} levels × {len(held.images)} tiles)")
            curves[name] = sweep_knob(editor, regressor, held.images, held.attributes, j, values, full=held.full)
        per_lot = lot_slopes(curves, values, held.groups)
        table = summarise_sweeps(curves, values, user, per_lot).assign(view=held.view)
        run.write_table("knob_sweeps", table)
        run.write_table("knob_sweep_lots", per_lot)
        label = f"predicted {regressor.name}"
        regressor_run = _regressor_run(config, meta)
        truth = ground_truth_of(regressor_run)  # hashes the lots once: found only while they are what it learnt
        response = None
        if truth is not None and config.response_tiles > 0:
            response = regressor_response(regressor, truth.parent, user, config.response_tiles)
        if response is not None:
            run.write_table("regressor_response", response)
        figures.sweep_figure(table, run.figure_path("knob_sweeps.png"), label, response)
        if len(names) > 1:
            pair, coarse = config.pair, np.linspace(0, 1, 5)
            full = None if held.full is None else held.full[:16]
            grid = sweep_pair(editor, regressor, held.images[:16], held.attributes[:16], pair, coarse, full=full)
            u, v = (scaler.low[k] + coarse * scaler.span[k] for k in pair)
            axes = (names[pair[0]], names[pair[1]])
            figures.heatmap_figure(grid, u, v, axes, run.figure_path("knob_pair.png"), label)
        _write_agreement(run, config, regressor_run, truth, sweeps=table, response=response)
        section.write_sweep_section(run)
        return run

    return execute(config, body, implied=implied)


# -- knobs inverse -----------------------------------------------------------------------------------
def free_knobs(
    editor_run: Path,
    knobs: str | tuple[str, ...],
    names: list[str],
    sweep: Path | None = None,
    regressor: Path | None = None,
) -> np.ndarray:
    """Which knobs the inverse search may turn, bool ``[A]``: ``"all"``, ``"passing"`` (those that
    passed the control check in ``knob_control.json``), ``"trusted"`` (:func:`trusted_by_sweep` of the
    ``sweep`` run, judged by ``regressor``, default the editor's) or attribute names."""
    if knobs == "all":
        return np.ones(len(names), bool)
    if knobs == "trusted":
        return np.isin(names, trusted_by_sweep(Path(sweep or Path(editor_run) / "sweep"), Path(editor_run), regressor))
    if knobs == "passing":
        passes = np.asarray(read_control(editor_run)["passes"], bool)
        if not passes.any():
            raise ConfigError(
                f"no knob passed the control check ({Path(editor_run) / CONTROL}); search anyway with --knobs all "
                "or name the knobs, e.g. --knobs size,porosity"
            )
        return passes
    unknown = sorted(set(knobs) - set(names))
    if unknown:
        raise ConfigError(
            f"--knobs {','.join(knobs)}: {', '.join(unknown)} is not a knob of this editor (knobs: {', '.join(names)})"
        )
    return np.isin(names, knobs)


def trusted_by_sweep(sweep: Path, editor_run: Path, regressor: Path | None = None) -> list[str]:
    """The knobs that a finished ``knobs sweep`` of ``editor_run``, judged by ``regressor`` (default:
    the editor's), found trusted: passing the control check and not misreading the regressor
    (:func:`~matsight.knobs.agreement.trusted_knobs` of its ``knob_agreement.csv``). Raises
    :class:`ConfigError` naming the fix when the sweep is missing, of another editor or regressor,
    older than the editor's control check, made without the real-response check, or trusts no knob."""
    regressor = Path(regressor or read_meta(editor_run)["regressor"])
    manifest = RunFolder(sweep, create=False).read_manifest()
    arguments = manifest.get("arguments") or {}
    again = f"run `matsight knobs sweep {editor_run}` (or give its --out with --sweep)"
    if manifest.get("command") != SweepConfig.command or manifest.get("status") != "finished":
        raise ConfigError(f"--sweep {sweep} is not a finished `matsight knobs sweep` run: {again}")
    if not _same_path(arguments.get("editor"), editor_run):
        raise ConfigError(f"--sweep {sweep} swept the editor {arguments.get('editor')}, not {editor_run}: {again}")
    swept_by = arguments.get("regressor") or read_meta(editor_run)["regressor"]
    if not _same_path(swept_by, regressor):
        raise ConfigError(
            f"--sweep {sweep} judged the edits with the regressor {swept_by}, this search with {regressor}: "
            f"sweep with --regressor {regressor} first and give it with --sweep"
        )
    if not (Path(sweep) / "tables" / "knob_agreement.parquet").exists():
        raise ConfigError(
            f"{sweep} has no tables/knob_agreement.csv: only on lots of `matsight synth sem-lots` (with their "
            "ground_truth.json) can a sweep check that a knob reads the regressor; use --knobs passing"
        )
    table = RunFolder(sweep, create=False).read_table("knob_agreement")
    if table["passes"].tolist() != [bool(p) for p in read_control(editor_run)["passes"]]:
        raise ConfigError(f"--sweep {sweep} is older than the control check in {Path(editor_run) / CONTROL}: {again}")
    if table["response_slope"].isna().all():
        raise ConfigError(
            f"--sweep {sweep} did not measure the regressor's real response (--response-tiles 0), so no knob "
            "can be trusted: sweep again with --response-tiles 2, or use --knobs passing"
        )
    trusted = trusted_knobs(table)
    if not trusted:
        raise ConfigError(
            f"no knob is trusted in {sweep}/tables/knob_agreement.csv (none passes the control check without "
            "misreading the regressor); search anyway with --knobs passing or all"
        )
    return trusted


def _same_path(a: str | Path | None, b: str | Path | None) -> bool:
    """Whether two recorded paths name the same file or folder (the same text, or the same place on disk)."""
    if a is None or b is None:
        return a is b
    a, b = Path(a), Path(b)
    if a.exists() and b.exists():
        return a.samefile(b)
    return a.resolve() == b.resolve()


def run_inverse(config: InverseConfig) -> RunFolder:
    """Inverse search on held-out tiles turning the knobs chosen by ``config.knobs`` (:func:`free_knobs`):
    ``tables/inverse_effects.csv``, ``tables/inverse_answers.csv`` (each tile's or lot's ΔA),
    ``inverse_summary.json``, the ΔA figure, the ground-truth comparison when there is one, and the
    report section, in ``config.out``.

    ``per="tile"`` searches every tile alone (the paper's Eq. 2); ``per="lot"`` spreads the tiles over
    as many lots as it can and searches one ``A'`` per lot for the lot's mean prediction (lot
    attributes are one value per lot). A relative goal (``±x%``) is searched in both directions.
    """
    meta = read_meta(config.editor)
    # errors before the folder is claimed
    free = free_knobs(config.editor, config.knobs, meta["attributes"], config.sweep, config.regressor)
    implied = editor_inputs(config.editor, config.regressor, meta)

    def body(run: RunFolder) -> RunFolder:
        editor, meta, regressor, held, scaler = _setup(config, spread_lots=config.per == "lot")
        search = InverseSearch(editor, regressor, lam=config.lam, steps=config.steps)
        wanted = Goal.parse(config.goal)
        goals = (
            {"increase": Goal(abs(wanted.value), True), "decrease": Goal(-abs(wanted.value), True)}
            if wanted.relative
            else {None: wanted}
        )
        groups = held.groups if config.per == "lot" else None
        results = {}
        for direction, goal in goals.items():
            res = search.search(held.images, held.attributes, goal, full=held.full, free=free, groups=groups)
            direction = direction or ("increase" if float(np.mean(res.goal - res.baseline)) > 0 else "decrease")
            results[direction] = res
        names = meta["attributes"]
        table = effects_table(results, names, scaler.span, free)
        table.insert(2, "goal", str(config.goal))
        table.insert(3, "per", config.per)
        table["view"] = held.view
        run.write_table("inverse_effects", table)
        run.write_table("inverse_answers", answers_table(results, names, scaler.span))
        _inverse_figure(editor, held, results, names, config.show, run.figure_path("inverse_tiles.png"))
        run.write_json(
            "inverse_summary.json",
            {
                d: {
                    "per": config.per,
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
        regressor_run = _regressor_run(config, meta)
        _write_agreement(run, config, regressor_run, ground_truth_of(regressor_run), effects=table)
        section.write_inverse_section(run)
        return run

    return execute(config, body, implied=implied)


def _write_agreement(
    run: RunFolder,
    config: SweepConfig | InverseConfig,
    regressor_run: Path,
    ground_truth: Path | None,
    sweeps: pd.DataFrame | None = None,
    effects: pd.DataFrame | None = None,
    response: pd.DataFrame | None = None,
) -> None:
    """``tables/knob_agreement.csv`` when the regressor's lots have a ``ground_truth`` (else nothing)."""
    if ground_truth is not None:
        truth = Truth.read(ground_truth, regressor_run)
        table = knob_agreement(read_control(config.editor), truth, sweeps, effects, response)
        run.write_table("knob_agreement", table)


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
    if len(rows) == 0:
        return
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
