"""The two structure descriptors of the study behind one protocol: what to compute, and which classifier reads it.

* ``fingerprint``: the two-dimensional diffraction fingerprint (``float32 [N, 3, 64, 64]``) and
  the ConvNet of Ziletti et al.;
* ``soap``: the mean SOAP power spectrum (``float32 [N, D]``) and a small MLP (ARISE-style).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np
import torch
from ase import Atoms
from torch import nn

from matsight.errors import ConfigError


class Descriptor(Protocol):
    name: str
    label: str  # the classifier reading it, for tables and figures
    settings: Any  # a frozen dataclass of everything that changes the result (not the device)

    def transform(self, structures: Sequence[Atoms]) -> torch.Tensor: ...

    def model(self, num_classes: int) -> nn.Module: ...


INPUT_POWER = 0.5  # the ConvNet reads the square root of the fingerprint (amplitude; models/crystal.py)


class FingerprintDescriptor:
    name = "fingerprint"
    label = "ConvNet (fingerprint)"

    def __init__(self, device: str | torch.device = "cpu"):
        from matsight.crystals.fingerprint import FingerprintTransformer

        self.transformer = FingerprintTransformer(device=device)
        self.settings = self.transformer.settings

    def transform(self, structures: Sequence[Atoms]) -> torch.Tensor:
        return self.transformer.transform(structures)

    def model(self, num_classes: int) -> nn.Module:
        from matsight.models.crystal import CrystalConvNet

        return CrystalConvNet(num_classes, input_power=INPUT_POWER)


class SoapDescriptor:
    name = "soap"
    label = "MLP (SOAP)"

    def __init__(self, device: str | torch.device = "cpu"):
        from matsight.crystals.soap import SoapTransformer

        self.transformer = SoapTransformer()
        self.settings = self.transformer.settings

    def transform(self, structures: Sequence[Atoms]) -> torch.Tensor:
        return torch.from_numpy(self.transformer.transform(structures))

    def model(self, num_classes: int) -> nn.Module:
        from matsight.models.crystal import SoapMLP

        return SoapMLP(self.transformer.n_features, num_classes)


DESCRIPTORS = {"fingerprint": FingerprintDescriptor, "soap": SoapDescriptor}


def descriptor(name: str, device: str | torch.device = "cpu") -> Descriptor:
    """The descriptor called ``name`` (a key of :data:`DESCRIPTORS`)."""
    if name not in DESCRIPTORS:
        raise ConfigError(f"--descriptor {name!r}: choose one of {', '.join(DESCRIPTORS)}")
    return DESCRIPTORS[name](device)


def structures_digest(structures: Sequence[Atoms]) -> str:
    """BLAKE2b-128 of what the descriptors read from ``structures``, in order: atomic numbers,
    positions, cell and periodicity of each (not the file names, formats or modification times)."""
    digest = hashlib.blake2b(digest_size=16)
    for atoms in structures:
        for array in (atoms.numbers, atoms.positions, atoms.cell[:], atoms.pbc):
            array = np.ascontiguousarray(array)
            digest.update(f"{array.dtype}{array.shape}".encode())
            digest.update(array.tobytes())
    return digest.hexdigest()


def descriptor_key(computer: Descriptor, structures: Sequence[Atoms]) -> str:
    """Content key of ``computer``'s output for ``structures``: changes with the descriptor, its
    settings or any structure (cached descriptors are reused only under the same key)."""
    return hashlib.blake2b(
        f"{computer.name}|{computer.settings!r}|{structures_digest(structures)}".encode(), digest_size=16
    ).hexdigest()
