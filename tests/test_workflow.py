"""The workflow shape (manifest, status, arguments) and progress reporting, on toy workflows."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import ClassVar

import pytest

from matsight import progress
from matsight.errors import ConfigError
from matsight.store import RunFolder
from matsight.workflow import WorkflowConfig, execute


@dataclasses.dataclass(frozen=True)
class ToyConfig(WorkflowConfig):
    data: Path | None = None
    steps: int = 3
    seed: int = 7
    device: str = "cpu"

    command: ClassVar[str] = "toy"
    input_fields: ClassVar[tuple[str, ...]] = ("data",)

    def __post_init__(self) -> None:
        if self.steps < 1:
            raise ConfigError(f"--steps must be at least 1, got {self.steps}")


def test_execute_writes_manifest_and_finished_status(tmp_path):
    data = tmp_path / "data.csv"
    data.write_text("a,b\n1,2\n")
    config = ToyConfig(out=tmp_path / "run", data=data)
    result = execute(config, lambda run: run.write_json("result.json", {"ok": True}))
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert result == tmp_path / "run" / "result.json"
    assert manifest["command"] == "toy" and manifest["status"] == "finished" and manifest["seed"] == 7
    assert manifest["arguments"] == {"out": str(tmp_path / "run"), "data": str(data), "steps": 3, "seed": 7}
    assert manifest["inputs"]["data"]["hash"].startswith("sha256:")


@pytest.mark.parametrize("error", [ConfigError("--steps is wrong\nsecond line"), KeyboardInterrupt()])
def test_execute_marks_the_run_failed_and_reraises(tmp_path, error):
    def body(run: RunFolder) -> None:
        raise error

    with pytest.raises(type(error)):
        execute(ToyConfig(out=tmp_path / "run"), body)
    manifest = RunFolder(tmp_path / "run", create=False).read_manifest()
    assert manifest["status"] == "failed"
    assert manifest["error"] == (
        "ConfigError: --steps is wrong"
        if isinstance(error, ConfigError)
        else "KeyboardInterrupt: interrupted (Ctrl-C or a stop signal); rerun the same command to resume"
    )


def test_implied_inputs_are_hashed_and_never_written(tmp_path):
    """An input the body reaches through another (the lots behind an editor run) is an input like a field."""
    lots = tmp_path / "lots"
    lots.mkdir()
    (lots / "lots.csv").write_text("lot,cps\nA,1\n")
    folder = execute(ToyConfig(out=tmp_path / "run"), lambda run: run, implied={"lots": lots})
    manifest = folder.read_manifest()
    assert manifest["inputs"]["lots"]["hash"].startswith("sha256:") and manifest["arguments"].get("lots") is None
    with pytest.raises(ConfigError, match="inside the input folder"):
        execute(ToyConfig(out=lots / "run"), lambda run: run, implied={"lots": lots})
    assert sorted(p.name for p in lots.iterdir()) == ["lots.csv"]


def test_config_is_frozen_and_validated(tmp_path):
    with pytest.raises(ConfigError, match="--steps"):
        ToyConfig(out=tmp_path, steps=0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        ToyConfig(out=tmp_path).steps = 2


def test_plain_progress_lines_when_not_a_terminal(capsys):
    with progress.progress(4, "toy steps", interval=0.0) as bar:
        for k in range(4):
            bar.advance(info=f"step {k}")
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines[0].endswith("toy steps: 0/4 (0 %) · 0 s elapsed")
    assert "toy steps: 2/4 (50 %) step 1" in lines[2] and "left" in lines[2]
    assert "toy steps: 4/4 (100 %) step 3" in lines[-1] and "left" not in lines[-1]


def test_plain_progress_is_throttled_and_quiet_silences_everything(capsys):
    with progress.progress(100, "many steps", interval=3600) as bar:
        for _ in range(100):
            bar.advance()
    assert len(capsys.readouterr().err.strip().splitlines()) == 2  # the start and the end only
    with progress.quiet():
        progress.note("hidden")
        with progress.progress(3, "hidden steps", interval=0.0) as bar:
            bar.advance(3)
    progress.note("shown")
    assert capsys.readouterr().err.strip().endswith("] shown")


def test_cli_quiet_silences_progress_but_not_results(tmp_path, capsys):
    from matsight.cli.main import run

    args = ["synth", "sem-lots", "--lots", "2", "--tiles-per-lot", "2", "--size", "32"]
    assert run([*args[:2], str(tmp_path / "loud"), *args[2:]]) == 0
    loud = capsys.readouterr()
    assert "rendering SEM tiles" in loud.err
    assert run(["--quiet", *args[:2], str(tmp_path / "quiet"), *args[2:]]) == 0
    silent = capsys.readouterr()
    assert silent.err == "" and str(tmp_path / "quiet") in silent.out
    progress.note("after the command")  # the quiet setting ended with the command
    assert "after the command" in capsys.readouterr().err


def test_a_second_process_on_the_same_run_folder_is_refused_while_the_first_writes(tmp_path):
    """The lock is the kernel's (flock): held while the body runs, released however the process ends."""
    import subprocess
    import sys

    from matsight.errors import RunFolderError

    out = tmp_path / "run"
    holder = (
        "import fcntl, sys, time; f = open(sys.argv[1], 'a'); fcntl.flock(f, fcntl.LOCK_EX); "
        "print('held', flush=True); time.sleep(30)"
    )
    out.mkdir()
    other = subprocess.Popen([sys.executable, "-c", holder, str(out / ".matsight-lock")], stdout=subprocess.PIPE)
    try:
        assert other.stdout.readline().strip() == b"held"
        with pytest.raises(RunFolderError, match="another matsight process"):
            execute(ToyConfig(out=out), lambda run: run)
    finally:
        other.kill()
        other.wait()
    folder = execute(ToyConfig(out=out), lambda run: run)  # the holder died: the lock went with it
    assert folder.read_manifest()["status"] == "finished"
    assert ".matsight-lock" not in json.dumps(json.loads((out / ".matsight-run").read_text()))  # not a result


def test_a_rerun_of_an_unfinished_run_says_it_continues(tmp_path, capsys):
    def crash(run: RunFolder) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        execute(ToyConfig(out=tmp_path / "run"), crash)
    capsys.readouterr()
    execute(ToyConfig(out=tmp_path / "run"), lambda run: run)
    assert "toy: continuing the unfinished run in" in capsys.readouterr().err
    execute(ToyConfig(out=tmp_path / "run"), lambda run: run)  # finished: a rerun is no continuation
    assert "continuing" not in capsys.readouterr().err
