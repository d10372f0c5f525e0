"""``matsight train`` and ``matsight predict``."""

from __future__ import annotations

from pathlib import Path

import typer

from matsight.cli.engine_options import ADDRESS, ENGINE, WORKERS, engine_from


def register(app: typer.Typer, synth: typer.Typer) -> None:
    @app.command()
    def train(
        data: Path = typer.Argument(
            ..., help="Dataset folder (docs/data-layouts.md: layout 1 lots, 2 multi-label or 3 classes)."
        ),
        out: Path = typer.Option(..., "--out", help="Run folder to write (rerun the same command to resume)."),
        task: str = typer.Option("regression", help="regression, classification or multilabel."),
        arch: str = typer.Option("resnet18", help="resnet18/34/50, wide_resnet50_2, densenet121, crystal_convnet."),
        target: str = typer.Option(
            None,
            help="Property column of lots.csv to predict (regression); needed only when lots.csv has several "
            "numeric columns. Lots with an empty cell are left out.",
        ),
        units: str = typer.Option(None, help="Unit of the property, e.g. MPa (shown on figures)."),
        epochs: int = typer.Option(30),
        image_size: int = typer.Option(128, help="Resize images to this many pixels (square); 384 in the paper."),
        batch_size: int = typer.Option(32),
        split: str = typer.Option("tiles", help="Hold out random tiles or whole lots."),
        weights: Path = typer.Option(
            None, help="Local initial weights (torchvision state dict or matsight checkpoint)."
        ),
        optimizer: str = typer.Option("sgd", help="sgd (paper: lr 0.01, momentum 0.9, wd 2e-4) or adam."),
        lr: float = typer.Option(None, help="Learning rate (default 0.01 for sgd, 1e-3 for adam)."),
        schedule: str = typer.Option(
            "exponential", help="Learning rate per epoch: exponential (x0.95) or cosine (to 0)."
        ),
        seed: int = typer.Option(0),
        device: str = typer.Option("auto", help="auto, cpu, cuda or cuda:N."),
        overwrite: bool = typer.Option(False, help="Replace a run folder made with other arguments."),
    ) -> None:
        """Train a model; writes checkpoint, metrics, tables, figures and a report section into OUT."""
        from matsight.scale import distributed
        from matsight.training import TrainConfig
        from matsight.training import train as run_training

        run = run_training(
            TrainConfig(
                data=data,
                out=out,
                task=task,
                arch=arch,
                target=target,
                units=units,
                epochs=epochs,
                image_size=image_size,
                batch_size=batch_size,
                split=split,
                weights=weights,
                optimizer=optimizer,
                lr=lr,
                schedule=schedule,
                seed=seed,
                device=device,
                overwrite=overwrite,
            )
        )
        if distributed.is_main():
            metrics = run.read_json("metrics.json")
            _print_metrics(metrics)
            if metrics.get("unmeasured_lots_left_out"):
                typer.echo(
                    f"left out {metrics['unmeasured_lots_left_out']} lot(s) without a measured {metrics['target']} "
                    f"({metrics['unmeasured_images_left_out']} images): predict them with `matsight predict "
                    f"{run.path} {data}`"
                )
            typer.echo(f"run folder: {run.path}")

    @app.command()
    def predict(
        run: Path = typer.Argument(
            ..., help="Run folder of matsight train (it knows the target and the image settings)."
        ),
        data: Path = typer.Argument(
            ...,
            help="Images to predict: the training layout (empty or missing property cells are fine) or any folder "
            "of images (any nesting; the sub-folder is the lot).",
        ),
        out: Path = typer.Option(None, help="CSV to write (default RUN/predictions_<data>.csv)."),
        device: str = typer.Option("auto"),
        batch_size: int = typer.Option(64, help="Images per batch and per resumable chunk."),
        engine: str = ENGINE,
        address: str = ADDRESS,
        workers: int = WORKERS,
        overwrite: bool = typer.Option(False, help="Replace an existing --out file."),
    ) -> None:
        """Predict every image of DATA with the model in RUN; writes a CSV in the user's units.

        Columns: image, lot, predicted, measured (empty when not measured), split (train, held-out or new),
        out_of_distribution, ood_score, outside_target_range and ood_reasons (images unlike the training data).
        The model outputs are kept in chunks under RUN/arrays/predictions_<data>/: a rerun resumes."""
        from matsight import options
        from matsight.models import read_spec
        from matsight.store import RunFolder, atomic_path, claim_file
        from matsight.training import predict as run_predict
        from matsight.utils import resolve_device

        options.at_least("--batch-size", batch_size, 1)
        dev, chosen = str(resolve_device(device)), engine_from(engine, address, workers)
        RunFolder(run, create=False)
        read_spec(run)  # a damaged or unsafe checkpoint is named before anything else
        default = run / f"predictions_{data.resolve().name}.csv"
        path = claim_file(out or default, reads=[run, data], overwrite=overwrite, default=out is None)
        table = run_predict(
            run,
            data,
            device=dev,
            engine=chosen,
            chunks=run / "arrays" / f"predictions_{data.resolve().name}",
            batch_size=batch_size,
        )
        with atomic_path(path) as tmp:
            table.to_csv(tmp, index=False)
        counts = table["split"].value_counts()
        seen = ", ".join(f"{counts[k]} {k}" for k in ("train", "held-out", "new") if k in counts)
        typer.echo(f"{len(table)} predictions ({seen}) written to {path}")
        if "ood_summary" in table.attrs:
            typer.echo(table.attrs["ood_summary"])


def _number(value: float | None, spec: str) -> str:
    """``value`` formatted, or "n/a" where the metric is undefined (e.g. R² of a single held-out lot)."""
    return "n/a" if value is None else format(value, spec)


def _print_metrics(metrics: dict) -> None:
    from rich.console import Console

    validation, console = metrics["validation"], Console()
    if metrics["task"] == "regression":
        t, lots = validation["tiles"], validation["lots"]
        console.print(
            f"held-out tiles: R² {_number(t['r2'], '.3f')}  MAE {_number(t['mae'], '.4g')}  "
            f"RMSE {_number(t['rmse'], '.4g')}; lot means: R² {_number(lots['r2'], '.3f')}  "
            f"MAE {_number(lots['mae'], '.4g')}"
        )
    elif metrics["task"] == "classification":
        console.print(f"held-out accuracy {validation['accuracy']:.3f}")
    else:
        console.print(f"held-out mAP {validation['map']:.3f}")
