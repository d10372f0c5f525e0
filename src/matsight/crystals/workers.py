"""Picklable worker factory for :meth:`matsight.scale.Engine.run`: descriptors of structures, chunk by chunk."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np


@dataclass
class DescriptorWorker:
    """Factory of workers that compute the descriptor ``name`` (``fingerprint`` or ``soap``) of
    ``structures`` (ase Atoms): ``{name: float32 [n, ...]}`` per chunk of structure indices."""

    structures: list
    name: str = "fingerprint"
    device: str = "cpu"

    def job_key(self) -> str:
        """Changes with the descriptor and the structures (atomic numbers, positions, cell, periodicity)."""
        digest = hashlib.sha1(f"{type(self).__qualname__}|{self.name}".encode())
        for atoms in self.structures:
            for array in (atoms.numbers, atoms.positions, atoms.cell[:], atoms.pbc):
                digest.update(np.ascontiguousarray(array).tobytes())
        return digest.hexdigest()

    def __call__(self):
        from matsight.crystals.descriptors import descriptor

        computed = descriptor(self.name, self.device)
        return lambda indices: {self.name: computed.transform([self.structures[int(i)] for i in indices]).numpy()}
