"""``matsight saliency RUN DATA --method ... --out DIR``."""

from __future__ import annotations

from pathlib import Path

import typer

from matsight.cli.engine_options import ADDRESS, ENGINE, WORKERS, engine_from
from matsight.cli.outputs import OVERWRITE, claim_run
from matsight.saliency.registry import DEFAULT_METHOD, METHODS


def _names(values: list[str] | None) -> list[str]:
    """``["A,B", "C"]`` -> ``["A", "B", "C"]`` (options given comma-separated or repeated)."""
    return [name.strip() for value in values or [] for name in value.split(",") if name.strip()]


def register(app: typer.Typer, synth: typer.Typer) -> None:
    @app.command()
    def saliency(
        run: Path = typer.Argument(..., help="Trained run folder (or checkpoint file)."),
        data: Path = typer.Argument(..., help="Dataset folder (layout 1 lots, 2 multi-label or 3 classes)."),
        out: Path = typer.Option(..., "--out", help="Run folder to write (rerun the same command to resume)."),
        method: str = typer.Option(
            None,
            help=f"One of {', '.join(METHODS)}. Default: the model's task's "
            f"({', '.join(f'{task} {key}' for task, key in DEFAULT_METHOD.items())}); docs/saliency.md says "
            "which method answers which question.",
        ),
        target: int = typer.Option(
            None,
            help="Class or attribute index explained for every image. Omit: a regressor's output; on a "
            "classifier or tagger, each image's top-scoring class or attribute (column explained).",
        ),
        sign: int = typer.Option(1, help="+1: what pushes the output up; -1: down."),
        batch_size: int = typer.Option(16),
        max_images: int = typer.Option(None, help="Explain only the first N images."),
        device: str = typer.Option("cpu", help="cpu or cuda."),
        lots: list[str] = typer.Option(
            None,
            "--lots",
            help="Explain and draw only these lots (comma-separated or repeated; default: all, "
            "overlays spread over up to 6 lots).",
        ),
        images: list[str] = typer.Option(
            None,
            "--images",
            help="Explain and draw only these images (file names or paths inside DATA; comma-separated or repeated).",
        ),
        evaluate: bool = typer.Option(
            False,
            "--evaluate",
            help="Also measure faithfulness (Quantus FaithfulnessCorrelation, "
            "RegionPerturbation, ROAD, MPRT and insertion - deletion, each against random maps) on up to 16 "
            "images: tables/faithfulness.csv and a report section.",
        ),
        engine: str = ENGINE,
        address: str = ADDRESS,
        workers: int = WORKERS,
        overwrite: bool = OVERWRITE,
    ) -> None:
        """Write saliency maps (chunked, resumable), a table and overlay figures into OUT."""
        from matsight.saliency.config import SaliencyConfig
        from matsight.saliency.runner import run as run_saliency
        from matsight.utils import resolve_device

        config = SaliencyConfig(
            out=out,
            run=run,
            data=data,
            method=method,
            target=target,
            sign=sign,
            lots=tuple(_names(lots)),
            images=tuple(_names(images)),
            max_images=max_images,
            evaluate=evaluate,
            batch_size=batch_size,
            device=str(resolve_device(device)),
            engine=engine_from(engine, address, workers),
            overwrite=overwrite,
        )
        claim_run(out, "saliency", [run, data], overwrite)
        folder = run_saliency(config)
        maps = folder.read_table("maps")
        typer.echo(f"{folder.read_manifest()['arguments']['method']} maps of {len(maps)} images")
        if maps["empty_map"].any():
            typer.echo(f"{int(maps['empty_map'].sum())} of {len(maps)} maps are all zero (flagged in empty_map)")
        if evaluate:
            table = folder.read_table("faithfulness")[["method", "metric", "mean", "sd", "n", "random_baseline"]]
            typer.echo(table.to_string(index=False, float_format="%.3f"))
        typer.echo(f"run folder: {folder.path}")
