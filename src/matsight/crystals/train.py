"""Build a pristine training set from the prototype library and train a classifier on one descriptor.

``build`` writes layout 5 plus the cached descriptors (``fingerprints.npy``, ``soap.npy``);
``run_train(TrainConfig)`` trains the ConvNet (``descriptor="fingerprint"``) or the SOAP MLP
(``"soap"``) through :func:`matsight.training.fit` (Adam, best-validation checkpoint, resumable)
and writes ``metrics.json`` and a report section.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import Subset

from matsight.crystals.config import DEFAULT_EPOCHS, DESCRIPTOR_NAMES, PER_CLASS, BuildConfig, TrainConfig
from matsight.crystals.dataset import DescriptorDataset, read_structures, write_structures
from matsight.crystals.descriptors import DESCRIPTORS, descriptor
from matsight.crystals.library import CLASS_NAMES, library_set
from matsight.crystals.uncertainty import Predictions, mc_dropout_probabilities
from matsight.crystals.workers import DescriptorWorker
from matsight.crystals.workflow import workflow_run
from matsight.errors import ConfigError
from matsight.scale import LOCAL, Engine
from matsight.store import ChunkStore, RunFolder

FINGERPRINTS = "fingerprints.npy"
DESCRIPTOR_FILES = {"fingerprint": FINGERPRINTS, "soap": "soap.npy"}


def build(out: str | os.PathLike, engine: Engine = LOCAL, **options) -> Path:
    """Write pristine library structures in layout 5 under ``out`` plus their descriptors
    (``fingerprints.npy`` ``float32 [n, 3, 64, 64]``, ``soap.npy`` ``float32 [n, D]``), each computed
    on ``engine`` in resumable chunks of 64 structures (``out/arrays/<descriptor>``); ``options``
    as :class:`BuildConfig`; return ``out``."""
    config = BuildConfig(out=Path(out), **options)
    n = config.n or PER_CLASS * len(CLASS_NAMES)
    sample = library_set(n, seed=config.seed, split=config.split, max_rotation=config.max_rotation)
    out = write_structures(config.out, sample.structures, sample.labels)
    for name in DESCRIPTOR_NAMES:
        worker = DescriptorWorker(sample.structures, name, config.device)
        store = engine.run(n, 64, ChunkStore(out / "arrays" / name), worker, config.device, description=name)
        np.save(out / DESCRIPTOR_FILES[name], store.concat(name))
    return out


def load_descriptors(data: str | os.PathLike, name: str, device: str = "cpu") -> DescriptorDataset:
    """Descriptor ``name`` of a layout-5 folder (its cached array when it matches, else computed)."""
    structures, labels, _ = read_structures(data)
    cache = Path(data) / DESCRIPTOR_FILES[name]
    if cache.exists():
        inputs = torch.from_numpy(np.load(cache))
        if len(inputs) == len(labels):
            return DescriptorDataset(inputs, labels)
    return DescriptorDataset(descriptor(name, device).transform(structures), labels)


def classifier_meta(model: nn.Module, name: str) -> dict[str, Any]:
    """JSON-able checkpoint metadata of a crystal classifier reading descriptor ``name``."""
    meta = {
        "arch": model.arch,
        "task": "classification",
        "num_outputs": len(CLASS_NAMES),
        "class_names": CLASS_NAMES,
        "target_names": ["class"],
        "descriptor": name,
    }
    if name == "fingerprint":
        meta.update(image_size=64, channels=3)
    else:
        first = model.classifier[0]
        hidden = [m.out_features for m in model.classifier if isinstance(m, nn.Linear)][:-1]
        dropout = next(m.p for m in model.classifier if isinstance(m, nn.Dropout))
        meta.update(n_features=first.in_features, hidden=hidden, dropout=dropout)
    return meta


def load_classifier(run_dir: str | os.PathLike, device: str = "cpu") -> tuple[nn.Module, dict[str, Any]]:
    """The classifier of a ``crystals train`` run folder (eval mode) and its checkpoint metadata."""
    from matsight.models import load_model, read_checkpoint
    from matsight.models.crystal import SoapMLP

    payload = read_checkpoint(run_dir)
    meta = payload["meta"]
    if meta.get("arch") != SoapMLP.arch:
        return load_model(run_dir, device=device)
    model = SoapMLP(meta["n_features"], meta["num_outputs"], tuple(meta["hidden"]), meta["dropout"])
    model.load_state_dict(payload["model"])
    return model.to(device).eval(), meta


def predict(model: nn.Module, inputs: torch.Tensor, samples: int = 30, seed: int = 0) -> Predictions:
    """MC-dropout predictions (``samples`` passes; 1 = deterministic) of ``inputs``."""
    return Predictions.from_samples(mc_dropout_probabilities(model, inputs, samples=samples, seed=seed))


def train_classifier(dataset: DescriptorDataset, config: TrainConfig) -> RunFolder:
    """Train on ``dataset`` as ``config`` says; ``metrics.json``: validation accuracy and ECE (30 MC samples)."""
    from matsight.report import Section, write_section
    from matsight.training import fit

    name = config.descriptor
    epochs = config.epochs or DEFAULT_EPOCHS[name]
    with workflow_run(config.out, "crystals train", config) as run:
        order = np.random.default_rng(config.seed).permutation(len(dataset))
        n_val = max(1, round(len(dataset) * config.val_fraction))
        val, train = Subset(dataset, order[:n_val].tolist()), Subset(dataset, order[n_val:].tolist())
        model = (
            descriptor(name).model(len(CLASS_NAMES)) if name == "fingerprint" else _soap_model(dataset, order[n_val:])
        )
        state = fit(
            model,
            train,
            val,
            task="classification",
            run=run,
            epochs=epochs,
            batch_size=config.batch_size,
            optimizer="adam",
            lr=config.lr,
            weight_decay=0.0,
            meta=classifier_meta(model, name),
            device=config.device,
            seed=config.seed,
        )
        best, _ = load_classifier(run.path, device=config.device)
        idx = order[:n_val]
        labels = dataset.labels[idx, 0].long().numpy()
        summary = predict(best, dataset.inputs[idx], seed=config.seed).summary(labels)
        metrics = {
            "descriptor": name,
            "val_accuracy": summary["accuracy"] / 100,
            "val_ece": summary["ece"],
            "n_train": len(train),
            "n_val": n_val,
            "epochs": epochs,
            "best_epoch": state["best_epoch"],
        }
        run.write_json("metrics.json", metrics)
        write_section(
            run.path,
            Section(
                key=f"crystals-train-{name}",
                title=f"Crystal classifier on pristine structures: {DESCRIPTORS[name].label}",
                text=f"{len(train)} pristine library structures ({len(CLASS_NAMES)} prototypes, training "
                f"elements only), {epochs} epochs, Adam lr {config.lr}, batch {config.batch_size}; validation: "
                f"{n_val} random structures of the same elements (MC dropout, 30 samples).",
                metrics={
                    "validation accuracy (%)": round(summary["accuracy"], 1),
                    "validation ECE": round(summary["ece"], 3),
                },
                order=60,
            ),
        )
    return run


def _soap_model(dataset: DescriptorDataset, train_indices: np.ndarray) -> nn.Module:
    model = descriptor("soap").model(len(CLASS_NAMES))
    model.set_standardisation(dataset.inputs[train_indices])
    return model


def run_train(config: TrainConfig) -> RunFolder:
    """``matsight crystals train``: descriptors of ``config.data`` (cached or computed), then training."""
    if config.data is None:
        raise ConfigError("crystals train needs a data folder (layout 5): give DATA")
    return train_classifier(load_descriptors(config.data, config.descriptor, config.device), config)
