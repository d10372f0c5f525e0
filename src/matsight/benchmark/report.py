"""Tables, figure, report section and headline lines of a finished benchmark run."""

from __future__ import annotations

import pandas as pd

from matsight.benchmark.config import BenchmarkConfig
from matsight.benchmark.figures import leaderboard_figure, method_order
from matsight.benchmark.leaderboard import VERDICT_METRICS, leaderboard, verdict
from matsight.benchmark.metrics import METRICS
from matsight.benchmark.recovery import KNOB, RECOVERY_METRICS, RecoveryOutcome
from matsight.benchmark.tasks import TASKS
from matsight.report import Section, write_section
from matsight.saliency.registry import default_method
from matsight.store import RunFolder
from matsight.store.atomic import atomic_path

HEADLINE = tuple(VERDICT_METRICS.values())
"""The leaderboard's headline metrics: the verdict's (AUROC, chance 0.5; insertion − deletion in the
task model's output units, chance 0)."""


def verdict_lines(table: pd.DataFrame) -> list[str]:
    """One sentence per task: whether the default beats every baseline on localisation and faithfulness,
    each family's winner, and the matsight method recommended as the task's default."""
    lines = []
    for row in table.to_dict("records"):
        if row["passes"]:
            head = (
                f"{row['task']}: the default {row['default']} beats random, centre Gaussian and Sobel maps "
                "on every localisation and faithfulness metric in every seed"
            )
        else:
            failed = [
                key.replace("_beats_", " vs ") for key, value in row.items() if "_beats_" in key and value is not True
            ]
            head = (
                f"{row['task']}: the default {row['default']} does NOT beat every baseline "
                f"(fails: {', '.join(failed)}); methods that do: {row['passing_methods']}"
            )
        best = "" if row["passes_all"] else " (no matsight method beats every baseline: best mean rank)"
        lines.append(
            f"{head}. Localisation is won by {row['localisation_winner']}, faithfulness by "
            f"{row['faithfulness_winner']}; recommended default: {row['recommended_default']}{best}."
        )
    return lines


def markdown_leaderboard(board: pd.DataFrame, tasks: list[str], metrics: tuple[str, ...] = HEADLINE) -> str:
    """A markdown table: one row per method (matsight first, baselines last), one column per task and
    metric, cells ``mean ± sd`` over seeds, the best mean of each column in bold. Libraries whose row
    of cells is the same as another's for that method share its row: ``gradcam (matsight =
    pytorch-grad-cam = torchcam)``."""
    columns, cells = [], {}
    for task in tasks:
        for metric in metrics:
            part = board[(board["task"] == task) & (board["metric"] == metric)]
            if part.empty:
                continue
            columns.append((task, metric))
            best = part["mean"].max() if METRICS[metric].higher_is_better else part["mean"].min()
            for row in part.itertuples(index=False):
                text = f"{row.mean:.2f}" + (f" ± {row.sd:.2f}" if pd.notna(row.sd) else "")
                bold = f"{row.mean:.2f}" == f"{best:.2f}"
                cells[f"{row.library}:{row.method}", task, metric] = f"**{text}**" if bold else text
    rows: dict[tuple[str, tuple[str, ...]], list[str]] = {}  # (method, cells) -> libraries, in table order
    for key in method_order(board):
        library, method = key.split(":", 1)
        rows.setdefault((method, tuple(cells.get((key, t, m), "–") for t, m in columns)), []).append(library)
    header = "| method | " + " | ".join(f"{t} {SHORT_NAMES[m]}" for t, m in columns) + " |"
    lines = [header, "|" + "---|" * (len(columns) + 1)]
    for (method, row), libraries in rows.items():
        lines.append(f"| {method} ({' = '.join(libraries)}) | " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"


SHORT_NAMES = {
    "auroc": "AUROC",
    "insertion_minus_deletion": "ins−del",
    "faithfulness_correlation": "FC",
    "mass_ratio": "mass",
    "pointing_game": "pointing",
}


def recovery_line(board: pd.DataFrame) -> str:
    """The CPS concept and knob recovery (:mod:`matsight.benchmark.recovery`) in one sentence, from the
    leaderboard's recovery rows (mean ± sd over seeds)."""
    rows = board[board["metric"].isin(RECOVERY_METRICS)].set_index("metric")

    def cell(metric: str) -> str:
        if metric not in rows.index or pd.isna(rows.loc[metric, "mean"]):
            return "n/a"
        row = rows.loc[metric]
        return f"{row['mean']:.2f}" + (f" ± {row['sd']:.2f}" if pd.notna(row["sd"]) else "")

    n = int(rows["n"].max()) if len(rows) else 0
    return (
        f"CPS recovery over {n} seed(s), the formula as planted and with one coefficient negated: the pit-like "
        f"textures' AUROC in the texture table (1 = they fill the top, chance 0.5) is {cell('concept_auroc')} "
        f"as planted and {cell('concept_auroc_flipped')} with porosity flipped (difference "
        f"{cell('concept_flip')}, > 0 when the table follows the flip); the {KNOB} knob's control slope is "
        f"{cell('knob_control')}, the share of trusted knobs' sweeps with the planted sign "
        f"{cell('knob_sign_agreement')}, and the {KNOB} knob's sweep flips with the flipped {KNOB} "
        f"coefficient in a share {cell('knob_flip')} of the seeds where it passes the control check."
    )


def write_outputs(
    run: RunFolder,
    config: BenchmarkConfig,
    scores: pd.DataFrame,
    models: pd.DataFrame,
    recovered: RecoveryOutcome | None = None,
) -> list[str]:
    """Write ``tables/{scores,leaderboard,verdict,models,failures}.csv``, ``tables/leaderboard.md`` (the
    headline metrics as a markdown table), ``figures/leaderboard.png``, the CPS recovery's
    ``tables/recovery_{textures,knobs}.csv`` when it ran, and the report section; return the verdict
    lines (and the recovery's)."""
    failed = scores[scores["metric"] == "failed"]
    scores = scores[scores["metric"] != "failed"]
    board = leaderboard(scores)
    saliency_board = board[board["metric"].isin(METRICS)]
    run.write_table("scores", scores)
    run.write_table("leaderboard", board)
    run.write_table("models", models)
    if len(failed):
        run.write_table("failures", failed[["task", "seed", "method", "library"]])
    defaults = {t: (default_method(TASKS[t].kind), "matsight") for t in config.tasks}  # matsight saliency's
    table = verdict(scores, defaults)
    run.write_table("verdict", table)
    figure = leaderboard_figure(
        saliency_board, {t: TASKS[t].title for t in config.tasks}, config.seeds, run.figure_path("leaderboard.png")
    )
    lines = verdict_lines(table)
    tables = ["tables/verdict.csv", "tables/leaderboard.csv", "tables/models.csv"]
    if recovered is not None:
        run.write_table("recovery_textures", recovered.textures)
        run.write_table("recovery_knobs", recovered.knobs)
        tables += ["tables/recovery_textures.csv", "tables/recovery_knobs.csv"]
        lines.append(recovery_line(board))
    markdown = run.path / "tables" / "leaderboard.md"
    with atomic_path(markdown) as tmp:
        tmp.write_text(markdown_leaderboard(saliency_board, list(config.tasks)))
    settings = config.settings
    quality = models.drop(columns=[c for c in models.columns if c not in ("task", "r2", "accuracy", "mAP")])
    quality_text = "; ".join(
        f"{task}: "
        + ", ".join(
            f"{m} {part[m].mean():.2f} ± {part[m].std():.2f}" for m in part.columns[1:] if part[m].notna().any()
        )
        for task, part in quality.groupby("task", sort=False)
    )
    text = (
        f"{len(config.tasks)} tasks with planted causes, {config.seeds} seeds each (a seed = its own held-out "
        f"images and its own model), {settings.n_eval} explained instances per seed, preset {settings.name} "
        f"({settings.arch} models, {settings.image_size} px). Every matsight method, the same methods from "
        "pytorch-grad-cam, torchcam, captum and zennit, and three baselines (random, centre Gaussian, Sobel "
        "edges) are scored on localisation against the generators' masks (mass ratio, pointing game, AUROC), "
        "faithfulness (insertion − deletion, Quantus FaithfulnessCorrelation and ROAD), the randomisation "
        "check and cost. The verdict judges localisation by AUROC and faithfulness by insertion − deletion: a "
        "method beats a baseline when it is better on the mean and in every seed. "
        f"Held-out model quality: {quality_text}. "
        + " ".join(lines)
        + (f" {len(failed)} (method, task, seed) runs failed; see tables/failures.csv." if len(failed) else "")
    )
    write_section(
        run.path,
        Section(
            key="benchmark",
            title="Ground-truth benchmark of explanation methods",
            text=text,
            figures=[str(figure.relative_to(run.path))],
            tables=tables,
            order=26,
        ),
    )
    return lines
