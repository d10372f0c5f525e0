"""Build a pristine training set from the prototype library and train a classifier on one descriptor.

``build`` writes layout 5 plus the cached descriptors (``fingerprints.npy``, ``soap.npy``, keyed by
content in ``descriptors.json``); ``run_train(TrainConfig)`` trains the ConvNet
(``descriptor="fingerprint"``) or the SOAP MLP (``"soap"``) through :func:`matsight.training.fit`
(Adam, best-validation checkpoint, resumable) and writes ``metrics.json`` and a report section.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import Subset

from matsight.crystals.config import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_EPOCHS,
    DESCRIPTOR_NAMES,
    PER_CLASS,
    SCHEDULE,
    BuildConfig,
    TrainConfig,
)
from matsight.crystals.dataset import DescriptorDataset, read_structures, write_structures
from matsight.crystals.descriptors import DESCRIPTORS, descriptor, descriptor_key
from matsight.crystals.library import CLASS_NAMES, library_set
from matsight.crystals.uncertainty import Predictions, mc_dropout_probabilities
from matsight.crystals.workers import DescriptorWorker
from matsight.errors import ConfigError
from matsight.models import ModelSpec
from matsight.progress import note
from matsight.scale import LOCAL, Engine
from matsight.store import ChunkStore, RunFolder
from matsight.store.atomic import atomic_path, atomic_write_json
from matsight.workflow import execute

FINGERPRINTS = "fingerprints.npy"
DESCRIPTOR_FILES = {"fingerprint": FINGERPRINTS, "soap": "soap.npy"}
CACHE_INDEX = "descriptors.json"  # {descriptor: content key of the structures + settings it was computed from}
ARCHS = {"fingerprint": "crystal_convnet", "soap": "soap_mlp"}


def build(out: str | os.PathLike, engine: Engine = LOCAL, **options) -> Path:
    """:func:`build_dataset` of ``BuildConfig(out, **options)``."""
    return build_dataset(BuildConfig(out=Path(out), **options), engine)


def build_dataset(config: BuildConfig, engine: Engine = LOCAL) -> Path:
    """Write pristine library structures in layout 5 under ``config.out`` plus their descriptors
    (``fingerprints.npy`` ``float32 [n, 3, 64, 64]``, ``soap.npy`` ``float32 [n, D]``), each computed
    on ``engine`` in resumable chunks of 64 structures (``out/arrays/<descriptor>``), and their
    content keys in ``descriptors.json``; return ``config.out``."""
    n = config.n or PER_CLASS * len(CLASS_NAMES)
    sample = library_set(n, seed=config.seed, split=config.split, max_rotation=config.max_rotation)
    out = write_structures(config.out, sample.structures, sample.labels)
    structures, _, _ = read_structures(out)  # as the files hold them (rounded), so the cache is what DATA gives
    keys = {}
    for name in DESCRIPTOR_NAMES:
        note(f"crystals build: {name} descriptors of {n} structures (chunks of 64, resumable)")
        worker = DescriptorWorker(structures, name, config.device)
        store = engine.run(n, 64, ChunkStore(out / "arrays" / name), worker, config.device, description=name)
        with atomic_path(out / DESCRIPTOR_FILES[name]) as tmp:
            np.save(tmp, store.concat(name))
        keys[name] = worker.job_key()
    atomic_write_json(out / CACHE_INDEX, keys)
    return out


def load_descriptors(data: str | os.PathLike, name: str, device: str = "cpu") -> DescriptorDataset:
    """Descriptor ``name`` of the structures of a layout-5 folder: its cached array when
    ``descriptors.json`` holds the content key of these very structures and settings, else computed
    (the folder is only read)."""
    structures, labels, _ = read_structures(data)
    computer = descriptor(name, device)
    cache = Path(data) / DESCRIPTOR_FILES[name]
    if cache.is_file() and _cached_key(Path(data), name) == descriptor_key(computer, structures):
        inputs = _read_array(cache)
        if inputs is not None and len(inputs) == len(labels):
            return DescriptorDataset(torch.from_numpy(inputs), labels)
    stale = f"{cache} was computed from other structures or settings: " if cache.exists() else ""
    note(f"{stale}computing the {name} descriptors of {len(structures)} structures")
    return DescriptorDataset(computer.transform(structures), labels)


def _read_array(path: Path) -> np.ndarray | None:
    """A float32 ``.npy`` array (data only, no pickles), or None when the file is damaged or of another kind."""
    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError):
        return None
    return array if isinstance(array, np.ndarray) and array.dtype == np.float32 else None


def _cached_key(data: Path, name: str) -> str | None:
    try:
        keys = json.loads((data / CACHE_INDEX).read_text())
    except (OSError, ValueError):
        return None
    return keys.get(name) if isinstance(keys, dict) else None


def classifier_spec(model: nn.Module, name: str) -> ModelSpec:
    """The :class:`ModelSpec` of a crystal classifier ``model`` reading descriptor ``name``
    (a SOAP MLP's sizes in ``arch_params``)."""
    common = {
        "arch": ARCHS[name],
        "task": "classification",
        "num_outputs": len(CLASS_NAMES),
        "class_names": tuple(CLASS_NAMES),
        "target_names": ("class",),
        "descriptor": name,
    }
    if name == "fingerprint":
        return ModelSpec(**common, image_size=64, channels=3, arch_params=model.arch_params)
    return ModelSpec(**common, arch_params=model.arch_params)


def load_classifier(
    run_dir: str | os.PathLike, device: str = "cpu", name: str | None = None
) -> tuple[nn.Module, ModelSpec]:
    """The classifier of a ``crystals train`` run folder (eval mode) and its spec; with ``name``,
    ConfigError unless it reads that descriptor."""
    from matsight.models import load_model, read_spec

    spec = read_spec(run_dir)
    if name is not None and (spec.descriptor != name or spec.arch != ARCHS[name]):
        raise ConfigError(
            f"{run_dir} holds a {spec.arch} model; a {ARCHS[name]} is needed: "
            f"give a run of matsight crystals train --descriptor {name}"
        )
    return load_model(run_dir, device=device)


def predict(model: nn.Module, inputs: torch.Tensor, samples: int = 30, seed: int = 0) -> Predictions:
    """MC-dropout predictions (``samples`` passes; 1 = deterministic) of ``inputs``."""
    return Predictions.from_samples(mc_dropout_probabilities(model, inputs, samples=samples, seed=seed))


def train_classifier(dataset: DescriptorDataset, config: TrainConfig) -> RunFolder:
    """Train on ``dataset`` as ``config`` says; ``metrics.json``: validation accuracy and ECE (30 MC samples)."""

    def body(run: RunFolder) -> RunFolder:
        _train(dataset, config, run)
        return run

    return execute(config, body)


def _train(dataset: DescriptorDataset, config: TrainConfig, run: RunFolder) -> None:
    from matsight.report import Section, write_section
    from matsight.training import FitConfig, fit

    name = config.descriptor
    epochs = config.epochs or DEFAULT_EPOCHS[name]
    batch_size = config.batch_size or DEFAULT_BATCH_SIZE[name]
    order = np.random.default_rng(config.seed).permutation(len(dataset))
    n_val = max(1, round(len(dataset) * config.val_fraction))
    if len(dataset) - n_val < 1:
        raise ConfigError(f"{len(dataset)} structure(s) leave none to train on after a validation split: add some")
    val, train = Subset(dataset, order[:n_val].tolist()), Subset(dataset, order[n_val:].tolist())
    model = descriptor(name).model(len(CLASS_NAMES))
    if name == "soap":
        model.set_standardisation(dataset.inputs[order[n_val:]])
    fit_config = FitConfig(
        epochs=epochs,
        batch_size=batch_size,
        optimizer="adam",
        lr=config.lr,
        weight_decay=0.0,
        schedule=SCHEDULE[name],
        seed=config.seed,
        device=config.device,
    )
    state = fit(model, train, val, classifier_spec(model, name), run, fit_config)
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
            f"elements only), {epochs} epochs, Adam lr {config.lr} ({SCHEDULE[name]} schedule), batch {batch_size}; "
            f"validation: "
            f"{n_val} random structures of the same elements (MC dropout, 30 samples).",
            metrics={
                "validation accuracy (%)": round(summary["accuracy"], 1),
                "validation ECE": round(summary["ece"], 3),
            },
            order=60,
        ),
    )


def run_train(config: TrainConfig) -> RunFolder:
    """``matsight crystals train``: descriptors of ``config.data`` (cached or computed), then training."""
    if config.data is None:
        raise ConfigError("crystals train needs a data folder (layout 5): give DATA")
    return train_classifier(load_descriptors(config.data, config.descriptor, config.device), config)
