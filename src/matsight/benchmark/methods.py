"""Every method the benchmark scores: matsight's registered methods (:mod:`matsight.saliency.registry`),
the peers, and the baselines."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from matsight.benchmark.baselines import BASELINES
from matsight.benchmark.leaderboard import BASELINE_LIBRARY
from matsight.benchmark.metrics import Explain
from matsight.benchmark.peers import PEERS
from matsight.errors import ConfigError
from matsight.saliency.registry import METHODS, build_explainer


@dataclass(frozen=True)
class Method:
    """``explain(model, x [n,C,H,W], target, sign) -> [n,H,W]`` from ``library`` under a shared ``name``
    (the same method in two libraries has the same name)."""

    name: str
    library: str
    explain: Explain

    @property
    def key(self) -> str:
        return f"{self.library}:{self.name}"


def registered(key: str) -> Explain:
    """matsight method ``key`` as a benchmark method: the normalised map a user gets, ``[n, H, W]``."""

    def explain(model: nn.Module, x: torch.Tensor, target: int | None, sign: int) -> torch.Tensor:
        return build_explainer(key, model).attribute(x, target, sign).float()

    return explain


def all_methods(keys: tuple[str, ...] | None = None) -> list[Method]:
    """matsight methods first, then each peer library, then the baselines; ``keys`` (``library:name``)
    selects a subset, in the given order."""
    methods = [Method(key, "matsight", registered(key)) for key in METHODS]
    methods += [Method(name, lib, explain) for lib, table in PEERS.items() for name, explain in table.items()]
    methods += [Method(name, BASELINE_LIBRARY, explain) for name, explain in BASELINES.items()]
    if keys is None:
        return methods
    by_key = {m.key: m for m in methods}
    unknown = [k for k in keys if k not in by_key]
    if unknown:
        raise ConfigError(f"--methods: unknown {', '.join(unknown)}; choose from {', '.join(by_key)}")
    return [by_key[k] for k in keys]
