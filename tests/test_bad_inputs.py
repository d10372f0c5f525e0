"""Every command × every class of bad input: exit status 2, one line on stderr, no traceback, inputs untouched.

The classes (issue 17): missing, wrong-type or empty inputs; ``--out`` equal to, inside, or containing an
input, another command's run, a user's folder, under a regular file, on a read-only disk; out-of-range,
non-finite or unknown option values; damaged files (CSV with a header only, non-finite targets,
undecodable images, symbolic links to non-images, truncated manifests and checkpoints); runs of the
wrong kind. Each case runs in-process through :func:`matsight.cli.main.run` (the console entry point's
own error handling) on tiny runs trained once per module, and checks that no file of any input
changed (names, sizes, modification times, inodes; contents are hashed once at the end).
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from matsight.cli.main import run

FAST = ["--device", "cpu"]


def cli(*args) -> tuple[int, str, str]:
    """Run ``matsight args`` in this process: (exit status, stdout, stderr)."""
    with CliRunner().isolation() as (out, err, _):
        code = run([str(a) for a in args])
    return code, out.getvalue().decode(), err.getvalue().decode()


def make_lots(root: Path, lots: int = 3, tiles: int = 4, size: int = 24) -> Path:
    """Layout-1 lots whose tiles brighten with the lot's cps, with the knobs' attribute columns."""
    rng = np.random.default_rng(0)
    rows = ["lot,cps,size,porosity,polydispersity,facetness"]
    for i in range(lots):
        name = chr(ord("A") + i)
        (root / "images" / name).mkdir(parents=True)
        for t in range(tiles):
            pixels = np.clip(rng.normal(60 + 100 * i, 10, (size, size)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(root / "images" / name / f"{t}.png")
        rows.append(f"{name},{10 + 5 * i},{i},{0.1 + i / 10},{0.2 * i},0.5")
    (root / "lots.csv").write_text("\n".join(rows) + "\n")
    return root


def make_bank(root: Path, classes=("banded", "dotted"), size=16) -> Path:
    rng = np.random.default_rng(1)
    for name in classes:
        (root / "images" / name).mkdir(parents=True)
        for i in range(2):
            Image.fromarray(rng.integers(0, 255, (size, size), dtype=np.uint8)).save(
                root / "images" / name / f"{i}.png"
            )
    return root


def copy_run(source: Path, target: Path) -> Path:
    """A copy of a run folder whose checkpoints are hard links (cheap: unlink one before changing it)."""

    def copy(src, dst):
        (os.link if src.endswith(".pt") else shutil.copy2)(src, dst)

    shutil.copytree(source, target, copy_function=copy)
    return target


def interrupted(run: Path, target: Path, damaged: str) -> Path:
    """A copy of the training ``run`` as if killed mid-epoch (status running, no best checkpoint yet), with
    ``damaged`` ("manifest" or "last.pt") truncated: the --out of a rerun that resumes, not an input."""
    copy = copy_run(run, target)
    (copy / "checkpoint.pt").unlink()
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["status"], manifest["arguments"]["out"] = "running", str(copy)
    (copy / "manifest.json").write_text('{"command": "tra' if damaged == "manifest" else json.dumps(manifest))
    if damaged == "last.pt":
        (copy / "last.pt").unlink()
        (copy / "last.pt").write_bytes(b"PK\x03\x04 truncated")
    return copy


def data_gone(run: Path, target: Path) -> Path:
    """A copy of the ``run`` whose training data is no longer where its manifest says (run without DATA)."""
    copy = copy_run(run, target)
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["inputs"]["data"]["path"] = str(target.parent / "gone")
    (copy / "manifest.json").write_text(json.dumps(manifest))
    return copy


@dataclass
class Fixtures:
    root: Path
    lots: Path  # layout 1, 2 lots x 4 tiles of 24 px
    xray: Path  # layout 2, 8 images of 16 px
    bank: Path  # texture bank, 2 classes x 2 images
    crys: Path  # layout 5, 7 structures
    reg: Path  # regressor run (1 epoch, 16 px)
    crysrun: Path  # crystal ConvNet run on crys
    soaprun: Path  # crystal SOAP MLP run on crys
    ml: Path  # multi-label run on xray
    editor: Path  # knobs editor run on reg + lots
    user: Path  # a user's folder with their own checkpoint.pt and notes
    text: Path  # a plain text file
    broken_manifest: Path  # reg with a truncated manifest.json
    broken_checkpoint: Path  # reg with a truncated checkpoint.pt
    broken_section: Path  # reg with a damaged report section
    header_only: Path  # lots.csv with a header only
    inf_target: Path  # a lot whose cps is inf
    text_target: Path  # a lot whose cps is text
    bad_tile: Path  # one tile that is not an image
    link_tile: Path  # one .png that is a symbolic link to a text file
    empty_tile: Path  # one zero-byte .png
    labels_header_only: Path  # labels.csv with a header only
    empty: Path  # an empty folder
    coefficients_bad: Path  # not JSON
    coefficients_list: Path  # JSON, but a list
    coefficients_nan: Path  # {"porosity": NaN}
    coefficients_unknown: Path  # {"shine": 1}

    def inputs(self) -> list[Path]:
        return [p for p in vars(self).values() if isinstance(p, Path) and p != self.root and p.exists()]


def _lots_variant(fx_root: Path, name: str, edit: Callable[[Path], None]) -> Path:
    folder = make_lots(fx_root / name)
    edit(folder)
    return folder


@pytest.fixture(scope="module")
def fx(tmp_path_factory) -> Fixtures:
    root = tmp_path_factory.mktemp("bad-inputs")
    lots = make_lots(root / "lots")
    tiny = ["--epochs", 1, "--image-size", 16, "--batch-size", 4, *FAST]
    for args in (
        ["train", lots, "--out", root / "reg", "--target", "cps", *tiny],
        ["synth", "xray", root / "xray", "--n", 8, "--size", 16],
        ["train", root / "xray", "--out", root / "ml", "--task", "multilabel", *tiny],
        ["crystals", "build", root / "crys", "--n", 7, *FAST],
        ["crystals", "train", root / "crys", "--out", root / "crysrun", "--epochs", 1, "--batch-size", 4, *FAST],
        ["crystals", "train", root / "crys", "--out", root / "soaprun", "--descriptor", "soap", "--epochs", 1, *FAST],
        ["knobs", "train", root / "reg", lots, "--out", root / "editor", "--image-size", 16, "--steps", 2]
        + ["--width", 4, "--depth", 2, "--quality-epochs", 1, *FAST],
    ):
        code, _, err = cli(*args)
        assert code == 0, f"fixture {args[:2]} failed: {err}"
    reg = root / "reg"
    user = root / "user"
    user.mkdir()
    (user / "checkpoint.pt").write_bytes(b"my own model")
    (user / "notes.txt").write_text("mine")
    text = root / "notes.txt"
    text.write_text("not an image, not a folder\n")

    broken_manifest = copy_run(reg, root / "broken-manifest")
    (broken_manifest / "manifest.json").write_text('{"command": "tra')
    broken_checkpoint = copy_run(reg, root / "broken-checkpoint")
    (broken_checkpoint / "checkpoint.pt").unlink()
    (broken_checkpoint / "checkpoint.pt").write_bytes((reg / "checkpoint.pt").read_bytes()[:5000])
    broken_section = copy_run(reg, root / "broken-section")
    (next((broken_section / "report_sections").glob("*.json"))).write_text("[1, 2")

    def header_only(folder):
        (folder / "lots.csv").write_text("lot,cps\n")

    def inf_target(folder):
        csv = folder / "lots.csv"
        csv.write_text(csv.read_text().replace("A,10,", "A,inf,"))

    def text_target(folder):
        csv = folder / "lots.csv"
        csv.write_text(csv.read_text().replace("A,10,", "A,high,"))

    def bad_tile(folder):
        (folder / "images" / "A" / "2.png").write_bytes(b"\x89PNG\r\n\x1a\n this is not a png")

    def link_tile(folder):
        (folder / "images" / "A" / "2.png").unlink()
        (folder / "images" / "A" / "2.png").symlink_to(text)

    def empty_tile(folder):
        (folder / "images" / "B" / "1.png").write_bytes(b"")

    xray_header_only = root / "labels-header-only"
    shutil.copytree(root / "xray", xray_header_only)
    labels = xray_header_only / "labels.csv"
    labels.write_text(labels.read_text().splitlines()[0] + "\n")
    empty = root / "empty"
    empty.mkdir()
    coefficients = {}
    for name, content in {
        "bad": "{porosity: 1",
        "list": "[1, 2]",
        "nan": '{"porosity": NaN}',
        "unknown": '{"shine": 1}',
    }.items():
        coefficients[name] = root / f"coefficients-{name}.json"
        coefficients[name].write_text(content)
    return Fixtures(
        root=root,
        lots=lots,
        xray=root / "xray",
        bank=make_bank(root / "bank"),
        crys=root / "crys",
        reg=reg,
        crysrun=root / "crysrun",
        soaprun=root / "soaprun",
        ml=root / "ml",
        editor=root / "editor",
        user=user,
        text=text,
        broken_manifest=broken_manifest,
        broken_checkpoint=broken_checkpoint,
        broken_section=broken_section,
        header_only=_lots_variant(root, "header-only", header_only),
        inf_target=_lots_variant(root, "inf-target", inf_target),
        text_target=_lots_variant(root, "text-target", text_target),
        bad_tile=_lots_variant(root, "bad-tile", bad_tile),
        link_tile=_lots_variant(root, "link-tile", link_tile),
        empty_tile=_lots_variant(root, "empty-tile", empty_tile),
        labels_header_only=xray_header_only,
        empty=empty,
        coefficients_bad=coefficients["bad"],
        coefficients_list=coefficients["list"],
        coefficients_nan=coefficients["nan"],
        coefficients_unknown=coefficients["unknown"],
    )


def constant_target(f: Fixtures, t: Path) -> Path:
    """A copy of the lots in which every lot has cps 7."""
    folder = shutil.copytree(f.lots, t / "constant")
    csv = folder / "lots.csv"
    csv.write_text(re.sub(r"^([A-Z]),\d+,", r"\1,7,", csv.read_text(), flags=re.M))
    return folder


def measured_lots(f: Fixtures, t: Path, n: int) -> Path:
    """A copy of the lots in which only the first ``n`` lots have a cps."""
    folder = shutil.copytree(f.lots, t / "measured")
    csv = folder / "lots.csv"
    lines = csv.read_text().splitlines()
    lines[1 + n :] = [re.sub(r"^([A-Z]),\d+,", r"\1,,", line) for line in lines[1 + n :]]
    csv.write_text("\n".join(lines) + "\n")
    return folder


def structure_link(f: Fixtures, t: Path) -> Path:
    """A copy of the crystal structures whose first file is a link to a file outside the folder."""
    folder = shutil.copytree(f.crys, t / "crys")
    first = sorted((folder / "structures").iterdir())[0]
    first.unlink()
    first.symlink_to(f.crys / "structures" / first.name)
    return folder


def predict_cache(folder: Path) -> bool:
    """RUN/arrays of a run: `matsight predict RUN DATA` keeps its resumable outputs there by design, the one place
    where a command adds to one of its inputs (a matsight run folder, never a dataset); left out of the checks."""
    return folder.name == "arrays" and (folder.parent / "checkpoint.pt").exists()


def snapshot(paths: list[Path]) -> dict[str, tuple]:
    """Every file and folder under ``paths``: size, modification time (ns) and inode (links not followed)."""
    found = {}
    for top in paths:
        for parent, dirs, files in os.walk(top):
            dirs[:] = [d for d in dirs if not predict_cache(Path(parent) / d)]
            for name in dirs + files:
                stat = os.lstat(Path(parent) / name)
                found[str(Path(parent) / name)] = (stat.st_size, stat.st_mtime_ns, stat.st_ino)
        stat = os.lstat(top)
        found[str(top)] = (stat.st_size, stat.st_mtime_ns, stat.st_ino)
    return found


def content_digest(paths: list[Path]) -> str:
    digest = hashlib.blake2b(digest_size=16)
    for top in paths:
        files = [top] if top.is_file() else sorted(p for p in top.rglob("*") if p.is_file() and not p.is_symlink())
        files = [p for p in files if not any(predict_cache(parent) for parent in p.parents)]
        for file in files:
            digest.update(str(file).encode() + b"\0" + file.read_bytes())
    return digest.hexdigest()


# ---------------------------------------------------------------------------------------------------------
# The cases: (id, argv builder (fixtures, a fresh scratch folder) -> arguments, text the one line must hold)
# ---------------------------------------------------------------------------------------------------------
Args = Callable[[Fixtures, Path], list]
CASES: list[tuple[str, Args, str]] = []


def case(name: str, expected: str) -> Callable[[Args], Args]:
    def register(args: Args) -> Args:
        CASES.append((name, args, expected))
        return args

    return register


def cases(prefix: str, expected_and_args: dict[str, tuple[str, Args]]) -> None:
    for name, (expected, args) in expected_and_args.items():
        CASES.append((f"{prefix}-{name}", args, expected))


TRAIN = ["--target", "cps", "--epochs", 1, "--image-size", 16, "--batch-size", 4, *FAST]
# small settings put before the bad option, so a case that is wrongly accepted still ends quickly
SMALL_LOTS = ["--lots", 2, "--tiles-per-lot", 1, "--size", 16]


def sweep(f: Fixtures, t: Path, *bad) -> list:
    """``knobs sweep`` with small settings, then ``bad`` (the last value of an option wins)."""
    return ["knobs", "sweep", f.editor, "--levels", 2, "--tiles", 2, "--out", t / "o", *bad, *FAST]


def inverse(f: Fixtures, t: Path, *bad) -> list:
    """``knobs inverse`` with small settings, then ``bad``."""
    return ["knobs", "inverse", f.editor, "--tiles", 2, "--steps", 1, "--out", t / "o", *bad, *FAST]


def robustness_(f: Fixtures, t: Path, *bad, convnet=None, soap=None, out=None) -> list:
    """``crystals robustness`` on the tiny crystal runs with small settings, then ``bad``."""
    runs = ["--convnet", convnet or f.crysrun, "--soap", soap or f.soaprun, "--out", out or t / "c"]
    return ["crystals", "robustness", *runs, "--per-class", 1, "--mc-samples", 2, *FAST, *bad]


def crystal_map(f: Fixtures, t: Path, *bad, convnet=None, soap=None, out=None) -> list:
    """``crystals map`` on the tiny crystal runs with a coarse stride, then ``bad``."""
    runs = ["--convnet", convnet or f.crysrun, "--soap", soap or f.soaprun, "--out", out or t / "m"]
    return ["crystals", "map", *runs, "--stride", 4, "--mc-samples", 2, *FAST, *bad]


SMALL_EDITOR = ["--image-size", 16, "--steps", 1, "--width", 4, "--depth", 2, "--quality-epochs", 1, *FAST]

# -- missing inputs, files where folders belong, empty folders ------------------------------------------
cases(
    "missing",
    {
        "validate": ("nowhere", lambda f, t: ["validate", t / "nowhere"]),
        "train": ("nowhere", lambda f, t: ["train", t / "nowhere", "--out", t / "run", *TRAIN]),
        "predict-run": ("nowhere", lambda f, t: ["predict", t / "nowhere", f.lots, *FAST]),
        "predict-data": ("nowhere", lambda f, t: ["predict", f.reg, t / "nowhere", "--out", t / "p.csv", *FAST]),
        "saliency-run": ("nowhere", lambda f, t: ["saliency", t / "nowhere", f.lots, "--out", t / "s"]),
        "saliency-data": ("nowhere", lambda f, t: ["saliency", f.reg, t / "nowhere", "--out", t / "s"]),
        "textures-run": ("nowhere", lambda f, t: ["textures", t / "nowhere", f.lots, f.bank, "--out", t / "x", *FAST]),
        "textures-lots": ("nowhere", lambda f, t: ["textures", f.reg, t / "nowhere", f.bank, "--out", t / "x", *FAST]),
        "textures-bank": ("nowhere", lambda f, t: ["textures", f.reg, f.lots, t / "nowhere", "--out", t / "x", *FAST]),
        "knobs-train-run": ("nowhere", lambda f, t: ["knobs", "train", t / "nowhere", f.lots, "--out", t / "e"]),
        "knobs-train-lots": ("nowhere", lambda f, t: ["knobs", "train", f.reg, t / "nowhere", "--out", t / "e"]),
        "knobs-sweep": ("nowhere", lambda f, t: ["knobs", "sweep", t / "nowhere", *FAST]),
        "knobs-inverse": ("nowhere", lambda f, t: ["knobs", "inverse", t / "nowhere", *FAST]),
        "knobs-sweep-regressor": (
            "nowhere",
            lambda f, t: ["knobs", "sweep", f.editor, "--regressor", t / "nowhere", "--out", t / "o", *FAST],
        ),
        "analytics-run": ("nowhere", lambda f, t: ["analytics", t / "nowhere", f.xray, "--out", t / "a", *FAST]),
        "analytics-data": ("nowhere", lambda f, t: ["analytics", f.ml, t / "nowhere", "--out", t / "a", *FAST]),
        "app": ("nowhere", lambda f, t: ["app", t / "nowhere"]),
        "crystals-train": ("nowhere", lambda f, t: ["crystals", "train", t / "nowhere", "--out", t / "c", *FAST]),
        "crystals-robustness-convnet": ("nowhere", lambda f, t: robustness_(f, t, convnet=t / "nowhere")),
        "crystals-robustness-soap": ("nowhere", lambda f, t: robustness_(f, t, soap=t / "nowhere")),
        "crystals-map-convnet": ("nowhere", lambda f, t: crystal_map(f, t, convnet=t / "nowhere")),
        "crystals-map-soap": ("nowhere", lambda f, t: crystal_map(f, t, soap=t / "nowhere")),
        "crystals-explain": ("nowhere", lambda f, t: ["crystals", "explain", t / "nowhere", "--out", t / "c"]),
        "report": ("nowhere", lambda f, t: ["report", t / "nowhere"]),
        "report-second": ("nowhere", lambda f, t: ["report", f.reg, t / "nowhere", "--out", t / "r.html"]),
        "coefficients": (
            "nowhere",
            lambda f, t: ["synth", "sem-lots", t / "s", "--coefficients", t / "nowhere.json", "--lots", 2],
        ),
        "train-weights": ("nowhere", lambda f, t: ["train", f.lots, "--out", t / "r", "--weights", t / "nowhere.pt"]),
    },
)
cases(
    "file-not-folder",
    {
        "validate": ("notes.txt", lambda f, t: ["validate", f.text]),
        "train": ("notes.txt", lambda f, t: ["train", f.text, "--out", t / "run", *TRAIN]),
        "predict-run": ("notes.txt", lambda f, t: ["predict", f.text, f.lots, "--out", t / "p.csv", *FAST]),
        "predict-data": ("notes.txt", lambda f, t: ["predict", f.reg, f.text, "--out", t / "p.csv", *FAST]),
        "saliency-data": ("notes.txt", lambda f, t: ["saliency", f.reg, f.text, "--out", t / "s"]),
        "textures-bank": ("notes.txt", lambda f, t: ["textures", f.reg, f.lots, f.text, "--out", t / "x", *FAST]),
        "knobs-train-lots": ("notes.txt", lambda f, t: ["knobs", "train", f.reg, f.text, "--out", t / "e"]),
        "knobs-sweep": ("notes.txt", lambda f, t: ["knobs", "sweep", f.text, *FAST]),
        "analytics-data": ("notes.txt", lambda f, t: ["analytics", f.ml, f.text, "--out", t / "a", *FAST]),
        "app": ("notes.txt", lambda f, t: ["app", f.text]),
        "crystals-train": ("notes.txt", lambda f, t: ["crystals", "train", f.text, "--out", t / "c", *FAST]),
        "crystals-robustness": ("notes.txt", lambda f, t: robustness_(f, t, convnet=f.text)),
        "crystals-map": ("notes.txt", lambda f, t: crystal_map(f, t, soap=f.text)),
        "report": ("notes.txt", lambda f, t: ["report", f.text]),
        "coefficients-folder": ("empty", lambda f, t: ["synth", "sem-lots", t / "s", "--coefficients", f.empty]),
    },
)
cases(
    "empty-folder",
    {
        "validate": ("empty", lambda f, t: ["validate", f.empty]),
        "train": ("empty", lambda f, t: ["train", f.empty, "--out", t / "run", *TRAIN]),
        "predict-run": ("empty", lambda f, t: ["predict", f.empty, f.lots, "--out", t / "p.csv", *FAST]),
        "predict-data": ("empty", lambda f, t: ["predict", f.reg, f.empty, "--out", t / "p.csv", *FAST]),
        "saliency-run": ("empty", lambda f, t: ["saliency", f.empty, f.lots, "--out", t / "s"]),
        "saliency-data": ("empty", lambda f, t: ["saliency", f.reg, f.empty, "--out", t / "s"]),
        "textures-lots": ("empty", lambda f, t: ["textures", f.reg, f.empty, f.bank, "--out", t / "x", *FAST]),
        "textures-bank": ("empty", lambda f, t: ["textures", f.reg, f.lots, f.empty, "--out", t / "x", *FAST]),
        "knobs-train-run": ("empty", lambda f, t: ["knobs", "train", f.empty, f.lots, "--out", t / "e"]),
        "knobs-inverse": ("empty", lambda f, t: ["knobs", "inverse", f.empty, *FAST]),
        "analytics": ("empty", lambda f, t: ["analytics", f.empty, f.xray, "--out", t / "a", *FAST]),
        "app": ("empty", lambda f, t: ["app", f.empty]),
        "crystals-train": ("empty", lambda f, t: ["crystals", "train", f.empty, "--out", t / "c", *FAST]),
        "crystals-explain": ("empty", lambda f, t: ["crystals", "explain", f.empty, "--out", t / "c"]),
        "crystals-robustness": ("empty", lambda f, t: robustness_(f, t, soap=f.empty)),
        "report": ("empty", lambda f, t: ["report", f.empty]),
    },
)

# -- --out into an input ------------------------------------------------------------------------------
cases(
    "out-input",
    {
        "train-equal": ("--out", lambda f, t: ["train", f.lots, "--out", f.lots, *TRAIN]),
        "train-inside": ("--out", lambda f, t: ["train", f.lots, "--out", f.lots / "images" / "run", *TRAIN]),
        "train-contains": ("--out", lambda f, t: ["train", f.lots, "--out", f.root, *TRAIN]),
        "predict-lots-csv": ("--out", lambda f, t: ["predict", f.reg, f.lots, "--out", f.lots / "lots.csv", *FAST]),
        "predict-in-lots": ("--out", lambda f, t: ["predict", f.reg, f.lots, "--out", f.lots / "p.csv", *FAST]),
        "predict-checkpoint": (
            "--out",
            lambda f, t: ["predict", f.reg, f.lots, "--out", f.reg / "checkpoint.pt", "--overwrite", *FAST],
        ),
        "predict-manifest": ("--out", lambda f, t: ["predict", f.reg, f.lots, "--out", f.reg / "manifest.json", *FAST]),
        "saliency-lots": ("--out", lambda f, t: ["saliency", f.reg, f.lots, "--out", f.lots]),
        "saliency-in-lots": ("--out", lambda f, t: ["saliency", f.reg, f.lots, "--out", f.lots / "maps"]),
        "saliency-run": ("--out", lambda f, t: ["saliency", f.reg, f.lots, "--out", f.reg]),
        "saliency-run-overwrite": ("--out", lambda f, t: ["saliency", f.reg, f.lots, "--out", f.reg, "--overwrite"]),
        "textures-lots": ("--out", lambda f, t: ["textures", f.reg, f.lots, f.bank, "--out", f.lots, *FAST]),
        "textures-bank": ("--out", lambda f, t: ["textures", f.reg, f.lots, f.bank, "--out", f.bank / "out", *FAST]),
        "textures-run": ("--out", lambda f, t: ["textures", f.reg, f.lots, f.bank, "--out", f.reg, *FAST]),
        "knobs-train-lots": ("--out", lambda f, t: ["knobs", "train", f.reg, f.lots, "--out", f.lots]),
        "knobs-train-run": ("--out", lambda f, t: ["knobs", "train", f.reg, f.lots, "--out", f.reg]),
        "knobs-sweep-editor": ("--out", lambda f, t: ["knobs", "sweep", f.editor, "--out", f.editor, *FAST]),
        "knobs-sweep-lots": ("--out", lambda f, t: ["knobs", "sweep", f.editor, "--out", f.lots / "s", *FAST]),
        "knobs-inverse-regressor": (
            "--out",
            lambda f, t: ["knobs", "inverse", f.editor, "--regressor", f.reg, "--out", f.reg, *FAST],
        ),
        # the regressor and lots behind the editor are inputs, though not named on the command line
        "knobs-sweep-editors-regressor": (
            "--out",
            lambda f, t: ["knobs", "sweep", f.editor, "--out", f.reg, "--overwrite", *FAST],
        ),
        "knobs-inverse-editors-regressor": (
            "--out",
            lambda f, t: ["knobs", "inverse", f.editor, "--out", f.reg, "--overwrite", *FAST],
        ),
        "knobs-inverse-editors-lots": (
            "--out",
            lambda f, t: ["knobs", "inverse", f.editor, "--out", f.lots / "images" / "i", *FAST],
        ),
        # so is the data a tagger was trained on, when analytics finds it through the run's manifest
        "analytics-training-data": ("--out", lambda f, t: ["analytics", f.ml, "--out", f.xray, "--overwrite", *FAST]),
        "analytics-in-training-data": ("--out", lambda f, t: ["analytics", f.ml, "--out", f.xray / "images" / "a"]),
        "analytics-data": ("--out", lambda f, t: ["analytics", f.ml, f.xray, "--out", f.xray, *FAST]),
        "analytics-in-data": ("--out", lambda f, t: ["analytics", f.ml, f.xray, "--out", f.xray / "images", *FAST]),
        "crystals-train": ("--out", lambda f, t: ["crystals", "train", f.crys, "--out", f.crys, *FAST]),
        "crystals-train-inside": (
            "--out",
            lambda f, t: ["crystals", "train", f.crys, "--out", f.crys / "structures" / "r", *FAST],
        ),
        "crystals-robustness": ("--out", lambda f, t: robustness_(f, t, out=f.crysrun)),
        "crystals-robustness-soap": ("--out", lambda f, t: robustness_(f, t, out=f.soaprun)),
        "crystals-map": ("--out", lambda f, t: crystal_map(f, t, out=f.soaprun)),
        "crystals-map-contains": ("--out", lambda f, t: crystal_map(f, t, out=f.root)),
        "crystals-explain": ("--out", lambda f, t: ["crystals", "explain", f.crysrun, "--out", f.crysrun]),
        "report-lots-csv": ("--out", lambda f, t: ["report", f.reg, "--out", f.lots / "lots.csv"]),
        "report-manifest": ("--out", lambda f, t: ["report", f.reg, "--out", f.reg / "manifest.json", "--overwrite"]),
        "synth-sem-lots": (
            "did not write",
            lambda f, t: ["synth", "sem-lots", f.lots, "--lots", 2, "--tiles-per-lot", 1],
        ),
        "synth-xray": ("did not write", lambda f, t: ["synth", "xray", f.lots, "--n", 2, "--size", 16]),
        "synth-textures": ("did not write", lambda f, t: ["synth", "textures", f.bank, "--per-class", 1, "--size", 16]),
        "crystals-build": ("did not write", lambda f, t: ["crystals", "build", f.lots, "--n", 7, *FAST]),
        "synth-over-run": (
            "matsight train",
            lambda f, t: ["synth", "sem-lots", f.reg, "--lots", 2, "--tiles-per-lot", 1],
        ),
    },
)

# -- --out inside (or over) a dataset matsight wrote, whoever reads it ----------------------------------------
cases(
    "out-dataset",
    {
        "report-in-xray": ("inside the dataset", lambda f, t: ["report", f.reg, "--out", f.xray / "images" / "r.html"]),
        "synth-in-xray": ("inside the dataset", lambda f, t: ["synth", "xray", f.xray / "images" / "x", "--n", 2]),
        "train-over-xray": ("is the dataset", lambda f, t: ["train", f.lots, "--out", f.xray, "--overwrite", *TRAIN]),
        "saliency-in-crystals": ("inside the dataset", lambda f, t: ["saliency", f.reg, f.lots, "--out", f.crys / "s"]),
        "benchmark-cache-in-xray": ("inside the dataset", lambda f, t: benchmark_(f, t, "--cache", f.xray / "c")),
        "benchmark-cache-user": ("did not write", lambda f, t: benchmark_(f, t, "--cache", f.user)),
    },
)

# -- --out: another command's run, a user's folder, under a regular file ----------------------------------
cases(
    "out-taken",
    {
        "train-over-editor": ("knobs", lambda f, t: ["train", f.lots, "--out", f.editor, *TRAIN]),
        "train-over-user": ("checkpoint.pt", lambda f, t: ["train", f.lots, "--out", f.user, *TRAIN]),
        "train-over-user-overwrite": (
            "checkpoint.pt",
            lambda f, t: ["train", f.lots, "--out", f.user, "--overwrite", *TRAIN],
        ),
        "saliency-over-ml": ("train", lambda f, t: ["saliency", f.reg, f.lots, "--out", f.ml]),
        "saliency-over-user": ("did not write", lambda f, t: ["saliency", f.reg, f.lots, "--out", f.user]),
        "textures-over-ml": ("train", lambda f, t: ["textures", f.reg, f.lots, f.bank, "--out", f.ml, *FAST]),
        "knobs-train-over-ml": ("train", lambda f, t: ["knobs", "train", f.reg, f.lots, "--out", f.ml]),
        "knobs-sweep-over-ml": ("train", lambda f, t: ["knobs", "sweep", f.editor, "--out", f.ml, *FAST]),
        "analytics-over-reg": ("train", lambda f, t: ["analytics", f.ml, f.xray, "--out", f.reg, *FAST]),
        "crystals-train-over-reg": ("train", lambda f, t: ["crystals", "train", f.crys, "--out", f.reg, *FAST]),
        "crystals-robustness-over-ml": ("train", lambda f, t: robustness_(f, t, out=f.ml)),
        "crystals-map-over-user": ("did not write", lambda f, t: crystal_map(f, t, out=f.user)),
        "crystals-build-over-soaprun": (
            "crystals train",
            lambda f, t: ["crystals", "build", f.soaprun, "--n", 7, *FAST],
        ),
        "crystals-explain-over-user": (
            "did not write",
            lambda f, t: ["crystals", "explain", f.crysrun, "--out", f.user],
        ),
        "crystals-build-over-user": ("did not write", lambda f, t: ["crystals", "build", f.user, "--n", 7, *FAST]),
        "synth-xray-over-xray": ("--overwrite", lambda f, t: ["synth", "xray", f.xray, "--n", 2, "--size", 16]),
        "synth-over-user": ("did not write", lambda f, t: ["synth", "sem-lots", f.user, "--lots", 2]),
        "predict-existing": ("--overwrite", lambda f, t: ["predict", f.reg, f.lots, "--out", f.text, *FAST]),
        "report-existing": ("--overwrite", lambda f, t: ["report", f.reg, "--out", f.text]),
        "benchmark-over-reg": ("train", lambda f, t: benchmark_(f, t, "--out", f.reg)),
        "benchmark-over-user": ("did not write", lambda f, t: benchmark_(f, t, "--out", f.user)),
        "benchmark-over-user-overwrite": (
            "checkpoint.pt",
            lambda f, t: benchmark_(f, t, "--out", f.user, "--overwrite"),
        ),
    },
)
UNDER_FILE = {
    "train": lambda f, t: ["train", f.lots, "--out", f.text / "run", *TRAIN],
    "predict": lambda f, t: ["predict", f.reg, f.lots, "--out", f.text / "p.csv", *FAST],
    "saliency": lambda f, t: ["saliency", f.reg, f.lots, "--out", f.text / "s"],
    "textures": lambda f, t: ["textures", f.reg, f.lots, f.bank, "--out", f.text / "x", *FAST],
    "knobs-train": lambda f, t: ["knobs", "train", f.reg, f.lots, "--out", f.text / "e"],
    "knobs-sweep": lambda f, t: ["knobs", "sweep", f.editor, "--out", f.text / "s", *FAST],
    "knobs-inverse": lambda f, t: ["knobs", "inverse", f.editor, "--out", f.text / "s", *FAST],
    "analytics": lambda f, t: ["analytics", f.ml, f.xray, "--out", f.text / "a", *FAST],
    "crystals-build": lambda f, t: ["crystals", "build", f.text / "c", "--n", 7, *FAST],
    "crystals-train": lambda f, t: ["crystals", "train", f.crys, "--out", f.text / "c", *FAST],
    "crystals-robustness": lambda f, t: robustness_(f, t, out=f.text / "c"),
    "crystals-map": lambda f, t: crystal_map(f, t, out=f.text / "m"),
    "crystals-explain": lambda f, t: ["crystals", "explain", f.crysrun, "--out", f.text / "c"],
    "synth-sem-lots": lambda f, t: ["synth", "sem-lots", f.text / "s", "--lots", 2, "--tiles-per-lot", 1],
    "synth-xray": lambda f, t: ["synth", "xray", f.text / "s", "--n", 2, "--size", 16],
    "synth-textures": lambda f, t: ["synth", "textures", f.text / "s", "--per-class", 1, "--size", 16],
    "report": lambda f, t: ["report", f.reg, "--out", f.text / "r.html"],
    "benchmark": lambda f, t: benchmark_(f, t, "--out", f.text / "b"),
    "benchmark-cache": lambda f, t: benchmark_(f, t, "--cache", f.text / "c"),
}
cases("out-under-file", {name: ("notes.txt", args) for name, args in UNDER_FILE.items()})


# -- option values: out of range, non-finite, unknown --------------------------------------------------
# Each builder puts small settings before the bad option (the last value of an option wins), so a case
# that were wrongly accepted would still end quickly.
def train_(f, t, *bad):
    return ["train", f.lots, "--out", t / "r", *TRAIN, *bad]


def saliency_(f, t, *bad, run=None, data=None):
    return ["saliency", run or f.reg, data or f.lots, "--out", t / "s", "--max-images", 2, *bad]


def textures_(f, t, *bad):
    return ["textures", f.reg, f.lots, f.bank, "--out", t / "x", "--n-boot", 2, "--n-perm", 2, *FAST, *bad]


def knobs_(f, t, *bad):
    return ["knobs", "train", f.reg, f.lots, "--out", t / "e", *SMALL_EDITOR, *bad]


def crystals_train_(f, t, *bad):
    return ["crystals", "train", f.crys, "--out", t / "c", "--epochs", 1, *FAST, *bad]


def crystals_explain_(f, t, *bad):
    return ["crystals", "explain", f.crysrun, "--out", t / "c", "--class", "A1_fcc", *FAST, *bad]


def crystals_build_(f, t, *bad):
    return ["crystals", "build", t / "c", "--n", 2, *FAST, *bad]


def benchmark_(f, t, *bad):
    """``matsight benchmark`` on one task, one seed and one baseline (``--out`` may be given again in ``bad``)."""
    small = ["--tasks", "crystals", "--seeds", 1, "--methods", "baseline:random", *FAST]
    return ["benchmark", "--quick", "--out", t / "b", *small, *bad]


def sem_lots_(f, t, *bad):
    return ["synth", "sem-lots", t / "s", *SMALL_LOTS, *bad]


OPTION_CASES = {
    "train": {
        "epochs-0": "--epochs 0",
        "epochs-text": "--epochs many",
        "image-size-1": "--image-size 1",
        "image-size-0": "--image-size 0",
        "batch-size-0": "--batch-size 0",
        "lr-negative": "--lr -1",
        "lr-nan": "--lr nan",
        "lr-inf": "--lr inf",
        "lr-0": "--lr 0",
        "task": "--task nope",
        "arch": "--arch nope",
        "split": "--split nope",
        "optimizer": "--optimizer nope",
        "schedule": "--schedule nope",
        "device": "--device tpu",
    },
    "saliency": {
        "method": "--method x",
        "sign-0": "--sign 0",
        "sign-2": "--sign 2",
        "batch-size-0": "--batch-size 0",
        "max-images-0": "--max-images 0",
        "max-images-negative": "--max-images -3",
        "device": "--device tpu",
        "workers-0": "--workers 0",
        "engine": "--engine spark",
        "lots-unknown": "--lots ZZ",
        "images-unknown": "--images nope.png",
    },
    "textures": {
        "stage": "--stage Z9",
        "k-negative": "--k -1",
        "k-0": "--k 0",
        "n-boot-0": "--n-boot 0",
        "n-perm-0": "--n-perm 0",
        "device": "--device tpu",
    },
    "knobs": {
        "image-size-0": "--image-size 0",
        "image-size-odd": "--image-size 15",
        "attributes-empty": "--attributes ,",
        "steps-0": "--steps 0",
        "width-0": "--width 0",
        "depth-0": "--depth 0",
        "adversarial": "--adversarial x",
        "attribute-weight-nan": "--attribute-weight nan",
        "quality-epochs-0": "--quality-epochs 0",
        "guide-epochs-negative": "--guide-epochs -1",
        "crop-odd": "--crop 6",
        "crop-above-image-size": "--crop 32",
        "measure-size-0": "--measure-size 0",
    },
    "sweep": {
        "levels-0": "--levels 0",
        "levels-1": "--levels 1",
        "tiles-0": "--tiles 0",
        "view": "--view x",
        "response-tiles-negative": "--response-tiles -1",
    },
    "inverse": {
        "goal-text": "--goal lots",
        "goal-nan": "--goal nan",
        "tiles-0": "--tiles 0",
        "steps-0": "--steps 0",
        "lam-negative": "--lam -1",
        "lam-nan": "--lam nan",
        "knobs": "--knobs shine",
        "per": "--per image",
    },
    "crystals-train": {
        "epochs-0": "--epochs 0",
        "batch-size-0": "--batch-size 0",
        "lr-nan": "--lr nan",
        "lr-negative": "--lr -1",
        "descriptor": "--descriptor xrd",
        "device": "--device tpu",
    },
    "crystals-robustness": {
        "per-class-0": "--per-class 0",
        "per-class-negative": "--per-class -2",
        "mc-samples-0": "--mc-samples 0",
        "device": "--device tpu",
    },
    "crystals-map": {
        "stride-0": "--stride 0",
        "stride-nan": "--stride nan",
        "stride-negative": "--stride -1",
        "mc-samples-0": "--mc-samples 0",
        "grain-format": "--grain A1_fcc:Ni",
        "grain-numbers": "--grain A1_fcc:Ni:left:0.5",
        "grain-nan": "--grain A1_fcc:Ni:nan:0.5",
        "grain-outside": "--grain A1_fcc:Ni:1.5:0.5",
        "grain-prototype": "--grain B9_nope:Ni:0.2:0.5",
        "grain-elements": "--grain B1_rocksalt:Na:0.2:0.5",
        "grain-element-unknown": "--grain A1_fcc:Xx:0.2:0.5",
        "grain-one": "--grain A1_fcc:Ni:0.2:0.5",
    },
    "crystals-explain": {"class": "--class B9_nope", "top-n-0": "--top-n 0", "device": "--device tpu"},
    "crystals-build": {"split": "--split nope", "rotation-200": "--max-rotation 200", "engine": "--engine spark"},
    "benchmark": {
        "seeds-0": "--seeds 0",
        "seeds-negative": "--seeds -3",
        "seed-negative": "--seed -1",
        "tasks": "--tasks pits,cracks",
        "tasks-empty": "--tasks ,",
        "methods": "--methods captum:lime",
        "methods-empty": "--methods ,",
        "device": "--device tpu",
    },
    "synth-sem-lots": {
        "lots-0": "--lots 0",
        "tiles-0": "--tiles-per-lot 0",
        "size-8": "--size 8",
        "design": "--design grid",
    },
}
BUILDERS = {
    "train": train_,
    "saliency": saliency_,
    "textures": textures_,
    "knobs": knobs_,
    "sweep": sweep,
    "inverse": inverse,
    "crystals-train": crystals_train_,
    "crystals-robustness": robustness_,
    "crystals-map": crystal_map,
    "crystals-explain": crystals_explain_,
    "crystals-build": crystals_build_,
    "synth-sem-lots": sem_lots_,
    "benchmark": benchmark_,
}
for command, bad_values in OPTION_CASES.items():
    for name, bad in bad_values.items():
        option, value = bad.split(" ", 1)
        CASES.append(
            (f"option-{command}-{name}", lambda f, t, b=BUILDERS[command], o=option, v=value: b(f, t, o, v), option)
        )
cases(
    "option",
    {
        "train-target": ("nope", lambda f, t: train_(f, t, "--target", "nope")),
        "benchmark-quick-and-full": ("--full", lambda f, t: benchmark_(f, t, "--full")),
        "benchmark-cache-file": ("--cache", lambda f, t: benchmark_(f, t, "--cache", f.text)),
        "predict-batch-size-0": ("--batch-size", lambda f, t: ["predict", f.reg, f.lots, "--batch-size", 0, *FAST]),
        "predict-device": ("--device", lambda f, t: ["predict", f.reg, f.lots, "--device", "tpu"]),
        "predict-engine": ("--engine", lambda f, t: ["predict", f.reg, f.lots, "--engine", "spark", *FAST]),
        "predict-workers-0": ("--workers", lambda f, t: ["predict", f.reg, f.lots, "--workers", 0, *FAST]),
        "saliency-target-99": ("--target", lambda f, t: saliency_(f, t, "--target", 99, run=f.ml, data=f.xray)),
        "saliency-target-negative": ("--target", lambda f, t: saliency_(f, t, "--target", -1, run=f.ml, data=f.xray)),
        "saliency-lots-and-images": ("--images", lambda f, t: saliency_(f, t, "--lots", "A", "--images", "0.png")),
        "textures-target": ("nope", lambda f, t: textures_(f, t, "--target", "nope")),
        "knobs-attributes-unknown": ("nope", lambda f, t: knobs_(f, t, "--attributes", "nope")),
        "knobs-attributes": ("nope", lambda f, t: knobs_(f, t, "--attributes", "nope")),
        "analytics-distance": (
            "--distance",
            lambda f, t: ["analytics", f.ml, f.xray, "--out", t / "a", "--distance", "x"],
        ),
        "analytics-workers-0": (
            "--workers",
            lambda f, t: ["analytics", f.ml, f.xray, "--out", t / "a", "--workers", 0],
        ),
        "app-port-70000": ("--port", lambda f, t: ["app", f.ml, "--port", 70000]),
        "app-port-negative": ("--port", lambda f, t: ["app", f.ml, "--port", -1]),
        "app-host": ("--host", lambda f, t: ["app", f.ml, "--host", "invalid host!"]),
        "app-device": ("--device", lambda f, t: ["app", f.ml, "--device", "tpu"]),
        "crystals-build-n-0": ("--n", lambda f, t: ["crystals", "build", t / "c", "--n", 0, *FAST]),
        "crystals-build-n-negative": ("--n", lambda f, t: ["crystals", "build", t / "c", "--n", -7, *FAST]),
        "crystals-build-rotation-nan": (
            "--max-rotation",
            lambda f, t: ["crystals", "build", t / "c", "--n", 7, "--max-rotation", "nan", *FAST],
        ),
        "synth-sem-lots-coefficients-bad": (
            "coefficients-bad.json",
            lambda f, t: sem_lots_(f, t, "--coefficients", f.coefficients_bad),
        ),
        "synth-sem-lots-coefficients-list": (
            "coefficients-list.json",
            lambda f, t: sem_lots_(f, t, "--coefficients", f.coefficients_list),
        ),
        "synth-sem-lots-coefficients-nan": (
            "coefficients-nan.json",
            lambda f, t: sem_lots_(f, t, "--coefficients", f.coefficients_nan),
        ),
        "synth-sem-lots-coefficients-unknown": (
            "shine",
            lambda f, t: sem_lots_(f, t, "--coefficients", f.coefficients_unknown),
        ),
        "synth-sem-lots-coefficients-binary": (
            "checkpoint.pt",
            lambda f, t: sem_lots_(f, t, "--coefficients", f.reg / "checkpoint.pt"),
        ),
        "synth-xray-n-0": ("--n", lambda f, t: ["synth", "xray", t / "s", "--size", 16, "--n", 0]),
        "synth-xray-size-8": ("--size", lambda f, t: ["synth", "xray", t / "s", "--n", 2, "--size", 8]),
        "synth-textures-per-class-0": ("--per-class", lambda f, t: ["synth", "textures", t / "s", "--per-class", 0]),
        "synth-textures-size-8": ("--size", lambda f, t: ["synth", "textures", t / "s", "--per-class", 1, "--size", 8]),
        "validate-layout": ("layout", lambda f, t: ["validate", f.lots, "--layout", "grid"]),
        "demo-part": ("part", lambda f, t: ["demo", "everything", "--out", t / "d"]),
        "report-no-run": ("RUN", lambda f, t: ["report"]),
        "unknown-option": ("--colour", lambda f, t: train_(f, t, "--colour", "red")),
        "train-image-size-huge": ("--image-size", lambda f, t: train_(f, t, "--image-size", 100000)),
        "synth-xray-size-huge": ("--size", lambda f, t: ["synth", "xray", t / "s", "--n", 1, "--size", 2000000]),
        "synth-sem-lots-size-huge": ("--size", lambda f, t: sem_lots_(f, t, "--size", 10000000)),
        "inverse-goal-zero": ("--goal", lambda f, t: inverse(f, t, "--goal", "+0%")),
        "knobs-attributes-target": ("cps", lambda f, t: knobs_(f, t, "--attributes", "size,cps")),
        "inverse-sweep-without-trusted": ("--knobs trusted", lambda f, t: inverse(f, t, "--sweep", f.editor)),
        "inverse-trusted-never-swept": ("sweep", lambda f, t: inverse(f, t, "--knobs", "trusted")),
    },
)

# -- damaged inputs ----------------------------------------------------------------------------------
cases(
    "damaged",
    {
        "validate-header-only": ("lots.csv", lambda f, t: ["validate", f.header_only]),
        "train-header-only": ("lots.csv", lambda f, t: ["train", f.header_only, "--out", t / "r", *TRAIN]),
        "validate-inf-target": ("inf", lambda f, t: ["validate", f.inf_target]),
        "train-inf-target": ("inf", lambda f, t: ["train", f.inf_target, "--out", t / "r", *TRAIN]),
        "validate-text-target": ("high", lambda f, t: ["validate", f.text_target]),
        "train-text-target": ("high", lambda f, t: ["train", f.text_target, "--out", t / "r", *TRAIN]),
        "validate-bad-tile": ("2.png", lambda f, t: ["validate", f.bad_tile]),
        "train-bad-tile": ("2.png", lambda f, t: ["train", f.bad_tile, "--out", t / "r", *TRAIN]),
        "predict-bad-tile": ("2.png", lambda f, t: ["predict", f.reg, f.bad_tile, "--out", t / "p.csv", *FAST]),
        "saliency-bad-tile": ("2.png", lambda f, t: ["saliency", f.reg, f.bad_tile, "--out", t / "s"]),
        "validate-link-tile": ("2.png", lambda f, t: ["validate", f.link_tile]),
        "train-link-tile": ("2.png", lambda f, t: ["train", f.link_tile, "--out", t / "r", *TRAIN]),
        "validate-empty-tile": ("1.png", lambda f, t: ["validate", f.empty_tile]),
        # a prediction or explanation decodes images as it reaches them: their headers are checked first
        "predict-empty-tile": ("1.png", lambda f, t: ["predict", f.reg, f.empty_tile, "--out", t / "p.csv", *FAST]),
        "saliency-empty-tile": ("1.png", lambda f, t: ["saliency", f.reg, f.empty_tile, "--out", t / "s"]),
        "textures-bank-is-lots": (
            "lots folder",
            lambda f, t: ["textures", f.reg, f.lots, f.lots, "--out", t / "x", *FAST],
        ),
        "textures-empty-tile": (
            "1.png",
            lambda f, t: ["textures", f.reg, f.empty_tile, f.bank, "--out", t / "x", *FAST],
        ),
        "train-empty-tile": ("1.png", lambda f, t: ["train", f.empty_tile, "--out", t / "r", *TRAIN]),
        "train-labels-header-only": (
            "labels.csv",
            lambda f, t: ["train", f.labels_header_only, "--out", t / "r", "--task", "multilabel", *TRAIN],
        ),
        "validate-labels-header-only": ("labels.csv", lambda f, t: ["validate", f.labels_header_only]),
        "train-resume-manifest": (
            "manifest.json",
            lambda f, t: ["train", f.lots, "--out", interrupted(f.reg, t / "resume", "manifest"), *TRAIN],
        ),
        "report-manifest": ("manifest.json", lambda f, t: ["report", f.broken_manifest, "--out", t / "r.html"]),
        "report-section": ("report_sections", lambda f, t: ["report", f.broken_section, "--out", t / "r.html"]),
        "predict-checkpoint": (
            "checkpoint.pt",
            lambda f, t: ["predict", f.broken_checkpoint, f.lots, "--out", t / "p.csv", *FAST],
        ),
        "saliency-checkpoint": (
            "checkpoint.pt",
            lambda f, t: ["saliency", f.broken_checkpoint, f.lots, "--out", t / "s"],
        ),
        "knobs-checkpoint": (
            "checkpoint.pt",
            lambda f, t: ["knobs", "train", f.broken_checkpoint, f.lots, "--out", t / "e", *FAST],
        ),
        "train-resume-last": (
            "last.pt",
            lambda f, t: ["train", f.lots, "--out", interrupted(f.reg, t / "resume", "last.pt"), *TRAIN],
        ),
        "app-no-analytics": ("analytics", lambda f, t: ["app", f.reg]),
        "analytics-training-data-gone": (
            "DATA folder",
            lambda f, t: ["analytics", data_gone(f.ml, t / "ml"), "--out", t / "a", *FAST],
        ),
        "train-constant-target": ("cps = 7", lambda f, t: ["train", constant_target(f, t), "--out", t / "r", *TRAIN]),
        "textures-two-measured-lots": (
            "at least 3 lots",
            lambda f, t: ["textures", f.reg, measured_lots(f, t, 2), f.bank, "--out", t / "x", *FAST],
        ),
        "crystals-structure-outside": (
            "leads outside",
            lambda f, t: ["crystals", "train", structure_link(f, t), "--out", t / "c", *FAST],
        ),
        "coefficients-in-lots-csv": (
            "lots.csv",
            lambda f, t: ["synth", "sem-lots", t / "s", "--coefficients", f.lots / "lots.csv"],
        ),
    },
)

# -- runs of the wrong kind ---------------------------------------------------------------------------
cases(
    "wrong-kind",
    {
        "robustness-sem-regressor": ("crystal", lambda f, t: robustness_(f, t, convnet=f.reg)),
        "robustness-convnet-is-soap": ("crystal_convnet", lambda f, t: robustness_(f, t, convnet=f.soaprun)),
        "robustness-soap-is-convnet": ("soap_mlp", lambda f, t: robustness_(f, t, soap=f.crysrun)),
        "map-soap-is-convnet": ("--soap", lambda f, t: crystal_map(f, t, soap=f.crysrun)),
        "map-convnet-is-regressor": ("--convnet", lambda f, t: crystal_map(f, t, convnet=f.reg)),
        "explain-xray-run": ("crystal", lambda f, t: ["crystals", "explain", f.ml, "--out", t / "c"]),
        "explain-soap-run": ("crystal_convnet", lambda f, t: ["crystals", "explain", f.soaprun, "--out", t / "c"]),
        "knobs-multilabel-run": ("regress", lambda f, t: ["knobs", "train", f.ml, f.lots, "--out", t / "e", *FAST]),
        "analytics-regressor": ("multilabel", lambda f, t: ["analytics", f.reg, f.xray, "--out", t / "a", *FAST]),
        # saliency of a tagger without --target is no longer an error: each image explains its top-scoring
        # attribute (tests/test_saliency_cli.py::test_a_tagger_without_target_explains_each_images_top_attribute)
        "sweep-training-run": ("editor", lambda f, t: ["knobs", "sweep", f.reg, *FAST]),
        "inverse-training-run": ("editor", lambda f, t: ["knobs", "inverse", f.reg, *FAST]),
        "sweep-regressor-multilabel": ("regression", lambda f, t: sweep(f, t, "--regressor", f.ml)),
        "inverse-regressor-crystal": ("regression", lambda f, t: inverse(f, t, "--regressor", f.crysrun)),
        "knobs-regressor-is-editor": ("checkpoint.pt", lambda f, t: sweep(f, t, "--regressor", f.editor)),
        "crystals-train-on-lots": ("labels.csv", lambda f, t: ["crystals", "train", f.lots, "--out", t / "c", *FAST]),
        "analytics-on-lots": ("labels.csv", lambda f, t: ["analytics", f.ml, f.lots, "--out", t / "a", *FAST]),
        "app-on-lots": ("analytics", lambda f, t: ["app", f.lots]),
    },
)


def _one_line_error(err: str) -> str:
    """The error message: one line, or (a dataset with several problems) a header line ending in
    "problem(s) found:" followed only by "  - " items, all reported at once. Progress lines that came
    before the error (time-stamped, ``[HH:MM:SS] ...``) are not part of it."""
    progress = re.compile(r"^\[\d\d:\d\d:\d\d\] ")
    lines = [line for line in err.splitlines() if line.strip() and not progress.match(line)]
    assert lines and lines[0].startswith("error: "), err
    if len(lines) > 1:
        assert lines[0].endswith("problem(s) found:") and all(line.startswith("  - ") for line in lines[1:]), err
    return " ".join(lines)


@pytest.fixture(scope="module")
def untouched(fx):
    """The inputs' contents before the cases; compared once after all of them."""
    before = content_digest(fx.inputs())
    yield
    assert content_digest(fx.inputs()) == before, "a case changed the contents of an input"


@pytest.mark.parametrize("name, args, expected", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_exit_2_and_inputs_untouched(fx, untouched, tmp_path, name, args, expected):
    argv = args(fx, tmp_path)
    before = snapshot(fx.inputs())
    code, out, err = cli(*argv)
    assert "Traceback" not in out + err, err
    assert code == 2, f"exit {code}; stdout: {out[-500:]}; stderr: {err[-1500:]}"
    line = _one_line_error(err)
    assert expected in line, line
    assert snapshot(fx.inputs()) == before, "an input file was added, removed or rewritten"


def test_there_are_at_least_150_cases():
    assert len(CASES) >= 150, len(CASES)


def test_read_only_disk_is_one_line(fx, tmp_path, monkeypatch):
    """An --out on a read-only file system: the write fails with EROFS; one line naming the path."""
    import tempfile

    def read_only(*args, dir=None, **kwargs):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), dir)

    monkeypatch.setattr(tempfile, "mkstemp", read_only)
    code, _, err = cli("report", fx.reg, "--out", tmp_path / "r.html")
    assert code == 2 and "read-only" in _one_line_error(err) and str(tmp_path) in err


def test_full_disk_is_one_line(fx, tmp_path, monkeypatch):
    """A write that fails with ENOSPC (which names no file when the data, not the open, fails): one line."""
    import tempfile

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(tempfile, "mkstemp", full)
    code, _, err = cli("report", fx.reg, "--out", tmp_path / "r.html")
    assert code == 2 and "disk is full" in _one_line_error(err) and "Traceback" not in err


@pytest.mark.parametrize("stop", ["ctrl-c", "sigterm"])
def test_ctrl_c_says_how_to_resume_and_the_manifest_records_it(fx, tmp_path, monkeypatch, stop):
    """Ctrl-C, and SIGTERM as `timeout`, `kill` or a batch scheduler send it: one line, status failed."""
    import importlib
    import signal

    training = importlib.import_module("matsight.training.train")  # the module, not the function it exports

    def interrupted(*args, **kwargs):
        if stop == "sigterm":
            os.kill(os.getpid(), signal.SIGTERM)
        raise KeyboardInterrupt

    monkeypatch.setattr(training, "fit", interrupted)
    code, _, err = cli("train", fx.lots, "--out", tmp_path / "r", *TRAIN)
    assert code == 130 and "rerun the same command to resume" in _one_line_error(err)
    manifest = json.loads((tmp_path / "r" / "manifest.json").read_text())
    assert manifest["status"] == "failed" and "interrupted (Ctrl-C" in manifest["error"]


def test_problems_known_before_a_run_leave_no_folder_or_file_behind(fx, tmp_path, monkeypatch):
    """A --weights file that is no state dict, and a prediction CSV on a disk that cannot be written, are
    refused before anything is computed or claimed."""
    from matsight.store import claim

    code, _, err = cli("train", fx.lots, "--out", tmp_path / "r", "--weights", fx.text, *TRAIN)
    assert code == 2 and "notes.txt" in _one_line_error(err) and not (tmp_path / "r").exists()
    real_access = os.access

    def read_only(path, mode, *args, **kwargs):  # tmp_path as on a read-only disk
        return False if Path(path) == tmp_path and mode & os.W_OK else real_access(path, mode, *args, **kwargs)

    monkeypatch.setattr(claim.os, "access", read_only)
    code, out, err = cli("predict", fx.reg, fx.lots, "--out", tmp_path / "p.csv", *FAST)
    assert code == 2 and "cannot be written" in _one_line_error(err) and "predicting" not in out + err
