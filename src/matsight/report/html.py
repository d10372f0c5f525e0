"""The self-contained HTML report: figures embedded as base64, tables inline, the manifest."""

from __future__ import annotations

import base64
import html
import json
import os
from pathlib import Path

import pandas as pd

from matsight.report.sections import Section, read_sections
from matsight.store.atomic import atomic_write_text

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;max-width:1100px;margin:2em auto;
padding:0 1em;color:#222;line-height:1.45}
h1{border-bottom:2px solid #0072B2;padding-bottom:.3em}h2{margin-top:2em;color:#0072B2}
table{border-collapse:collapse;margin:.8em 0;font-size:.9em}
td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}
th{background:#f2f2f2}td:first-child,th:first-child{text-align:left}
figure{margin:1em 0}figure img{max-width:100%;border:1px solid #ddd}figcaption{font-size:.85em;color:#555}
details pre{background:#f7f7f7;padding:1em;overflow:auto;font-size:.8em}.muted{color:#666;font-size:.9em}
"""

MAX_TABLE_ROWS = 40


def _figure_html(path: Path) -> str:
    if not path.exists():
        return f"<p class='muted'>figure {html.escape(path.name)} is missing</p>"
    mime = "image/svg+xml" if path.suffix == ".svg" else "image/png"
    data = base64.b64encode(path.read_bytes()).decode()
    return (
        f"<figure><img alt='{html.escape(path.stem)}' src='data:{mime};base64,{data}'>"
        f"<figcaption>{html.escape(path.name)}</figcaption></figure>"
    )


def _table_html(path: Path) -> str:
    if not path.exists():
        return f"<p class='muted'>table {html.escape(path.name)} is missing</p>"
    table = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    note = ""
    if len(table) > MAX_TABLE_ROWS:
        note = (
            f"<p class='muted'>first {MAX_TABLE_ROWS} of {len(table)} rows; "
            f"the full table is {html.escape(path.name)}</p>"
        )
        table = table.head(MAX_TABLE_ROWS)
    return (
        f"<h4>{html.escape(path.stem)}</h4>"
        + table.to_html(index=False, float_format=lambda v: f"{v:.4g}", border=0)
        + note
    )


def _section_html(section: Section, run_dir: Path) -> str:
    parts = [f"<h2 id='{html.escape(section.key)}'>{html.escape(section.title)}</h2>"]
    if section.text:
        parts.append(f"<div>{section.text}</div>")
    if section.metrics:
        rows = "".join(
            f"<tr><td>{html.escape(str(k))}</td><td>{v:.4g}</td></tr>"
            if isinstance(v, (int, float))
            else f"<tr><td>{html.escape(str(k))}</td><td>{html.escape(str(v))}</td></tr>"
            for k, v in section.metrics.items()
        )
        parts.append(f"<table><tr><th>metric</th><th>value</th></tr>{rows}</table>")
    parts += [_table_html(run_dir / t) for t in section.tables]
    parts += [_figure_html(run_dir / f) for f in section.figures]
    return "\n".join(parts)


def build_report(
    run_dir: str | os.PathLike,
    extra_runs: list[str | os.PathLike] = (),
    title: str = "matsight report",
    out: str | os.PathLike | None = None,
) -> Path:
    """Write one self-contained ``report.html`` for ``run_dir`` (plus the sections of ``extra_runs``).

    Returns the report's path (``<run_dir>/report.html`` unless ``out`` is given).
    """
    run_dir = Path(run_dir)
    runs = [run_dir, *map(Path, extra_runs)]
    blocks = [(s, r) for r in runs for s in read_sections(r)]
    blocks.sort(key=lambda item: (item[0].order, item[0].key))
    toc = "".join(f"<li><a href='#{html.escape(s.key)}'>{html.escape(s.title)}</a></li>" for s, _ in blocks)
    body = "\n".join(_section_html(s, r) for s, r in blocks) or "<p>No results have been written to this run yet.</p>"
    manifests = "".join(
        f"<details><summary>manifest of {html.escape(str(r))}</summary><pre>"
        f"{html.escape(json.dumps(json.loads((r / 'manifest.json').read_text()), indent=2))}</pre></details>"
        for r in runs
        if (r / "manifest.json").exists()
    )
    page = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{_CSS}</style></head><body><h1>{html.escape(title)}</h1><ul>{toc}</ul>{body}"
        f"<h2>Reproducibility</h2>{manifests}</body></html>"
    )
    path = Path(out) if out else run_dir / "report.html"
    atomic_write_text(path, page)
    return path
