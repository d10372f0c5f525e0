"""The self-contained HTML report of one run or of a whole study (several runs).

:func:`build_study_report` merges the report sections of several run folders (training, saliency,
textures, knobs, analytics, crystals) in a fixed order (:data:`matsight.report.ORDER`, then the
order the runs were given), under a title, a summary table (one row per run: command, status,
headline number, date) and, at the end, every run's manifest. Figures are embedded as base64,
tables inline. The page is rendered by Jinja2 with autoescaping: every string that comes from a
run folder (titles, texts, column names, cells, lot and folder names) is text, never markup, and
a Content-Security-Policy forbids scripts anyway. Figures and tables are read only from inside
their run folder.
"""

from __future__ import annotations

import base64
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup, escape

from matsight.errors import ConfigError, RunFolderError
from matsight.report.sections import SECTIONS_DIR, Section, read_sections
from matsight.store.atomic import atomic_write_text
from matsight.store.claim import claim_file

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
FIGURE_TYPES = {".png": "image/png", ".svg": "image/svg+xml", ".jpg": "image/jpeg", ".jpeg": "image/jpeg"}
TABLE_TYPES = (".csv", ".parquet")
_CODE = re.compile(r"`([^`]+)`")


def prose(text: str) -> Markup:
    """A section's plain text as HTML: escaped, with `back-quoted` spans set as code."""
    return Markup(_CODE.sub(lambda m: Markup("<code>{}</code>").format(Markup(m.group(1))), str(escape(text))))


_ENVIRONMENT = Environment(
    loader=PackageLoader("matsight.report", "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)
_ENVIRONMENT.filters["prose"] = prose


@dataclass
class _RunSummary:
    name: str
    command: str
    status: str
    headline: str
    date: str
    manifest: str


@dataclass
class _Block:
    """One section of one run, ready for the template (every string still raw: the template escapes)."""

    section: Section
    run_index: int
    run_name: str
    anchor: str
    metrics: list[tuple[str, str]] = field(default_factory=list)
    tables: list[dict[str, Any]] = field(default_factory=list)
    figures: list[dict[str, Any]] = field(default_factory=list)


def build_study_report(
    runs: list[str | os.PathLike],
    out: str | os.PathLike | None = None,
    title: str | None = None,
    overwrite: bool = False,
) -> Path:
    """Write one self-contained HTML page for the run folders ``runs`` and return its path.

    ``out`` defaults to ``<first run>/report.html`` (rewritten on every call); an existing other
    file is replaced only with ``overwrite``. ``title`` defaults to "matsight report".
    """
    if not runs:
        raise ConfigError("give at least one run folder")
    folders = list(dict.fromkeys(Path(r).resolve() for r in runs))
    for folder in folders:
        if not folder.is_dir():
            raise RunFolderError(f"run folder {folder} does not exist: give the --out folder of an earlier run")
        if not ((folder / "manifest.json").is_file() or (folder / SECTIONS_DIR).is_dir()):
            raise RunFolderError(f"{folder} has no manifest.json: it is not a matsight run folder")
    default = folders[0] / "report.html"
    path = claim_file(out or default, reads=folders, overwrite=overwrite, default=out is None)
    names = _run_names(folders)
    summaries = [_summarise(folder, names[folder]) for folder in folders]
    blocks = [
        _block(section, folder, i, names[folder], len(folders))
        for i, folder in enumerate(folders)
        for section in read_sections(folder)
    ]
    blocks.sort(key=lambda b: (b.section.order, b.run_index, b.section.key))
    page = _ENVIRONMENT.get_template("report.html.j2").render(
        title=title or "matsight report", css=Markup(_CSS), runs=summaries, blocks=blocks
    )
    atomic_write_text(path, page)
    return path


def build_report(
    run_dir: str | os.PathLike,
    extra_runs: list[str | os.PathLike] = (),
    title: str = "matsight report",
    out: str | os.PathLike | None = None,
) -> Path:
    """The report of ``run_dir`` plus the sections of ``extra_runs`` (see :func:`build_study_report`)."""
    return build_study_report([run_dir, *extra_runs], out=out, title=title)


def _run_names(folders: list[Path]) -> dict[Path, str]:
    """Short names for the runs: the folder name, with its parent's when two runs share a name."""
    names = {f: f.name for f in folders}
    clashes = {n for n in names.values() if list(names.values()).count(n) > 1}
    return {f: (f"{f.parent.name}/{f.name}" if n in clashes else n) for f, n in names.items()}


def _summarise(folder: Path, name: str) -> _RunSummary:
    if not (folder / "manifest.json").is_file():
        return _RunSummary(name, "?", "?", "—", "", "")
    try:
        manifest = json.loads((folder / "manifest.json").read_text())
    except (OSError, ValueError) as exc:
        raise RunFolderError(
            f"{folder / 'manifest.json'} is damaged ({exc.__class__.__name__}); rerun the command that wrote it"
        ) from None
    if not isinstance(manifest, dict):
        raise RunFolderError(f"{folder / 'manifest.json'} is not a matsight manifest; rerun the command that wrote it")
    headline = next((f"{k}: {_format(v)}" for s in read_sections(folder) for k, v in list(s.metrics.items())[:1]), "—")
    started = str(manifest.get("first_started") or manifest.get("started") or "")
    return _RunSummary(
        name=name,
        command=str(manifest.get("command", "?")),
        status=str(manifest.get("status", "?")),
        headline=headline,
        date=started[:10],
        manifest=json.dumps(manifest, indent=2),
    )


def _block(section: Section, folder: Path, index: int, run_name: str, n_runs: int) -> _Block:
    """``section`` of the run ``folder`` (``index`` of ``n_runs``); anchors are unique across runs."""
    anchor = f"run{index + 1}-{section.key}" if n_runs > 1 else section.key
    block = _Block(section, index, run_name, re.sub(r"[^A-Za-z0-9_-]", "-", anchor))
    block.metrics = [(str(k), _format(v)) for k, v in section.metrics.items()]
    block.tables = [_table(folder, name) for name in section.tables]
    block.figures = [_figure(folder, name) for name in section.figures]
    return block


def _inside(folder: Path, name: str, kinds) -> tuple[Path | None, str]:
    """``folder / name`` when it is a file of one of ``kinds`` inside ``folder``, else a note saying why not."""
    path = (folder / name).resolve()
    if not path.is_relative_to(folder):
        return None, f"{name} is outside the run folder; not shown"
    if path.suffix.lower() not in kinds:
        return None, f"{name} is not a {'/'.join(kinds)} file; not shown"
    if not path.is_file():
        return None, f"{name} is missing"
    return path, ""


def _table(folder: Path, name: str) -> dict[str, Any]:
    path, problem = _inside(folder, name, TABLE_TYPES)
    if path is None:
        return {"name": Path(name).stem, "missing": problem}
    try:
        table = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    except Exception as exc:  # a damaged table must not cost the whole report
        return {"name": path.stem, "missing": f"{name} cannot be read ({exc.__class__.__name__})"}
    note = ""
    if len(table) > MAX_TABLE_ROWS:
        note = f"first {MAX_TABLE_ROWS} of {len(table)} rows; the full table is {path.name}"
        table = table.head(MAX_TABLE_ROWS)
    rows = [[_format(v) for v in row] for row in table.itertuples(index=False)]
    return {"name": path.stem, "columns": [str(c) for c in table.columns], "rows": rows, "note": note}


def _figure(folder: Path, name: str) -> dict[str, Any]:
    path, problem = _inside(folder, name, tuple(FIGURE_TYPES))
    if path is None:
        return {"missing": f"figure {problem}"}
    data = base64.b64encode(path.read_bytes()).decode()
    return {"name": path.name, "mime": FIGURE_TYPES[path.suffix.lower()], "data": data}


def _format(value: Any) -> str:
    """Numbers to 4 significant digits (integers in full), anything else as text."""
    if isinstance(value, (bool, np.bool_)) or value is None:
        return str(value)
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.4g}"
    return str(value)
