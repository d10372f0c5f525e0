"""Rebuild README.md from docs/: readme/head.md, the workflow pages in reading order, readme/tail.md.

Figure links are rewritten from ``figures/`` (relative to docs/) to ``docs/figures/``; the knobs page,
written with top-level ``#`` headings, is shifted one level down to sit under the others' ``##``.

    python scripts/build_readme.py
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGES = ["sem-lots", "training", "saliency", "textures", "knobs", "xray", "app", "crystals", "scale"]
SHIFTED = {"knobs"}


def page(name: str) -> str:
    text = (DOCS / f"{name}.md").read_text().replace("](figures/", "](docs/figures/")
    if name in SHIFTED:
        text = re.sub(r"(?m)^(#+) ", r"#\1 ", text)
    return text.rstrip("\n") + "\n\n"


def main() -> None:
    parts = [(DOCS / "readme" / "head.md").read_text(), *map(page, PAGES), (DOCS / "readme" / "tail.md").read_text()]
    (ROOT / "README.md").write_text("".join(parts))


if __name__ == "__main__":
    main()
