"""Shared fixtures: small tensors, tiny models and tiny datasets made on the fly."""

from __future__ import annotations

import os

import pytest
import torch

# Two cores in CI: keep the test processes (one, or one per pytest-xdist worker) from oversubscribing them.
_WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
torch.set_num_threads(int(os.environ.get("MATSIGHT_TEST_THREADS", max(1, 2 // _WORKERS))))


@pytest.fixture
def rng() -> torch.Generator:
    return torch.Generator().manual_seed(0)
