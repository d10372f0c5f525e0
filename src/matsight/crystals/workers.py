"""Picklable worker factory for :meth:`matsight.scale.Engine.run`: descriptors of structures, chunk by chunk."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class DescriptorWorker:
    """Factory of workers that compute the descriptor ``name`` (``fingerprint`` or ``soap``) of
    ``structures`` (ase Atoms): ``{name: float32 [n, ...]}`` per chunk of structure indices."""

    structures: list
    name: str = "fingerprint"
    device: str = "cpu"

    def job_key(self) -> str:
        """:func:`~matsight.crystals.descriptors.descriptor_key`: changes with the descriptor, its
        settings and the structures (atomic numbers, positions, cell, periodicity)."""
        from matsight.crystals.descriptors import descriptor, descriptor_key

        return descriptor_key(descriptor(self.name), self.structures)

    def __call__(self):
        from matsight.crystals.descriptors import descriptor

        computed = descriptor(self.name, self.device)
        return lambda indices: {self.name: computed.transform([self.structures[int(i)] for i in indices]).numpy()}
