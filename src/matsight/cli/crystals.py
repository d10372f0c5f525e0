"""``matsight crystals build|train|robustness|map|explain``: the crystal-structure study.

A thin shell: every option's default is read from the workflow's config dataclass
(:mod:`matsight.crystals.config`), so the CLI and the API cannot drift apart. Each command builds
its config first (every option checked, a ConfigError naming it), checks the runs it reads, claims
its output folder (never an input; another command's output only with ``--overwrite``), then runs.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import typer

from matsight.cli.engine_options import ADDRESS, ENGINE, WORKERS, engine_from
from matsight.cli.outputs import OVERWRITE, claim_dataset, claim_run, record_output


def default(config: Any, name: str) -> Any:
    """The library default of field ``name`` of the config dataclass ``config``."""
    return {f.name: f.default for f in dataclasses.fields(config)}[name]


def require_classifier(run: Path, descriptor: str, purpose: str) -> None:
    """ConfigError unless ``run`` holds the crystal classifier reading ``descriptor``."""
    from matsight import options
    from matsight.crystals.train import ARCHS

    options.require_model(run, purpose, archs=(ARCHS[descriptor],))


def register(app: typer.Typer, synth: typer.Typer) -> None:
    from matsight.crystals.config import (
        DEFAULT_BATCH_SIZE,
        DEFAULT_EPOCHS,
        BuildConfig,
        ExplainConfig,
        MapConfig,
        RobustnessConfig,
        TrainConfig,
    )

    crystals = typer.Typer(
        help="Crystal structures: prototype library, diffraction-fingerprint ConvNet and SOAP MLP vs spglib.",
        no_args_is_help=True,
    )
    app.add_typer(crystals, name="crystals")

    @crystals.command("build")
    def build_command(
        out: Path = typer.Argument(..., help="Folder to write (layout 5: structures/ + labels.csv + descriptors)."),
        n: int = typer.Option(
            default(BuildConfig, "n"), help="Number of pristine structures, classes balanced (default: 20 per class)."
        ),
        seed: int = typer.Option(default(BuildConfig, "seed")),
        split: str = typer.Option(
            default(BuildConfig, "split"), help="Elements: train (no held-out element), test, any."
        ),
        max_rotation: float = typer.Option(
            default(BuildConfig, "max_rotation"), help="Random rotation up to this many degrees."
        ),
        device: str = typer.Option("auto"),
        engine: str = ENGINE,
        address: str = ADDRESS,
        workers: int = WORKERS,
        overwrite: bool = OVERWRITE,
    ) -> None:
        """Write pristine library structures with their fingerprints and SOAP vectors (resumable chunks)."""
        from matsight.crystals.train import build_dataset
        from matsight.utils import resolve_device

        config = BuildConfig(
            out=out, n=n, seed=seed, split=split, max_rotation=max_rotation, device=str(resolve_device(device))
        )
        chosen = engine_from(engine, address, workers)
        claim_dataset(out, "crystals build", [], overwrite, resume=True)
        try:
            folder = build_dataset(config, chosen)
        finally:
            record_output(out)
        typer.echo(folder)

    @crystals.command()
    def train(
        data: Path = typer.Argument(..., help="Layout-5 folder (matsight crystals build, or your own)."),
        out: Path = typer.Option(..., "--out", help="Run folder to write."),
        descriptor: str = typer.Option(default(TrainConfig, "descriptor"), help="fingerprint (ConvNet) or soap (MLP)."),
        epochs: int = typer.Option(
            None, help=f"Default: {DEFAULT_EPOCHS['fingerprint']} (ConvNet), {DEFAULT_EPOCHS['soap']} (SOAP MLP)."
        ),
        batch_size: int = typer.Option(
            None,
            help=f"Default: {DEFAULT_BATCH_SIZE['fingerprint']} (ConvNet), {DEFAULT_BATCH_SIZE['soap']} (SOAP MLP).",
        ),
        lr: float = typer.Option(default(TrainConfig, "lr")),
        seed: int = typer.Option(default(TrainConfig, "seed")),
        device: str = typer.Option("auto"),
        overwrite: bool = OVERWRITE,
    ) -> None:
        """Train the ConvNet (fingerprints) or the SOAP MLP on DATA (Adam, 10 % validation split)."""
        from matsight.crystals.train import run_train
        from matsight.utils import resolve_device

        config = TrainConfig(
            out=out,
            data=data,
            descriptor=descriptor,
            epochs=epochs,
            batch_size=batch_size,
            lr=lr,
            seed=seed,
            device=str(resolve_device(device)),
        )
        claim_run(out, config.command, [data], overwrite)
        metrics = run_train(config).read_json("metrics.json")
        typer.echo(f"validation accuracy: {100 * metrics['val_accuracy']:.1f} % (n={metrics['n_val']})")

    @crystals.command()
    def robustness(
        convnet: Path = typer.Option(
            ..., "--convnet", help="Run folder of matsight crystals train --descriptor fingerprint."
        ),
        soap: Path = typer.Option(..., "--soap", help="Run folder of matsight crystals train --descriptor soap."),
        out: Path = typer.Option(..., "--out", help="Run folder for tables/robustness.csv and the figure."),
        per_class: int = typer.Option(default(RobustnessConfig, "per_class"), help="Structures per class and level."),
        mc_samples: int = typer.Option(default(RobustnessConfig, "mc_samples"), help="MC-dropout passes."),
        seed: int = typer.Option(default(RobustnessConfig, "seed")),
        device: str = typer.Option("auto"),
        overwrite: bool = OVERWRITE,
    ) -> None:
        """ConvNet, SOAP MLP and spglib (three tolerances) on held-out elements with growing defects."""
        from matsight.crystals.robustness import run_robustness
        from matsight.utils import resolve_device

        config = RobustnessConfig(
            out=out,
            convnet=convnet,
            soap=soap,
            per_class=per_class,
            mc_samples=mc_samples,
            seed=seed,
            device=str(resolve_device(device)),
        )
        require_classifier(convnet, "fingerprint", "crystals robustness --convnet")
        require_classifier(soap, "soap", "crystals robustness --soap")
        claim_run(out, config.command, [convnet, soap], overwrite)
        table = run_robustness(config).read_table("robustness")
        typer.echo(table.pivot_table(index=["axis", "label"], columns="method", values="accuracy", sort=False).round(1))

    @crystals.command("map")
    def map_command(
        convnet: Path = typer.Option(..., "--convnet", help="Run folder of the ConvNet."),
        soap: Path = typer.Option(..., "--soap", help="Run folder of the SOAP MLP."),
        out: Path = typer.Option(..., "--out", help="Run folder for the map figure and the window table."),
        grain: list[str] = typer.Option(
            None, help="PROTOTYPE:ELEMENTS:X:Y[:DEGREES], e.g. A1_fcc:Ni:0.25:0.5 (repeat; default: fcc Ni | bcc Cr)."
        ),
        stride: float = typer.Option(
            default(MapConfig, "stride"), help="Window stride in nearest-neighbour distances."
        ),
        mc_samples: int = typer.Option(default(MapConfig, "mc_samples"), help="MC-dropout passes."),
        seed: int = typer.Option(default(MapConfig, "seed")),
        device: str = typer.Option("auto"),
        overwrite: bool = OVERWRITE,
    ) -> None:
        """Classify strided windows of a polycrystal: class, entropy and mutual information maps."""
        from matsight.crystals.config import parse_grain
        from matsight.crystals.polycrystal import run_map
        from matsight.utils import resolve_device

        config = MapConfig(
            out=out,
            convnet=convnet,
            soap=soap,
            grains=tuple(parse_grain(g) for g in grain) if grain else default(MapConfig, "grains"),
            stride=stride,
            mc_samples=mc_samples,
            seed=seed,
            device=str(resolve_device(device)),
        )
        require_classifier(convnet, "fingerprint", "crystals map --convnet")
        require_classifier(soap, "soap", "crystals map --soap")
        claim_run(out, config.command, [convnet, soap], overwrite)
        for key, value in run_map(config).read_json("metrics.json").items():
            typer.echo(f"{key}: {value}")

    @crystals.command()
    def explain(
        run: Path = typer.Argument(..., help="Run folder of matsight crystals train --descriptor fingerprint."),
        out: Path = typer.Option(..., "--out", help="Run folder for the per-class figures."),
        classes: list[str] = typer.Option(None, "--class", help="Prototype to explain (repeat; default: four)."),
        top_n: int = typer.Option(default(ExplainConfig, "top_n"), help="Top units of the response maps."),
        seed: int = typer.Option(default(ExplainConfig, "seed")),
        device: str = typer.Option("auto"),
        overwrite: bool = OVERWRITE,
    ) -> None:
        """Attentive response maps and CLEAR maps per class, pristine and defective example."""
        from matsight.crystals.explain import run_explain
        from matsight.utils import resolve_device

        config = ExplainConfig(
            out=out,
            run=run,
            classes=tuple(classes) if classes else default(ExplainConfig, "classes"),
            top_n=top_n,
            seed=seed,
            device=str(resolve_device(device)),
        )
        require_classifier(run, "fingerprint", "crystals explain")
        claim_run(out, config.command, [run], overwrite)
        for path in sorted((run_explain(config).path / "figures").glob("explain_*.png")):
            typer.echo(path)
