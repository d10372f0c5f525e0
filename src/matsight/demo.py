"""``matsight demo``: every workflow end to end on synthetic data, one HTML report at the end.

Each workflow contributes a step: a module with a ``run_demo`` function that works under
``ctx.root`` with its presets (``DEMO_PRESETS["cpu" | "full"]`` in that module), records its run
folders in ``ctx.report_runs`` (their report sections end up in the combined report) and prints its
headline numbers with ``ctx.console``. Results pass by return value: in each part of :data:`PARTS`,
the first step is ``run_demo(ctx) -> result`` and every later step is ``run_demo(ctx, result)``
(e.g. the SEM part's trained regressor and its lots, read by saliency, textures and knobs).
"""

from __future__ import annotations

import importlib
import time
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.table import Table

from matsight.errors import ConfigError

PARTS: dict[str, list[str]] = {
    "sem": [
        "matsight.training.demo",
        "matsight.saliency.demo",
        "matsight.benchmark.demo",
        "matsight.textures.demo",
        "matsight.knobs.demo",
    ],
    "xray": ["matsight.analytics.demo"],
    "crystals": ["matsight.crystals.demo"],
}


@dataclass
class DemoContext:
    """State shared by the demo steps.

    ``root``: the demo folder; ``full``: bigger GPU-sized settings instead of the 2-core CPU
    defaults; ``device``: torch device string; ``report_runs``: run folders whose report sections go
    into the combined report;
    ``headlines``: one line per headline number, printed at the end.
    """

    root: Path
    full: bool = False
    seed: int = 0
    device: str = "cpu"
    console: Console = field(default_factory=Console)
    report_runs: list[Path] = field(default_factory=list)
    headlines: list[tuple[str, str]] = field(default_factory=list)


def run_demo(part: str, root: Path, full: bool = False, seed: int = 0, device: str = "cpu") -> Path:
    """Run the demo steps of ``part`` (``sem``, ``xray``, ``crystals`` or ``all``); return the report path."""
    from matsight.report import build_study_report
    from matsight.store import RunFolder

    if part != "all" and part not in PARTS:
        raise ConfigError(f"unknown demo part {part!r}: choose all, {', '.join(PARTS)}")
    ctx = DemoContext(root=Path(root), full=full, seed=seed, device=device)
    run = RunFolder(ctx.root)
    run.start("demo", {"part": part, "full": full, "device": device}, seed=seed)
    timings = Table("step", "seconds", title="matsight demo")
    for steps in [steps for name, steps in PARTS.items() if part in ("all", name)]:
        first_result = None
        for index, module_name in enumerate(steps):
            step = importlib.import_module(module_name)
            ctx.console.rule(module_name.split(".")[1])
            start = time.perf_counter()
            if index == 0:
                first_result = step.run_demo(ctx)
            else:
                step.run_demo(ctx, first_result)
            timings.add_row(module_name, f"{time.perf_counter() - start:.1f}")
    report = build_study_report([ctx.root, *ctx.report_runs], title="matsight demo report")
    run.set_status("finished", headlines=dict(ctx.headlines))
    ctx.console.print(timings)
    for name, value in ctx.headlines:
        ctx.console.print(f"[bold]{name}[/]: {value}")
    ctx.console.print(f"report: {report}")
    return report
