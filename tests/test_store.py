import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from matsight.errors import RunFolderError
from matsight.store import RunFolder, atomic_path, hash_inputs


def test_atomic_path_leaves_the_old_file_on_failure(tmp_path):
    target = tmp_path / "table.csv"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half-writ")
            raise RuntimeError("crash mid-write")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["table.csv"]


def test_a_generator_killed_half_way_leaves_no_folder_to_be_taken_as_finished(tmp_path):
    from matsight.store.atomic import complete_folder

    calls = []

    def make(folder, fail=False):
        calls.append(folder.name)
        folder.mkdir()
        (folder / "first.txt").write_text("1")
        if fail:
            raise KeyboardInterrupt
        (folder / "second.txt").write_text("2")

    with pytest.raises(KeyboardInterrupt):
        complete_folder(tmp_path / "bank", lambda f: make(f, fail=True))
    assert not (tmp_path / "bank").exists()  # the rerun does not mistake the half-written folder for a bank
    done = complete_folder(tmp_path / "bank", make)
    assert sorted(p.name for p in done.iterdir()) == ["first.txt", "second.txt"] and calls == [".bank.partial"] * 2
    assert complete_folder(tmp_path / "bank", lambda f: pytest.fail("an existing folder is not made again")) == done
    assert [p.name for p in tmp_path.iterdir()] == ["bank"]


def test_manifest_records_versions_seed_and_input_hash(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "lots.csv").write_text("lot,cps\nA,1\n")
    run = RunFolder(tmp_path / "run")
    run.start("train", {"epochs": 2}, seed=7, inputs={"data": data})
    manifest = run.read_manifest()
    assert manifest["seed"] == 7 and manifest["status"] == "running"
    assert manifest["versions"]["torch"]
    import torch

    hardware = manifest["hardware"]  # what else decides the float rounding: CPU kernels, threads
    assert hardware["cpu_capability"] == torch.backends.cpu.get_cpu_capability() and hardware["cpu"]
    assert hardware["threads"] == torch.get_num_threads() and hardware["gpus"] == torch.cuda.device_count()
    assert manifest["inputs"]["data"]["hash"] == hash_inputs(data)
    (data / "lots.csv").write_text("lot,cps\nA,2\n")
    assert hash_inputs(data) != manifest["inputs"]["data"]["hash"]
    run.set_status("finished")
    assert json.loads(run.manifest_path.read_text())["status"] == "finished"


def test_a_runs_input_is_found_from_anywhere_while_it_holds_what_the_run_read(tmp_path, monkeypatch):
    study = tmp_path / "study"
    (study / "lots").mkdir(parents=True)
    (study / "lots" / "lots.csv").write_text("lot,cps\nA,1\n")
    monkeypatch.chdir(study)  # paths as a user types them: relative to where the command ran
    RunFolder("reg").start("train", {"out": "reg", "data": "lots"}, inputs={"data": "lots"})
    assert RunFolder("reg").input_path("data") == Path("lots")
    monkeypatch.chdir(tmp_path)  # the same study read from its parent: found next to the run, as then
    assert RunFolder(study / "reg").input_path("data").resolve() == (study / "lots").resolve()
    moved = tmp_path / "moved"
    study.rename(moved)  # run and data moved together
    assert RunFolder(moved / "reg").input_path("data").resolve() == (moved / "lots").resolve()
    (tmp_path / "lots").mkdir()  # a folder of the same name with other content is not the input
    (tmp_path / "lots" / "lots.csv").write_text("lot,cps\nB,9\n")
    assert RunFolder(moved / "reg").input_path("data").resolve() == (moved / "lots").resolve()
    (moved / "lots" / "lots.csv").write_text("lot,cps\nA,2\n")  # the input itself changed since
    assert RunFolder(moved / "reg").input_path("data") is None
    assert RunFolder(moved / "reg").input_path("weights") is None  # not an input of the run


def test_tables_round_trip_with_csv_copy(tmp_path):
    run = RunFolder(tmp_path)
    table = pd.DataFrame({"lot": ["A", "B"], "cps": [1.5, 2.5]})
    run.write_table("per_lot", table)
    pd.testing.assert_frame_equal(run.read_table("per_lot"), table)
    assert (tmp_path / "tables" / "per_lot.csv").read_text().splitlines()[0] == "lot,cps"


def test_chunk_store_resumes_and_concatenates_in_order(tmp_path):
    store = RunFolder(tmp_path).chunks("maps")
    store.write(1, maps=np.ones((2, 3)))
    store.write(0, maps=np.zeros((1, 3)))
    assert store.has(0) and store.has(1) and not store.has(2)
    np.testing.assert_array_equal(store.concat("maps")[:, 0], [0, 1, 1])


def test_missing_run_folder_is_a_user_error(tmp_path):
    with pytest.raises(RunFolderError, match="does not exist"):
        RunFolder(tmp_path / "nope", create=False)


# -- claiming output folders: never an input, never someone else's files --------------------------------


def _dataset(root):
    (root / "images").mkdir(parents=True)
    (root / "lots.csv").write_text("lot,cps\nA,1\n")
    return root


def test_out_may_not_be_or_lie_inside_or_contain_an_input(tmp_path):
    from matsight.errors import ConfigError

    data = _dataset(tmp_path / "lots")
    for out, why in (
        (data, "is the input"),
        (data / "images" / "run", "inside the input folder"),
        (tmp_path, "contains the input"),
        (data / "lots.csv", "input"),
    ):
        with pytest.raises(ConfigError, match=why):
            RunFolder(out).claim("train", reads=[data, data / "lots.csv"])
    link = tmp_path / "link"
    link.symlink_to(data)
    with pytest.raises(ConfigError, match="is the input"):
        RunFolder(link).claim("train", reads=[data])
    assert sorted(p.name for p in data.iterdir()) == ["images", "lots.csv"]  # nothing written into the input


def test_a_run_folder_read_by_a_command_may_hold_its_outputs(tmp_path):
    run = RunFolder(tmp_path / "run")
    run.start("train", {})
    run.set_status("finished")
    RunFolder(run.path / "analytics").claim("analytics", reads=[run.path])  # a sub-folder of a read run: fine
    with pytest.raises(Exception, match="is the input"):
        RunFolder(run.path).claim("saliency", reads=[run.path])


def test_another_commands_run_is_refused_and_overwrite_deletes_only_its_files(tmp_path):
    from matsight.errors import RunFolderError

    run = RunFolder(tmp_path / "run")
    run.start("train", {})
    run.write_json("metrics.json", {"r2": 0.9})
    run.set_status("finished")
    (run.path / "my-notes.txt").write_text("added by the user after the run")
    nested = RunFolder(run.path / "saliency")
    nested.start("saliency", {})
    nested.set_status("finished")
    with pytest.raises(RunFolderError, match="matsight train"):
        RunFolder(run.path).claim("textures")
    RunFolder(run.path).claim("textures", overwrite=True)
    left = sorted(p.relative_to(run.path).as_posix() for p in run.path.rglob("*") if p.is_file())
    assert "my-notes.txt" in left and "saliency/manifest.json" in left
    assert "metrics.json" not in left and "manifest.json" not in left
    assert json.loads((run.path / ".matsight-run").read_text())["command"] == "textures"


def test_same_command_resumes_and_a_users_folder_is_never_reused(tmp_path):
    from matsight.errors import RunFolderError

    run = RunFolder(tmp_path / "run")
    run.start("train", {})
    run.write_json("metrics.json", {})
    RunFolder(run.path).claim("train")  # resume: nothing deleted
    assert (run.path / "metrics.json").exists()
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "checkpoint.pt").write_bytes(b"the user's own model")
    for overwrite in (False, True):
        with pytest.raises(RunFolderError, match="did not write"):
            RunFolder(mine).claim("train", overwrite=overwrite)
    assert (mine / "checkpoint.pt").read_bytes() == b"the user's own model"


def test_a_hostile_marker_cannot_make_overwrite_delete_outside_the_folder(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    run = tmp_path / "run"
    run.mkdir()
    (run / "out.csv").write_text("x")
    marker = {"command": "train", "kind": "run", "written": ["../victim.txt", "out.csv"], "open": False}
    (run / ".matsight-run").write_text(json.dumps(marker))
    RunFolder(run).claim("saliency", overwrite=True)
    assert victim.read_text() == "keep me" and not (run / "out.csv").exists()


def test_a_generator_refuses_its_old_output_unless_overwrite_which_clears_it_first(tmp_path):
    from matsight.errors import RunFolderError
    from matsight.store import claim_folder
    from matsight.store.claim import record

    out = tmp_path / "lots"
    claim_folder(out, "synth sem-lots", resume=False, kind="dataset")
    (out / "images" / "Z").mkdir(parents=True)
    (out / "images" / "Z" / "old.png").write_bytes(b"old tile")
    record(out)
    with pytest.raises(RunFolderError, match="--overwrite"):
        claim_folder(out, "synth sem-lots", resume=False, kind="dataset")
    claim_folder(out, "synth sem-lots", resume=False, kind="dataset", overwrite=True)
    assert not (out / "images").exists()  # stale tiles never mix with new ones


def test_claim_file_refuses_existing_files_and_a_runs_own_files(tmp_path):
    from matsight.errors import ConfigError, RunFolderError
    from matsight.store import claim_file

    run = RunFolder(tmp_path / "run")
    run.start("train", {})
    run.set_status("finished")
    existing = tmp_path / "old.csv"
    existing.write_text("mine")
    with pytest.raises(RunFolderError, match="--overwrite"):
        claim_file(existing)
    assert claim_file(existing, overwrite=True) == existing
    with pytest.raises(RunFolderError, match="belongs to"):
        claim_file(run.manifest_path, overwrite=True)
    with pytest.raises(ConfigError, match="is a file"):
        claim_file(existing / "x.csv")
    assert claim_file(run.path / "predictions_lots.csv", reads=[run.path]) == run.path / "predictions_lots.csv"


# -- files for a shared disk --------------------------------------------------------------------------


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_written_files_follow_the_umask(tmp_path, umask, mode):
    import subprocess
    import sys

    target = tmp_path / "table.csv"
    code = (
        f"import os; os.umask({umask}); from matsight.store import RunFolder; "
        f"r = RunFolder({str(tmp_path / 'run')!r}); r.start('train', {{}}); "
        f"from matsight.store import atomic_write_text; atomic_write_text({str(target)!r}, 'x')"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
    assert target.stat().st_mode & 0o777 == mode
    assert (tmp_path / "run" / "manifest.json").stat().st_mode & 0o777 == mode


def test_temporary_files_of_an_interrupted_write_are_removed_on_the_next_run(tmp_path):
    run = RunFolder(tmp_path / "run")
    run.start("saliency", {})
    stale = [
        run.path / ".maps.parquet.k3j_8xqz.tmp.parquet",
        run.path / "arrays" / ".chunk_000001.npz.ab12cd34.tmp.npz",
    ]
    for path in stale:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"half-written")
    kept = run.path / ".notes"  # a hidden file that is not one of matsight's temporaries
    kept.write_text("mine")
    RunFolder(run.path).start("saliency", {})  # the next run of the same folder
    assert not any(p.exists() for p in stale) and kept.exists()


# -- no stale results: chunks follow the images' and the checkpoint's bytes ----------------------------


def test_images_changed_in_place_give_new_predictions_and_maps(tmp_path):
    """Same names, same byte sizes, even the same modification times: new pixels are recomputed."""
    import os

    import tifffile
    import torch

    from matsight.cli.main import run as cli
    from matsight.models import build_model, save_checkpoint

    rng = np.random.default_rng(0)
    lots = tmp_path / "lots"
    tiles = []
    for lot in ("A", "B"):
        (lots / "images" / lot).mkdir(parents=True)
        for t in range(2):
            tiles.append(lots / "images" / lot / f"{t}.tif")
            tifffile.imwrite(tiles[-1], rng.integers(0, 255, (24, 24), dtype=np.uint8))
    (lots / "lots.csv").write_text("lot,cps\nA,10\nB,20\n")
    torch.manual_seed(0)
    meta = {
        "arch": "resnet18",
        "task": "regression",
        "num_outputs": 1,
        "target_names": ["cps"],
        "class_names": [],
        "target_mean": [15.0],
        "target_std": [5.0],
        "image_size": 24,
        "crop_size": 24,
        "channels": 1,
    }
    run = tmp_path / "run"
    save_checkpoint(run / "checkpoint.pt", build_model("resnet18", "regression", 1), meta)

    def predictions_and_maps():
        assert cli(["predict", str(run), str(lots), "--out", str(tmp_path / "p.csv"), "--overwrite"]) == 0
        assert cli(["saliency", str(run), str(lots), "--out", str(tmp_path / "maps"), "--method", "fastcam"]) == 0
        maps = RunFolder(tmp_path / "maps").chunks("maps").concat("map").astype(np.float32)
        return pd.read_csv(tmp_path / "p.csv")["predicted"].to_numpy(), maps

    before, maps_before = predictions_and_maps()
    for tile in tiles:
        stat = tile.stat()
        tifffile.imwrite(tile, 255 - tifffile.imread(tile))  # inverted contrast: same size in bytes
        os.utime(tile, ns=(stat.st_atime_ns, stat.st_mtime_ns))
        assert tile.stat().st_size == stat.st_size and tile.stat().st_mtime_ns == stat.st_mtime_ns
    after, maps_after = predictions_and_maps()
    from matsight.training import predict

    fresh = predict(run, lots)["predicted"].to_numpy()  # a temporary chunk folder: computed from scratch
    assert not np.allclose(before, after)
    np.testing.assert_allclose(after, fresh, rtol=1e-5, atol=1e-5)
    assert np.abs(maps_before - maps_after).max() > 1e-3
