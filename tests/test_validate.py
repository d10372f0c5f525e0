"""matsight validate: every error kind is reported with its path, all at once; decoding of 8/16-bit PNG/TIFF."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image

from matsight.data.images import read_image
from matsight.data.validate import detect_layout, validate
from matsight.errors import DataLayoutError

MATSIGHT = str(Path(sys.executable).with_name("matsight"))


def _tile(path: Path, value: int = 100) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((8, 10), value, np.uint8)).save(path)


def _lots(root: Path, rows: list[str], folders: dict[str, int]) -> Path:
    (root / "images").mkdir(parents=True)
    (root / "lots.csv").write_text("lot,cps,size\n" + "".join(r + "\n" for r in rows))
    for lot, n in folders.items():
        (root / "images" / lot).mkdir()
        for i in range(n):
            _tile(root / "images" / lot / f"t{i}.png")
    return root


def _problems(root: Path, layout: str | None = None) -> str:
    with pytest.raises(DataLayoutError) as info:
        validate(root, layout=layout)
    return str(info.value)


def test_valid_lots_summary(tmp_path):
    root = _lots(tmp_path / "d", ["A,1.5,3", "B,2.5,4"], {"A": 2, "B": 1})
    summary = validate(root)
    assert (summary.layout, summary.images, summary.groups) == ("lots", 3, 2)
    assert summary.sizes == {(8, 10): 3} and summary.bit_depths == {"uint8": 3}


@pytest.mark.parametrize(
    "case, expected",
    [
        ("missing_csv", "lots.csv is missing"),
        ("folder_without_row", "images/C: folder has no row"),
        ("row_without_folder", "lot 'B' has no folder"),
        ("corrupt_image", "images/A/t0.png: cannot decode image"),
        ("non_numeric_target", "row 2, column 'cps': 'x' is not a number"),
        ("non_numeric_attribute", "row 3, column 'size': 'big' is not a number"),
        ("empty_lot", "images/B: lot 'B' has no images"),
        ("duplicate_lot", "lot 'A' appears 2 times"),
    ],
)
def test_each_lots_error_names_its_path(tmp_path, case, expected):
    rows, folders = ["A,1,2", "B,2,3"], {"A": 1, "B": 1}
    if case == "folder_without_row":
        folders["C"] = 1
    if case == "row_without_folder":
        folders.pop("B")
    if case == "non_numeric_target":
        rows[0] = "A,x,2"
    if case == "non_numeric_attribute":
        rows[1] = "B,2,big"
    if case == "empty_lot":
        folders["B"] = 0
    if case == "duplicate_lot":
        rows.append("A,3,4")
    root = _lots(tmp_path / "d", rows, folders)
    if case == "missing_csv":
        (root / "lots.csv").unlink()
    if case == "corrupt_image":
        (root / "images/A/t0.png").write_bytes(b"not a png")
    message = _problems(root, layout="lots")
    assert expected in message and str(root) in message


def test_all_problems_reported_at_once(tmp_path):
    root = _lots(tmp_path / "d", ["A,x,2", "B,2,3", "B,2,3"], {"A": 1, "C": 1})
    (root / "images/A/t0.png").write_bytes(b"garbage")
    message = _problems(root)
    assert "6 problem(s)" in message  # B lacks a folder on both of its rows
    for part in ("'x' is not a number", "appears 2 times", "lot 'B' has no folder", "images/C", "A/t0.png"):
        assert part in message


def test_multilabel_and_classes_errors(tmp_path):
    ml = tmp_path / "ml"
    _tile(ml / "images/a.png")
    _tile(ml / "images/b.png")
    (ml / "images/b.png").write_bytes(b"broken")
    (ml / "labels.csv").write_text("image,ring,halo\na.png,1,2\nb.png,0,1\nc.png,1,0\n")
    assert detect_layout(ml) == "multilabel"
    message = _problems(ml)
    assert "row 2, column 'halo': '2' is not 0 or 1" in message
    assert f"image {ml / 'images' / 'c.png'} does not exist" in message
    assert f"{ml / 'images' / 'b.png'}: cannot decode" in message

    cls = tmp_path / "cls"
    _tile(cls / "images/cubic/a.png")
    (cls / "images/hex").mkdir()
    (cls / "images/hex/b.tif").write_bytes(b"II*\x00junk")
    assert detect_layout(cls) == "classes"
    assert f"{cls / 'images' / 'hex' / 'b.tif'}: " in _problems(cls)  # 'cannot decode' or 'is empty'
    (cls / "images/hex/b.tif").unlink()
    assert validate(cls).groups == 1


@pytest.mark.parametrize("kind", ["png8_grey", "png16_grey", "png8_rgb", "tif8_grey", "tif16_grey", "tif16_rgb"])
def test_decoding_bit_depths_and_channels(tmp_path, kind):
    fmt, depth, colour = kind[:3], int(kind[3 : kind.index("_")]), kind.endswith("rgb")
    dtype = np.uint8 if depth == 8 else np.uint16
    top = np.iinfo(dtype).max
    shape = (6, 7, 3) if colour else (6, 7)
    array = np.zeros(shape, dtype)
    array[0, 0] = top  # one white pixel, rest black
    path = tmp_path / f"x.{'png' if fmt == 'png' else 'tif'}"
    if fmt == "tif":
        tifffile.imwrite(path, array)
    elif depth == 16:
        Image.fromarray(array).save(path)  # Pillow writes uint16 arrays as 16-bit grey PNG
    else:
        Image.fromarray(array).save(path)
    grey, rgb = read_image(path, 1), read_image(path, 3)
    assert grey.shape == (1, 6, 7) and rgb.shape == (3, 6, 7)
    assert grey[0, 0, 0] == pytest.approx(1.0, abs=1e-3) and grey[0, 1, 1] == 0.0
    summary = validate_single(tmp_path, path)
    assert summary.bit_depths == {("uint8" if depth == 8 else "uint16"): 1}
    assert summary.channels == {3 if colour else 1: 1}


def validate_single(tmp_path: Path, image: Path):
    root = tmp_path / "one"
    (root / "images/only").mkdir(parents=True)
    os.replace(image, root / "images/only" / image.name)
    return validate(root, layout="classes")


def test_cli_exit_2_without_traceback(tmp_path):
    # 'cps' holds a number in another row, so validate (which asks for no target) knows it is numeric
    root = _lots(tmp_path / "d", ["A,x,2", "C,1.5,3"], {"A": 1, "B": 1, "C": 1})
    result = subprocess.run([MATSIGHT, "validate", str(root)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and "'x' is not a number" in result.stderr
    assert str(root / "images" / "B") in result.stderr.replace("\n", "")
