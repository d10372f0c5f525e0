"""``matsight benchmark [--quick | --full] --out DIR``: explanation methods against planted causes."""

from __future__ import annotations

from pathlib import Path

import typer

from matsight.cli.outputs import OVERWRITE, claim_run


def register(app: typer.Typer, synth: typer.Typer) -> None:
    @app.command()
    def benchmark(
        out: Path = typer.Option(..., "--out", help="Run folder to write (rerun the same command to resume)."),
        quick: bool = typer.Option(False, "--quick", help="Tiny models, 48 px: ≤ 10 minutes on 2 CPU cores (default)."),
        full: bool = typer.Option(False, "--full", help="ResNet-18 / crystal ConvNet, 96 px: the GPU setting."),
        seeds: int = typer.Option(3, help="Model instances per task (each with its own held-out images)."),
        tasks: str = typer.Option("pits,cps,xray,crystals", help="Comma-separated subset of the four tasks."),
        methods: str = typer.Option(None, help="Comma-separated library:method keys (default: all)."),
        cache: Path = typer.Option(None, help="Folder for pools and trained models (default OUT/cache)."),
        seed: int = typer.Option(0, help="Seed of the task pools."),
        device: str = typer.Option("auto", help="auto, cpu or cuda."),
        workers: int = typer.Option(
            None, help="Processes scoring (task, seed) units side by side (default: one per CPU core; 1 on a GPU)."
        ),
        recovery: bool = typer.Option(
            None,
            "--recovery/--no-recovery",
            help="Also run the CPS task's concept and knob recovery, planted and flipped formula (default: with "
            "--full only; minutes per seed on a CPU).",
        ),
        overwrite: bool = OVERWRITE,
    ) -> None:
        """Score every explanation method, peer library and baseline against the generators' ground truth."""
        from matsight.benchmark import BenchmarkConfig, run
        from matsight.errors import ConfigError
        from matsight.utils import resolve_device

        if quick and full:
            raise ConfigError("--quick and --full exclude each other: give one of them")
        config = BenchmarkConfig(
            out=out,
            preset="full" if full else "quick",
            seeds=seeds,
            tasks=tuple(t.strip() for t in tasks.split(",") if t.strip()),
            methods=None if methods is None else tuple(m.strip() for m in methods.split(",") if m.strip()),
            cache=cache,
            seed=seed,
            device=str(resolve_device(device)),
            workers=workers,
            recovery=recovery,
        )
        claim_run(out, "benchmark", [], overwrite)
        folder = run(config)
        typer.echo(f"leaderboard: {folder.path / 'tables' / 'leaderboard.csv'}")
        typer.echo(f"figure: {folder.path / 'figures' / 'leaderboard.png'}; report: matsight report {folder.path}")
