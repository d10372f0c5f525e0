"""The front end's Vitest unit tests (payload decoding, colours, grid index, top-point culling), run from pytest.

Needs the front end's node_modules (`bash scripts/build_frontend.sh`); with CI=true a missing one fails.
"""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

FRONTEND = Path(__file__).resolve().parents[1] / "frontend"


def test_vitest_suite_passes():
    vitest = FRONTEND / "node_modules" / ".bin" / "vitest"
    if not (vitest.is_file() and shutil.which("node")):
        if os.environ.get("CI") == "true":
            pytest.fail("frontend/node_modules missing: run `bash scripts/build_frontend.sh` (CI=true: must run)")
        pytest.skip("frontend/node_modules missing: run `bash scripts/build_frontend.sh`")
    result = subprocess.run(
        [str(vitest), "run", "--reporter=dot"], cwd=FRONTEND, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "passed" in result.stdout and "failed" not in result.stdout
