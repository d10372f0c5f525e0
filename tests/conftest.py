"""Shared fixtures: small tensors, tiny models and tiny datasets made on the fly."""

from __future__ import annotations

import os

import pytest
import torch

# Two cores in CI: keep each test process from oversubscribing them.
torch.set_num_threads(int(os.environ.get("MATSIGHT_TEST_THREADS", "2")))


@pytest.fixture
def rng() -> torch.Generator:
    return torch.Generator().manual_seed(0)
