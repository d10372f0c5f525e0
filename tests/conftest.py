"""Shared fixtures: small tensors, tiny models and tiny datasets made on the fly."""

from __future__ import annotations

import os

import pytest
import torch

# Two cores in CI: keep each test process from oversubscribing them (one thread per pytest-xdist
# worker: `make test` runs one worker per core; two when pytest runs alone).
_default_threads = "1" if os.environ.get("PYTEST_XDIST_WORKER") else "2"
torch.set_num_threads(int(os.environ.get("MATSIGHT_TEST_THREADS", _default_threads)))


@pytest.fixture
def rng() -> torch.Generator:
    return torch.Generator().manual_seed(0)
