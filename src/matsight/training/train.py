"""``matsight train``: read a dataset, split it, fit, evaluate, and fill the run folder."""

from __future__ import annotations

import numpy as np
import pandas as pd

from matsight.data import ImageDataset, ImageTable
from matsight.data.transforms import crop_size_for
from matsight.data.validate import check_trainable
from matsight.errors import RunFolderError
from matsight.models import build_model, load_model
from matsight.report import ORDER, Section, write_section
from matsight.scale import distributed
from matsight.store import RunFolder
from matsight.training import figures
from matsight.training.config import TrainConfig
from matsight.training.loop import fit
from matsight.training.metrics import classification_metrics, multilabel_metrics, per_group_means, regression_metrics
from matsight.training.predict import model_outputs, outputs_to_table, read_table
from matsight.utils import resolve_device, seed_everything


def split_indices(table: ImageTable, split: str, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Training and validation row indices: random tiles, or whole random lots (at least one)."""
    rng = np.random.default_rng(seed)
    if split == "lots":
        lots = np.array(sorted(set(table.groups)))
        held = set(rng.choice(lots, size=max(1, round(len(lots) * val_fraction)), replace=False))
        is_val = np.array([g in held for g in table.groups])
    else:
        is_val = np.zeros(len(table), bool)
        is_val[rng.permutation(len(table))[: max(1, round(len(table) * val_fraction))]] = True
    return np.flatnonzero(~is_val), np.flatnonzero(is_val)


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


def _meta(config: TrainConfig, table: ImageTable, train_rows: np.ndarray) -> dict:
    meta = {
        "arch": config.arch,
        "task": config.task,
        "target_names": table.target_names,
        "class_names": table.class_names,
        "image_size": config.image_size,
        "crop_size": crop_size_for(config.image_size),
        "channels": 1,
    }
    if config.task == "regression":
        values = table.targets[train_rows]
        meta.update(
            num_outputs=table.targets.shape[1],
            target_mean=values.mean(0).tolist(),
            target_std=np.maximum(values.std(0), 1e-8).tolist(),
        )
    else:
        meta["num_outputs"] = len(table.class_names) if config.task == "classification" else table.targets.shape[1]
    if config.arch == "crystal_convnet":
        meta.update(channels=3, crop_size=config.image_size)
    return meta


def evaluate(run: RunFolder, table: ImageTable, meta: dict, device) -> dict:
    """Metrics of the best checkpoint on ``table``; writes tables and figures into ``run``."""
    model, _ = load_model(run.path, device=device)
    dataset = ImageDataset(table, meta["image_size"], channels=meta["channels"], crop_size=meta["crop_size"])
    outputs = model_outputs(model, dataset, device)
    predictions = outputs_to_table(outputs, table, meta)
    run.write_table("predictions", predictions)
    task = meta["task"]
    if task == "regression":
        per_lot = per_group_means(table.groups, predictions["measured"], predictions["predicted"])
        run.write_table("per_lot", per_lot)
        result = {
            "tiles": regression_metrics(predictions["measured"], predictions["predicted"]),
            "lots": regression_metrics(per_lot["measured"], per_lot["predicted_mean"]),
        }
        figures.predicted_vs_measured(
            predictions, per_lot, meta["target_names"][0], run.figure_path("predicted_vs_measured.png")
        )
    elif task == "classification":
        result = classification_metrics(table.targets[:, 0], outputs, meta["class_names"])
        figures.confusion_matrix(
            result["confusion_matrix"], meta["class_names"], run.figure_path("confusion_matrix.png")
        )
    else:
        result = multilabel_metrics(table.targets, 1 / (1 + np.exp(-outputs)), meta["target_names"])
        run.write_table("per_attribute", pd.DataFrame(result["per_attribute"]).T.rename_axis("attribute").reset_index())
    return result


def _write_section(run: RunFolder, config: TrainConfig, metrics: dict) -> None:
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
    text = (
        f"A {config.arch} {task} model trained on `{config.data}` for {config.epochs} epochs "
        f"({config.split} split, {config.val_fraction:.0%} held out, images {config.image_size} px)."
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
    """Train as ``matsight train`` does and return the finished run folder."""
    seed_everything(config.seed)
    device = resolve_device(config.device)
    run = RunFolder(config.out)
    reads = [config.data, config.weights]
    if distributed.is_main():
        run.claim("train", reads=reads, overwrite=config.overwrite, check_only=True)
    table = read_table(config.data, config.task, config.target)
    check_trainable(table)
    train_rows, val_rows = split_indices(table, config.split, config.val_fraction, config.seed)
    if distributed.is_main():
        _check_resumable(run, config)
        run.claim("train", reads=reads, overwrite=config.overwrite)
        run.start("train", config.arguments(), seed=config.seed, inputs={"data": config.data})
    meta = _meta(config, table, train_rows)
    model = build_model(config.arch, config.task, meta["num_outputs"], weights=config.weights)
    channels, crop = meta["channels"], meta["crop_size"]
    train_set = ImageDataset(
        table.subset(train_rows), config.image_size, channels, augment=True, crop_size=crop, cache=True
    )
    val_set = ImageDataset(table.subset(val_rows), config.image_size, channels, crop_size=crop, cache=True)
    state = fit(
        model,
        train_set,
        val_set,
        task=config.task,
        run=run,
        epochs=config.epochs,
        batch_size=config.batch_size,
        optimizer=config.optimizer,
        lr=config.learning_rate,
        schedule=config.schedule,
        meta=meta,
        device=device,
        seed=config.seed,
    )
    if distributed.is_main():
        run.write_table("history", pd.DataFrame(state["history"]))
        figures.learning_curves(pd.DataFrame(state["history"]), run.figure_path("learning_curves.png"))
        metrics = evaluate(run, table.subset(val_rows), meta, device)
        run.write_json(
            "metrics.json",
            {
                "task": config.task,
                "best_epoch": state["best_epoch"],
                "validation": metrics,
                "train_images": len(train_rows),
                "validation_images": len(val_rows),
            },
        )
        _write_section(run, config, metrics)
        run.set_status("finished")
    distributed.barrier()
    return run
