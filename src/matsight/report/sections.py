"""Report sections: each workflow describes its results; the report assembles them.

A workflow calls :func:`write_section` on the run folder where it worked. The section is a small
JSON file under ``<run>/report_sections/`` that names figures and tables inside that run folder;
:func:`matsight.report.build_report` renders every section it finds, ordered by ``order``.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from matsight.errors import RunFolderError
from matsight.store.atomic import atomic_write_json

SECTIONS_DIR = "report_sections"

# Conventional order of the workflows in a combined report.
ORDER = {
    "training": 10,
    "saliency": 20,
    "faithfulness": 25,
    "textures": 30,
    "knobs": 40,
    "analytics": 50,
    "crystals": 60,
    "scale": 70,
}


@dataclass
class Section:
    """A report section. ``figures`` and ``tables`` are paths relative to the run folder
    (PNG/SVG figures; CSV or Parquet tables); ``text`` is plain text (never HTML: it is escaped;
    `back-quoted` spans are shown as code); ``metrics`` is a flat mapping of headline numbers
    shown as a small table."""

    key: str
    title: str
    text: str = ""
    figures: list[str] = field(default_factory=list)
    tables: list[str] = field(default_factory=list)
    metrics: dict[str, float | str] = field(default_factory=dict)
    order: int = 100


def write_section(run_dir: str | os.PathLike, section: Section) -> Path:
    """Store ``section`` in ``<run_dir>/report_sections/<key>.json`` (replacing an older one)."""
    path = Path(run_dir) / SECTIONS_DIR / f"{section.key}.json"
    atomic_write_json(path, asdict(section))
    return path


def read_sections(run_dir: str | os.PathLike) -> list[Section]:
    """All sections stored in a run folder, in report order; a damaged one is a RunFolderError."""
    folder = Path(run_dir) / SECTIONS_DIR
    sections = [_read_section(p) for p in sorted(folder.glob("*.json"))]
    return sorted(sections, key=lambda s: (s.order, s.key))


def _read_section(path: Path) -> Section:
    """One section file, checked field by field (run folders come from colleagues: they are data)."""
    try:
        data = json.loads(path.read_text())
        section = Section(
            key=str(data["key"]),
            title=str(data.get("title", data["key"])),
            text=str(data.get("text", "")),
            figures=[str(f) for f in data.get("figures", [])],
            tables=[str(t) for t in data.get("tables", [])],
            metrics={str(k): v if isinstance(v, (int, float)) else str(v) for k, v in data.get("metrics", {}).items()},
            order=int(data.get("order", 100)),
        )
    except (OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
        raise RunFolderError(
            f"{path} is not a valid report section ({exc.__class__.__name__}: {exc}); rerun the command that wrote it"
        ) from None
    return section
