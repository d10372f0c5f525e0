"""Demo step: procedural texture bank → probe the trained SEM regressor → ranked textures in the report.

Uses ``ctx.shared["sem_lots"]`` and ``ctx.shared["sem_run"]`` from the training step. CPU settings
(28 classes × 8 images of 64 px, 100 bootstrap draws, 499 permutations) fit in ~90 s on 2 cores.
"""

from __future__ import annotations

from matsight.concepts.analysis import analyse
from matsight.synth.textures import POROSITY_FAMILY, generate_bank

CPU_SETTINGS = dict(per_class=8, size=64)
FULL_SETTINGS = dict(per_class=40, size=256)


def run_demo(ctx) -> None:
    """Write ``ctx.root/"texture-bank"`` and the ``ctx.root/"textures"`` run; add headlines."""
    if "sem_run" not in ctx.shared or "sem_lots" not in ctx.shared:
        ctx.console.print("[yellow]textures: no trained SEM run in this demo, skipping[/]")
        return
    settings = FULL_SETTINGS if ctx.full else CPU_SETTINGS
    bank = ctx.root / "texture-bank"
    if not bank.exists():
        generate_bank(bank, seed=ctx.seed, **settings)
    out = ctx.root / "textures"
    result = analyse(
        ctx.shared["sem_run"],
        ctx.shared["sem_lots"],
        bank,
        out,
        device=ctx.device,
        seed=ctx.seed,
        n_boot=100 if not ctx.full else 1000,
        n_perm=499 if not ctx.full else 9999,
        highlight=POROSITY_FAMILY,
    )
    ctx.report_runs.append(out)
    table = result.table()
    top = ", ".join(f"{t} {s:+.2f}" for t, s in zip(table.texture[:3], table.score[:3]))
    ctx.headlines.append(("textures: top 3 (score)", top))
    ctx.headlines.append(("textures: bottom", f"{table.texture.iloc[-1]} {table.score.iloc[-1]:+.2f}"))
    ctx.shared["texture_run"] = out
