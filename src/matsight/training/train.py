"""``matsight train``: read a dataset, split it, fit, evaluate, and fill the run folder."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from matsight.data import ImageTable
from matsight.data.intensity import Intensity, survey
from matsight.data.layouts import choose_target
from matsight.data.split import split_indices
from matsight.data.transforms import crop_size_for
from matsight.data.validate import check_trainable
from matsight.errors import DataLayoutError, RunFolderError
from matsight.models import ModelSpec, build_model, load_model
from matsight.ood.run import fit_run_reference
from matsight.progress import note
from matsight.report import ORDER, Section, write_section
from matsight.scale import distributed
from matsight.store import RunFolder
from matsight.training import figures
from matsight.training.config import TrainConfig
from matsight.training.loop import FitConfig, fit
from matsight.training.metrics import classification_metrics, multilabel_metrics, per_group_means, regression_metrics
from matsight.training.predict import model_outputs, outputs_to_table, read_table
from matsight.training.seen import SPLIT_TABLE, split_frame
from matsight.utils import resolve_device, seed_everything
from matsight.workflow import execute

LAYOUT_OF_TASK = {"regression": "lots", "multilabel": "multilabel", "classification": "classes"}


def _check_resumable(run: RunFolder, config: TrainConfig) -> None:
    if not run.manifest_path.exists() or config.overwrite:
        for stale in ("last.pt", "checkpoint.pt"):
            (run.path / stale).unlink(missing_ok=True)
        return
    previous = run.read_manifest()
    if previous.get("command") != "train" or previous.get("arguments") != config.arguments():
        raise RunFolderError(
            f"{run.path} holds a run made with other arguments: choose another --out, or pass --overwrite to replace it"
        )


@dataclass
class TrainingData:
    """The measured images ``table`` a run trains on, and the unmeasured lots it left out."""

    table: ImageTable
    unmeasured_lots: list[str]
    unmeasured_images: int


def read_training_data(config: TrainConfig) -> TrainingData:
    """``config.data`` read for ``config.task``; lots without a value in the property column are left out."""
    target = choose_target(config.data, config.target) if config.task == "regression" else None
    table = read_table(config.data, config.task, target)
    check_trainable(table)
    measured = table.measured()
    unmeasured = sorted(set(table.groups) - set(measured.groups))
    if not len(measured):
        raise DataLayoutError(
            f"{config.data / 'lots.csv'}: no lot has a value in column '{target}'; "
            "write the measured values, or choose another column with --target"
        )
    values = np.unique(measured.targets[:, 0]) if config.task == "regression" else None
    if values is not None and len(values) < 2:
        raise DataLayoutError(
            f"{config.data / 'lots.csv'}: every measured lot has {target} = {values[0]:g}; a regressor needs "
            "lots with different values to learn from (and R² is undefined): add lots, or choose another --target"
        )
    return TrainingData(measured, unmeasured, len(table) - len(measured))


def model_spec(config: TrainConfig, table: ImageTable, train_rows: np.ndarray, intensity: Intensity) -> ModelSpec:
    """The :class:`ModelSpec` of a model trained as ``config`` says on the rows ``train_rows`` of ``table``."""
    regression = config.task == "regression"
    values = table.targets[train_rows]
    num_outputs = table.targets.shape[1] if config.task != "classification" else len(table.class_names)
    crystal = config.arch == "crystal_convnet"
    return ModelSpec(
        arch=config.arch,
        task=config.task,
        num_outputs=num_outputs,
        target_names=tuple(table.target_names),
        target_units=(config.units or "",) * len(table.target_names) if config.units else (),
        class_names=tuple(table.class_names),
        attribute_names=tuple(table.attribute_names),
        image_size=config.image_size,
        crop_size=config.image_size if crystal else crop_size_for(config.image_size),
        channels=3 if crystal else 1,
        intensity=intensity,
        target_mean=tuple(values.mean(0).tolist()) if regression else (),
        target_std=tuple(np.maximum(values.std(0), 1e-8).tolist()) if regression else (),
        layout=LAYOUT_OF_TASK[config.task],
    )


def target_label(spec: ModelSpec) -> str:
    """The property's name with its unit, e.g. ``yield_mpa (MPa)``."""
    unit = spec.unit(0)
    return f"{spec.target} ({unit})" if unit else str(spec.target)


def evaluate(run: RunFolder, table: ImageTable, spec: ModelSpec, device) -> dict:
    """Metrics of the best checkpoint on ``table``; writes tables and figures into ``run``."""
    model, _ = load_model(run.path, device=device)
    outputs = model_outputs(model, spec.dataset(table), device)
    predictions = outputs_to_table(outputs, table, spec)
    run.write_table("predictions", predictions)
    if spec.task == "regression":
        per_lot = per_group_means(table.groups, predictions["measured"], predictions["predicted"])
        run.write_table("per_lot", per_lot)
        result = {
            "tiles": regression_metrics(predictions["measured"], predictions["predicted"]),
            "lots": regression_metrics(per_lot["measured"], per_lot["predicted_mean"]),
        }
        figures.predicted_vs_measured(
            predictions, per_lot, target_label(spec), run.figure_path("predicted_vs_measured.png")
        )
    elif spec.task == "classification":
        result = classification_metrics(table.targets[:, 0], outputs, list(spec.class_names))
        figures.confusion_matrix(
            result["confusion_matrix"], list(spec.class_names), run.figure_path("confusion_matrix.png")
        )
    else:
        result = multilabel_metrics(table.targets, 1 / (1 + np.exp(-outputs)), list(spec.target_names))
        run.write_table("per_attribute", pd.DataFrame(result["per_attribute"]).T.rename_axis("attribute").reset_index())
    return result


def _write_section(run: RunFolder, config: TrainConfig, spec: ModelSpec, metrics: dict, data: TrainingData) -> None:
    task = config.task
    if task == "regression":
        headline = {
            "held-out R² (tiles)": metrics["tiles"]["r2"],
            "held-out MAE (tiles)": metrics["tiles"]["mae"],
            "held-out R² (lot means)": metrics["lots"]["r2"],
            "held-out MAE (lot means)": metrics["lots"]["mae"],
        }
        figs, tables = ["figures/predicted_vs_measured.png", "figures/learning_curves.png"], ["tables/per_lot.csv"]
    elif task == "classification":
        headline = {"held-out accuracy": metrics["accuracy"]}
        figs, tables = ["figures/confusion_matrix.png", "figures/learning_curves.png"], []
    else:
        headline = {"held-out mAP": metrics["map"]}
        figs, tables = ["figures/learning_curves.png"], ["tables/per_attribute.csv"]
    predicts = f" of {spec.target}" if task == "regression" else ""
    left_out = (
        f" {len(data.unmeasured_lots)} lot(s) without a measured {spec.target} were left out."
        if data.unmeasured_lots
        else ""
    )
    text = (
        f"A {config.arch} {task} model{predicts} trained on `{config.data}` for {config.epochs} epochs "
        f"({config.split} split, {config.val_fraction:.0%} held out, images {config.image_size} px).{left_out}"
    )
    write_section(
        run.path,
        Section(
            key=f"training-{run.path.name}",
            title=f"Training: {run.path.name}",
            text=text,
            figures=figs,
            tables=tables,
            metrics=headline,
            order=ORDER["training"],
        ),
    )


def train(config: TrainConfig) -> RunFolder:
    """Train as ``matsight train`` does and return the finished run folder.

    Lots whose property cell is blank are left out (``metrics.json`` counts them); the split used is
    written to ``tables/split`` (:mod:`matsight.training.seen`). Under torchrun every rank trains;
    rank 0 alone claims the folder, writes the manifest, the results and the status.
    """
    seed_everything(config.seed)
    device = resolve_device(config.device)
    run = RunFolder(config.out)
    if distributed.is_main():
        run.claim(config.command, reads=list(config.inputs().values()), overwrite=config.overwrite, check_only=True)
    data = read_training_data(config)
    if config.weights is not None:  # a file that is no state dict of this architecture fails before the folder
        build_model(config.arch, config.task, 1, weights=config.weights)
    train_rows, val_rows = split_indices(data.table, config.split, config.val_fraction, config.seed)
    if distributed.is_main():
        _check_resumable(run, config)

    def body(folder: RunFolder) -> RunFolder:
        _train(config, data, train_rows, val_rows, device, folder)
        return folder

    result = execute(config, body, run) if distributed.is_main() else body(run)
    distributed.barrier()
    return result


def _train(
    config: TrainConfig,
    data: TrainingData,
    train_rows: np.ndarray,
    val_rows: np.ndarray,
    device,
    run: RunFolder,
) -> None:
    """Fit, evaluate and fill ``run`` (results on rank 0 only)."""
    table = data.table
    if distributed.is_main():
        run.write_table(SPLIT_TABLE, split_frame(table, train_rows, val_rows))
    surveys = survey(table.paths)
    spec = model_spec(config, table, train_rows, Intensity.fit(surveys))
    decoder = spec.intensity.decoder(surveys)
    model = build_model(config.arch, config.task, spec.num_outputs, weights=config.weights)
    train_set = spec.dataset(table.subset(train_rows), augment=True, cache=True, decoder=decoder)
    val_set = spec.dataset(table.subset(val_rows), cache=True, decoder=decoder)
    fit_config = FitConfig(
        epochs=config.epochs,
        batch_size=config.batch_size,
        optimizer=config.optimizer,
        lr=config.learning_rate,
        schedule=config.schedule,
        seed=config.seed,
        device=device,
    )
    state = fit(model, train_set, val_set, spec, run, fit_config)
    if distributed.is_main():
        run.write_table("history", pd.DataFrame(state["history"]))
        figures.learning_curves(pd.DataFrame(state["history"]), run.figure_path("learning_curves.png"))
        metrics = evaluate(run, table.subset(val_rows), spec, device)
        note("fitting the out-of-distribution reference on the training and held-out images")
        best, _ = load_model(run.path, device=device)
        fit_run_reference(
            run.path, best, spec, table.subset(train_rows), table.subset(val_rows), device, decoder=decoder
        )
        run.write_json(
            "metrics.json",
            {
                "task": config.task,
                "target": spec.target,
                "best_epoch": state["best_epoch"],
                "validation": metrics,
                "train_images": len(train_rows),
                "validation_images": len(val_rows),
                "unmeasured_lots_left_out": len(data.unmeasured_lots),
                "unmeasured_images_left_out": data.unmeasured_images,
            },
        )
        _write_section(run, config, spec, metrics, data)
