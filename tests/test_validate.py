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


# -- intensities: effective bit depth per folder, fixed float range ----------------------------------------


def _write(path: Path, array: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".tif":
        tifffile.imwrite(path, array)
    else:
        Image.fromarray(array).save(path)
    return path


@pytest.mark.parametrize("top, depth", [(255, 8), (1023, 10), (4095, 12), (16383, 14), (40000, 16), (600, 10)])
def test_effective_bit_depth_of_a_16_bit_container(top, depth):
    from matsight.data.intensity import effective_bit_depth

    assert effective_bit_depth(top, 16) == depth
    assert effective_bit_depth(200, 8) == 8 and effective_bit_depth(70000, 32) == 24


def test_decoder_reads_the_same_scene_the_same_in_8_12_and_16_bit_files(tmp_path):
    from matsight.data.intensity import Decoder

    scene = np.random.default_rng(0).integers(0, 256, (6, 7)).astype(np.uint8)
    scene[0, 0] = 255
    files = {
        "png8": _write(tmp_path / "png8" / "a.png", scene),
        "tiff12": _write(tmp_path / "tiff12" / "a.tif", np.round(scene * (4095 / 255)).astype(np.uint16)),
        "tiff16": _write(tmp_path / "tiff16" / "a.tif", scene.astype(np.uint16) * 257),
    }
    decoder = Decoder()
    read = {name: decoder.read(path) for name, path in files.items()}
    for name in ("tiff12", "tiff16"):
        np.testing.assert_allclose(read[name], read["png8"], atol=1 / 4095)
    assert read_image(files["tiff12"]).max() == pytest.approx(4095 / 65535)  # the container maximum would be 16x dark
    assert decoder.folder_range(files["tiff12"]).depth == 12


def test_decoder_uses_the_folder_depth_and_never_exceeds_one(tmp_path):
    from matsight.data.intensity import Decoder

    folder = tmp_path / "lot"
    for i in range(40):  # 12-bit values; the sample of 32 images reaches 4000
        _write(folder / f"t{i:02d}.tif", np.full((4, 4), 4000 if i < 39 else 100, np.uint16))
    dark = Decoder().read(folder / "t39.tif")
    assert dark.max() == pytest.approx(100 / 4095)  # a dark image of a 12-bit folder is read at 12 bits
    bright = _write(tmp_path / "mixed" / "x.tif", np.full((4, 4), 60000, np.uint16))
    _write(tmp_path / "mixed" / "y.tif", np.full((4, 4), 50, np.uint16))
    assert Decoder().read(bright).max() == pytest.approx(60000 / 65535)


def test_float_images_use_the_fixed_training_range(tmp_path):
    from matsight.data.intensity import Decoder, Intensity, survey

    train = [_write(tmp_path / "train" / "0.tif", np.linspace(-1.0, 3.0, 100, dtype=np.float32).reshape(10, 10))]
    intensity = Intensity.fit(survey(train))
    low, high = intensity.float_range
    assert low == pytest.approx(-1.0, abs=0.01) and high == pytest.approx(3.0, abs=0.01)
    new = _write(tmp_path / "new" / "a.tif", np.full((3, 3), 1.0, np.float32))
    assert Decoder(intensity).read(new)[0, 0, 0] == pytest.approx((1.0 - low) / (high - low), abs=1e-4)
    assert read_image(new)[0, 0, 0] == 0.0  # per-image min-max would erase the level


def test_validate_reports_depths_per_folder_and_warns_when_they_differ(tmp_path):
    root = tmp_path / "d"
    (root / "images").mkdir(parents=True)
    (root / "lots.csv").write_text("lot,yield_mpa,porosity,operator\nA,300,0.1,anna\nB,,0.2,ben\nC,320,0.3,anna\n")
    _write(root / "images/A/t.png", np.full((5, 5), 200, np.uint8))
    _write(root / "images/B/t.tif", np.full((5, 5), 3000, np.uint16))
    _write(root / "images/C/t.tif", np.full((5, 5), 50000, np.uint16))
    (root / "images/A/notes.txt").write_text("not an image")
    summary = validate(root)  # no target asked: every numeric column is checked, blank cells allowed
    assert summary.numeric_columns == ["yield_mpa", "porosity"] and summary.blank == {"yield_mpa": 1, "porosity": 0}
    assert {r.folder.name: r.depth for r in summary.ranges} == {"A": 8, "B": 12, "C": 16}
    text = "\n".join(summary.lines())
    assert "images/B (.tif, 1 images): uint16, values 3000–3000 → 12-bit in 16-bit files" in text
    assert "warning: the folders hold different kinds of values" in text and "yield_mpa (1 blank)" in text
    for lot, value in (("A", 2000), ("C", 4000)):  # every folder 12-bit: no warning
        next((root / "images" / lot).glob("t.*")).unlink()
        _write(root / "images" / lot / "t.tif", np.full((5, 5), value, np.uint16))
    again = validate(root)
    assert not again.mixed_ranges and "warning" not in "\n".join(again.lines())


def test_train_needs_target_only_when_lots_csv_is_ambiguous(tmp_path):
    from matsight.data.layouts import choose_target
    from matsight.errors import ConfigError

    root = _lots(tmp_path / "d", ["A,1.5,3", "B,2.5,4"], {"A": 1, "B": 1})
    with pytest.raises(
        ConfigError, match=r"2 numeric columns \(cps, size\): choose the property to predict with --target"
    ):
        choose_target(root)
    assert choose_target(root, "size") == "size"
    with pytest.raises(DataLayoutError, match="column 'strength' \\(--target\\) is missing"):
        choose_target(root, "strength")
    (root / "lots.csv").write_text("lot,yield_mpa,site\nA,1.5,north\nB,,south\n")
    assert choose_target(root) == "yield_mpa"


# -- images and CSVs as other programs write them ----------------------------------------------------------


def test_grey_with_alpha_and_two_sample_tiffs_read_as_their_grey_channel(tmp_path):
    grey = np.arange(30, dtype=np.uint8).reshape(5, 6) * 8
    la = tmp_path / "la.png"
    Image.fromarray(np.stack([grey, np.full_like(grey, 255)], -1), "LA").save(la)
    two = tmp_path / "two.tif"
    tifffile.imwrite(two, np.stack([grey, 255 - grey], -1), photometric="minisblack", planarconfig="contig")
    for path in (la, two):
        np.testing.assert_allclose(read_image(path, 1)[0], grey / 255, atol=1e-6)
        assert read_image(path, 3).shape == (3, 5, 6)


def test_a_tiff_stack_is_refused_and_a_thumbnail_page_ignored(tmp_path):
    from matsight.errors import ImageReadError

    image = np.random.default_rng(0).integers(0, 255, (8, 8)).astype(np.uint8)
    with tifffile.TiffWriter(tmp_path / "stack.tif") as tiff:  # two full-size pages: a z-stack or time series
        tiff.write(image)
        tiff.write(image)
    with pytest.raises(ImageReadError, match="stack.tif: a stack of images .* one 2-D image per file"):
        read_image(tmp_path / "stack.tif")
    with tifffile.TiffWriter(tmp_path / "thumb.tif") as tiff:  # the image and its reduced-resolution preview
        tiff.write(image)
        tiff.write(image[::4, ::4], subfiletype=1)
    np.testing.assert_allclose(read_image(tmp_path / "thumb.tif")[0], image / 255, atol=1e-6)


def test_signed_images_keep_their_negative_values_and_nan_only_images_are_refused(tmp_path):
    from matsight.data.intensity import Decoder, Intensity, survey
    from matsight.errors import ImageReadError

    values = np.linspace(-500, 1500, 25).reshape(5, 5).astype(np.int16)
    path = _write(tmp_path / "ct" / "a.tif", values)
    ranges = survey([path])
    assert ranges[(path.parent, ".tif")].depth is None  # read with a fixed range, not a bit depth from 0
    read = Intensity.fit(ranges).decoder(ranges).read(path)[0]
    np.testing.assert_allclose(read, (values + 500) / 2000, atol=1e-6)  # no negative pixel clipped to 0
    nan = _write(tmp_path / "nan" / "a.tif", np.full((4, 4), np.nan, np.float32))
    with pytest.raises(ImageReadError, match="no pixel holds a finite value"):
        Decoder().read(nan)


@pytest.mark.parametrize(
    "content, expected",
    [
        ("lot;cps;size\nA;1,5;3\nB;2;4\n", "separated by ';', not commas"),
        ("lot\tcps\tsize\nA\t1\t3\nB\t2\t4\n", "separated by tabs"),
        ("lot,cps,size\nA,1,3,7,8\nB,2,4\n", "row 2: 5 cells where the header has 3"),
        ("lot,cps,cps\nA,1,3\nB,2,4\n", "column 'cps' appears twice"),
        ("lot,cps,\nA,1,3\nB,2,4\n", "row 1, column 3: the column has no name"),
        ("lot,cps,size\nA,1\nB,2,4\n", "row 2: 2 cells where the header has 3"),
    ],
)
def test_csv_structure_problems_name_the_row_and_the_fix(tmp_path, content, expected):
    root = _lots(tmp_path / "d", [], {"A": 1, "B": 1})
    (root / "lots.csv").write_text(content)
    message = _problems(root, layout="lots")
    assert expected in message and "lots.csv" in message


def test_csv_as_spreadsheets_save_it_reads(tmp_path):
    """A byte-order mark, Windows line ends, blank lines, padded header names, trailing empty cells and a
    lot name typed in another Unicode form than its folder's (macOS stores é decomposed) all read."""
    import unicodedata

    folder_name = unicodedata.normalize("NFD", "Lot é")
    root = _lots(tmp_path / "d", [], {"A": 1, folder_name: 2})
    text = "lot , cps ,size\r\nA,1,3,,\r\n\r\n" + unicodedata.normalize("NFC", "Lot é") + ",2,4\r\n"
    (root / "lots.csv").write_bytes(b"\xef\xbb\xbf" + text.encode())
    summary = validate(root, layout="lots")
    assert (summary.images, summary.groups) == (3, 2) and summary.numeric_columns == ["cps", "size"]
    (root / "lots.csv").write_bytes("lot,cps\nA,1\nLot é,2\n".encode("latin-1"))
    assert "not UTF-8 text" in _problems(root, layout="lots")


def test_broken_links_are_reported_and_macos_companions_ignored(tmp_path):
    root = _lots(tmp_path / "d", ["A,1,2", "B,2,3"], {"A": 1, "B": 1})
    (root / "images/A/._t0.png").write_bytes(b"\x00\x05\x16\x07 AppleDouble metadata")  # a Mac's companion file
    assert validate(root, layout="lots").images == 2
    (root / "images/B/gone.png").symlink_to(tmp_path / "moved-away.png")
    assert "images/B/gone.png: a link to" in _problems(root, layout="lots")
