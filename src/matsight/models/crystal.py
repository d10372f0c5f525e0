"""Crystal-structure classifiers: the ConvNet of Ziletti et al. (Nat. Commun. 2018) on diffraction
fingerprints and a small MLP on SOAP vectors (ARISE-style).

Both split into a deterministic ``features(x)`` and a ``classifier`` head that holds the dropout,
so that MC-dropout samples re-run only the head (:mod:`matsight.crystals.uncertainty`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from matsight.errors import ConfigError


def _conv(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, kernel_size=7, padding=3), nn.ReLU(inplace=False))


class CrystalConvNet(nn.Module):
    """Input ``float32 [N, 3, 64, 64]`` diffraction fingerprints; output ``[N, 7]`` class logits.

    Convolutions 7×7 with 32, 32 filters, max-pool, 16, 16, max-pool, 8, 8; dropout 0.25;
    dense 128 with batch norm; dense 7. Stages ``Z1..Z3`` are the three convolution blocks
    (``Z3`` is the last conv stage used by attentive response maps). Parameter count as Keras
    reports it (trainable weights plus batch-norm running statistics): 365,719.

    Weights start He-normal (fan-in, ReLU gain), biases 0. PyTorch's default initialisation (uniform,
    variance 1/(3·fan-in)) shrinks the signal about 6× in variance per ReLU layer: after the six
    convolutions of random weights, two different fingerprints give last-stage features within 1 %
    of each other (the biases dominate), against ~70 % with He initialisation, and training sits at
    chance level for the first epochs (measured on the 54-class library; docs/crystals.md).

    ``input_power``: the network reads ``x ** input_power`` (``x`` floored at 1e-6, so gradients stay
    finite on masked pixels). 1 reads the fingerprint as it is (the paper's intensity); 0.5 reads the
    scattering amplitude, which lifts weak peaks (one at 1 % of the brightest reads 10 %): the
    superstructure peaks that tell decorations of one lattice apart (Heusler, half-Heusler, fluorite).
    """

    arch = "crystal_convnet"
    task = "classification"

    def __init__(self, num_outputs: int = 7, image_size: int = 64, input_power: float = 1.0):
        super().__init__()
        if not (isinstance(input_power, (int, float)) and not isinstance(input_power, bool) and 0 < input_power <= 1):
            raise ConfigError(
                f"model spec: crystal_convnet input_power must be a number in (0, 1], got {input_power!r}"
            )
        self.num_outputs, self.input_power = num_outputs, float(input_power)
        self.block1 = nn.Sequential(_conv(3, 32), _conv(32, 32), nn.MaxPool2d(2))
        self.block2 = nn.Sequential(_conv(32, 16), _conv(16, 16), nn.MaxPool2d(2))
        self.block3 = nn.Sequential(_conv(16, 8), _conv(8, 8))
        flat = 8 * (image_size // 4) ** 2
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Dropout(0.25),
            nn.Linear(flat, 128),
            nn.BatchNorm1d(128),
            nn.ReLU(),
            nn.Linear(128, num_outputs),
        )
        self.stages: dict[str, nn.Module] = {"Z1": self.block1, "Z2": self.block2, "Z3": self.block3}
        for module in self.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
                nn.init.zeros_(module.bias)

    @property
    def arch_params(self) -> dict[str, float]:
        """The settings this model was built with (:attr:`matsight.models.ModelSpec.arch_params`)."""
        return {"input_power": self.input_power}

    @classmethod
    def from_params(cls, num_outputs: int, params: Mapping[str, Any]) -> CrystalConvNet:
        """Build from :attr:`arch_params` (none: ``input_power`` 1, as checkpoints written before it existed)."""
        unknown = sorted(set(params) - {"input_power"})
        if unknown:
            raise ConfigError(f"model spec: crystal_convnet arch_params take only input_power, got {sorted(params)}")
        return cls(num_outputs, input_power=params.get("input_power", 1.0))

    @property
    def head(self) -> nn.Linear:
        return self.classifier[-1]

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """``[N, 8, 16, 16]`` output of the last conv stage (no dropout before it)."""
        if self.input_power != 1:
            x = x.clamp_min(1e-6) ** self.input_power
        return self.block3(self.block2(self.block1(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


class SoapMLP(nn.Module):
    """Input ``float32 [N, n_features]`` SOAP vectors; output ``[N, num_outputs]`` class logits.

    Inputs are standardised with the stored ``mean``/``std`` buffers (set from the training set),
    then dense layers of ``hidden`` units, each with ReLU and dropout ``dropout``, and a linear head.
    """

    arch = "soap_mlp"
    task = "classification"

    def __init__(self, n_features: int, num_outputs: int, hidden: tuple[int, ...] = (256, 128), dropout: float = 0.2):
        super().__init__()
        self.num_outputs, self.n_features, self.hidden, self.dropout = num_outputs, n_features, tuple(hidden), dropout
        self.register_buffer("mean", torch.zeros(n_features))
        self.register_buffer("std", torch.ones(n_features))
        layers: list[nn.Module] = []
        width = n_features
        for units in hidden:
            layers += [nn.Linear(width, units), nn.ReLU(), nn.Dropout(dropout)]
            width = units
        self.classifier = nn.Sequential(*layers, nn.Linear(width, num_outputs))

    @property
    def arch_params(self) -> dict[str, int | float | tuple[int, ...]]:
        """The sizes this model was built with (:attr:`matsight.models.ModelSpec.arch_params`)."""
        return {"n_features": self.n_features, "hidden": self.hidden, "dropout": self.dropout}

    @classmethod
    def from_params(cls, num_outputs: int, params: Mapping[str, Any]) -> SoapMLP:
        """Build from :attr:`arch_params` (a checkpoint's ``arch_params``); ConfigError naming a missing,
        unknown or out-of-range parameter."""
        unknown = sorted(set(params) - {"n_features", "hidden", "dropout"})
        if unknown or "n_features" not in params:
            raise ConfigError(
                f"model spec: soap_mlp arch_params need n_features (optionally hidden, dropout), got {sorted(params)}"
            )
        n_features, hidden, dropout = params["n_features"], params.get("hidden", (256, 128)), params.get("dropout", 0.2)
        hidden = tuple(hidden) if isinstance(hidden, (list, tuple)) else hidden
        if not isinstance(n_features, int) or n_features < 1:
            raise ConfigError(f"model spec: soap_mlp n_features must be a positive integer, got {n_features!r}")
        if not isinstance(hidden, tuple) or not all(isinstance(h, int) and h >= 1 for h in hidden):
            raise ConfigError(f"model spec: soap_mlp hidden must be a list of positive integers, got {hidden!r}")
        if not isinstance(dropout, (int, float)) or isinstance(dropout, bool) or not 0 <= dropout < 1:
            raise ConfigError(f"model spec: soap_mlp dropout must be a number in [0, 1), got {dropout!r}")
        return cls(n_features, num_outputs, hidden, dropout)

    def set_standardisation(self, features: torch.Tensor) -> None:
        """Store the mean and standard deviation (floored at 1e-6) of ``features [N, n_features]``."""
        self.mean.copy_(features.mean(0))
        self.std.copy_(features.std(0).clamp_min(1e-6))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


def keras_parameter_count(model: nn.Module) -> int:
    """Parameters plus batch-norm running mean/variance, the way Keras counts them."""
    params = sum(p.numel() for p in model.parameters())
    running = sum(b.numel() for n, b in model.named_buffers() if n.endswith(("running_mean", "running_var")))
    return params + running
