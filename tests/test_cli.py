import subprocess
import sys

from matsight import __version__

CLI = [sys.executable, "-m", "matsight.cli"]


def run_cli(*args):
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=120)


def test_version():
    result = run_cli("--version")
    assert result.returncode == 0 and __version__ in result.stdout


def test_user_error_is_one_line_with_exit_2(tmp_path):
    result = run_cli("report", str(tmp_path / "missing-run"))
    assert result.returncode == 2
    assert "missing-run" in result.stderr and "does not exist" in result.stderr
    assert "Traceback" not in result.stderr
