import json

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


def test_manifest_records_versions_seed_and_input_hash(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "lots.csv").write_text("lot,cps\nA,1\n")
    run = RunFolder(tmp_path / "run")
    run.start("train", {"epochs": 2}, seed=7, inputs={"data": data})
    manifest = run.read_manifest()
    assert manifest["seed"] == 7 and manifest["status"] == "running"
    assert manifest["versions"]["torch"]
    assert manifest["inputs"]["data"]["hash"] == hash_inputs(data)
    (data / "lots.csv").write_text("lot,cps\nA,2\n")
    assert hash_inputs(data) != manifest["inputs"]["data"]["hash"]
    run.set_status("finished")
    assert json.loads(run.manifest_path.read_text())["status"] == "finished"


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
