"""Train the attribute editor on lots (layout 1); checkpointed and resumable like ``matsight train``.

:func:`train_editor` (the body of ``matsight knobs train``, run by
:func:`matsight.knobs.pipeline.run_train`) reads the lots, min–max scales the chosen attributes over the
lots, holds out a fraction of the tiles (for reconstruction error and the knob analyses), and
alternates critic and editor steps. Target attributes of each step are the batch's own attributes
shuffled across the batch, interpolated towards the tile's own values by a random factor and
jittered (there are only as many distinct label vectors as lots); with ``crop`` each step sees a random
window of every tile. Tiles are decoded with the
regressor's intensity normalisation (its :class:`~matsight.models.ModelSpec`). ``editor.pt`` holds
weights, optimisers, RNG state, the step and the run's meta (a snapshot of
:mod:`matsight.training.resume`, loaded as data); rerunning the same command resumes from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from matsight.data import read_lots
from matsight.data.dataset import ImageDataset, ImageTable
from matsight.data.intensity import Intensity
from matsight.data.split import split_indices
from matsight.errors import ConfigError, DataLayoutError, RunFolderError
from matsight.knobs.config import EditorConfig
from matsight.knobs.editor import AttributeRegressor, AttributeScaler, Discriminator, Editor
from matsight.knobs.losses import LossWeights, discriminator_loss, generator_loss
from matsight.models import read_spec
from matsight.progress import progress
from matsight.store import RunFolder
from matsight.training import resume

CHECKPOINT = "editor.pt"
GUIDE_BATCH = 32


def target_attributes(a: torch.Tensor, jitter: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Training targets for attributes ``[N, A]`` in [0,1]: shuffled across the batch, interpolated
    towards the own values by ``t ~ U(0,1)`` per tile, plus ``N(0, jitter)`` noise, clamped to [0,1]."""
    perm = torch.randperm(a.shape[0], generator=generator)
    t = torch.rand(a.shape[0], 1, generator=generator)
    noise = torch.randn(a.shape, generator=generator) * jitter
    return (t * a[perm] + (1 - t) * a + noise).clamp(0, 1)


def random_crops(images: torch.Tensor, size: int | None, generator: torch.Generator) -> torch.Tensor:
    """A random ``size`` × ``size`` window of each tile ``[N, C, S, S]`` (``None`` or ``S``: the tiles)."""
    if size is None or size == images.shape[-1]:
        return images
    corners = torch.randint(0, images.shape[-1] - size + 1, (len(images), 2), generator=generator).tolist()
    return torch.stack([image[:, y : y + size, x : x + size] for image, (y, x) in zip(images, corners)])


def load_tiles(table: ImageTable, image_size: int, intensity: Intensity | None = None) -> torch.Tensor:
    """All tiles of ``table`` resized to ``[N, 1, image_size, image_size]`` in [0,1], decoded with
    ``intensity`` (default: each folder's effective bit depth)."""
    data = ImageDataset(table, image_size, channels=1, crop_size=image_size, intensity=intensity)
    return (
        torch.stack([data[i][0] for i in range(len(data))]) if len(data) else torch.zeros(0, 1, image_size, image_size)
    )


@dataclass
class KnobData:
    """Tiles ``[N,1,S,S]`` and scaled attributes ``[N,A]`` of the training or held-out split."""

    images: torch.Tensor
    attributes: torch.Tensor
    groups: list[str]


def split_table(run_dir: Path, split: str = "held_out") -> tuple[ImageTable, AttributeScaler]:
    """The rows of an editor run's ``train`` or ``held_out`` split and the run's attribute scaler."""
    meta = read_meta(run_dir)
    table = read_lots(meta["lots"], attributes=meta["attributes"])
    return table.subset(np.asarray(meta[f"{split}_rows"], int)), AttributeScaler.from_dict(meta["scaler"])


def editor_intensity(meta: dict) -> Intensity:
    """The intensity normalisation the editor's tiles are decoded with (its regressor's)."""
    return Intensity.from_dict(meta["intensity"])


def read_split(run_dir: Path, split: str = "held_out") -> KnobData:
    """The tiles of an editor run's ``train`` or ``held_out`` split, as the editor saw them."""
    sub, scaler = split_table(run_dir, split)
    meta = read_meta(run_dir)
    return KnobData(
        load_tiles(sub, meta["image_size"], editor_intensity(meta)),
        torch.from_numpy(scaler.transform(sub.attributes)),
        sub.groups,
    )


def _read_state(run_dir: Path, device: str | torch.device = "cpu") -> dict:
    path = Path(run_dir) / CHECKPOINT
    if not path.exists():
        raise RunFolderError(
            f"{run_dir} is not an editor run ({CHECKPOINT} is missing): give the --out folder of "
            "`matsight knobs train RUN LOTS --out DIR`"
        )
    again = f"train the editor again (`matsight knobs train ... --out {run_dir}`)"
    return resume.read_snapshot(path, device, fix=again)


def read_meta(run_dir: Path) -> dict:
    """The editor run's meta: its config, ``intensity``, attribute ``scaler``, split rows, lots and
    regressor folders, ``history`` and ``step``."""
    return _read_state(run_dir)["progress"]["meta"]


def load_editor(run_dir: Path, device: str = "cpu") -> tuple[Editor, dict]:
    """The trained editor (eval mode) and its meta (config, scaler, split rows, history)."""
    state = _read_state(run_dir, device)
    meta = state["progress"]["meta"]
    editor = Editor(len(meta["attributes"]), meta["width"], meta["depth"])
    editor.load_state_dict(state["states"]["editor"])
    return editor.to(device).eval(), meta


def fit_guide(
    guide: nn.Module,
    images: torch.Tensor,
    attributes: torch.Tensor,
    crop: int | None,
    epochs: int,
    generator: torch.Generator,
) -> None:
    """Train ``guide`` (an :class:`AttributeRegressor`) to read the scaled attributes ``[N, A]`` off random
    ``crop`` px windows of the real tiles ``[N,1,S,S]``: ``epochs`` passes, batches of 32, Adam, MSE.
    The editor's attribute loss then reads its edits with the frozen guide (``--guide-epochs``)."""
    opt = torch.optim.Adam(guide.parameters(), lr=2e-3)
    batches = max(1, len(images) // GUIDE_BATCH)
    with progress(epochs * batches, "attribute guide") as bar:
        for _ in range(epochs):
            order = torch.randperm(len(images), generator=generator).to(images.device)
            for idx in order[: batches * GUIDE_BATCH].view(batches, -1):
                loss = F.mse_loss(guide(random_crops(images[idx], crop, generator)), attributes[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                bar.advance(info=f"MSE {loss.item():.4f}")


def read_editor_lots(config: EditorConfig) -> ImageTable:
    """The lots' tiles with the knobs' attribute columns, checked before anything is written: every
    attribute names a lots.csv column with a value for every lot, and none is the property the regressor
    predicts (a knob on the answer itself explains nothing)."""
    target = read_spec(config.regressor).target
    if target in config.attributes:
        raise ConfigError(
            f"--attributes {','.join(config.attributes)}: {target} is the property the regressor predicts, not a "
            "lot attribute to turn; leave it out"
        )
    table = read_lots(config.lots, attributes=list(config.attributes))
    _check_attributes(table, config)
    return table


def _check_attributes(table: ImageTable, config: EditorConfig) -> None:
    blank = np.isnan(table.attributes).any(axis=0)
    if blank.any():
        names = [n for n, b in zip(table.attribute_names, blank) if b]
        lots = sorted({g for g, row in zip(table.groups, np.isnan(table.attributes).any(axis=1)) if row})
        raise DataLayoutError(
            f"{config.lots / 'lots.csv'}: lot(s) {', '.join(lots[:10])} have no value in column(s) "
            f"{', '.join(names)}; the knobs need every attribute of every lot: fill them in or leave the "
            "column out of --attributes"
        )


def train_editor(config: EditorConfig, run: RunFolder, table: ImageTable) -> None:
    """Train (or resume) the editor on ``table`` (:func:`read_editor_lots`) into the run folder ``run``
    (``editor.pt``, ``editor_history.json``); progress per step with the losses."""
    torch.manual_seed(config.seed)
    intensity = read_spec(config.regressor).intensity
    scaler = AttributeScaler.fit(list(config.attributes), table.attributes)
    train_rows, held_rows = split_indices(len(table), "tiles", config.held_out, config.seed)
    meta = {
        **config.arguments(),
        "intensity": intensity.to_dict(),
        "scaler": scaler.to_dict(),
        "train_rows": train_rows.tolist(),
        "held_out_rows": held_rows.tolist(),
        "lots": str(config.lots.resolve()),
        "regressor": str(config.regressor.resolve()),
    }
    device = torch.device(config.device)
    images = load_tiles(table.subset(train_rows), config.image_size, intensity).to(device)
    attrs = torch.from_numpy(scaler.transform(table.attributes[train_rows])).to(device)
    n_attr = len(config.attributes)
    editor = Editor(n_attr, config.width, config.depth).to(device)
    critic = Discriminator(n_attr, config.width, config.depth).to(device)
    opt_g = torch.optim.Adam(editor.parameters(), lr=config.lr, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(critic.parameters(), lr=config.lr, betas=(0.5, 0.999))
    gen = torch.Generator().manual_seed(config.seed)
    parts = {"editor": editor, "critic": critic, "opt_g": opt_g, "opt_d": opt_d}
    guide = AttributeRegressor(n_attr, config.width, config.depth).to(device) if config.guide_epochs else None
    if guide is not None:
        parts["guide"] = guide
    step, history = 0, []
    path = run.path / CHECKPOINT
    if path.exists():
        saved = resume.read_snapshot(path, device)
        shape = ("attributes", "image_size", "width", "depth", "guide_epochs")
        if {k: saved["progress"]["meta"].get(k) for k in shape} != {k: meta[k] for k in shape}:
            raise RunFolderError(f"{path} was trained with other attributes, sizes or guide: choose a new --out folder")
        restored = resume.restore(saved, parts, gen)
        step, history = restored["step"], restored["history"]
    elif guide is not None:
        fit_guide(guide, images, attrs, config.crop, config.guide_epochs, gen)
    if guide is not None:
        guide.eval().requires_grad_(False)

    def save() -> None:
        state = {"step": step, "history": history, "meta": {**meta, "history": history, "step": step}}
        resume.write_snapshot(path, resume.snapshot(parts, gen, state))

    weights = LossWeights(attribute_edit=config.attribute_weight)
    editor.train()
    critic.train()
    with progress(config.steps, "editor training", completed=step) as bar:
        while step < config.steps:
            idx = torch.randint(0, len(images), (min(config.batch_size, len(images)),), generator=gen).to(device)
            real, a = random_crops(images[idx], config.crop, gen), attrs[idx]
            b = target_attributes(a.cpu(), config.jitter, gen).to(device)
            feats = editor.encode(real)
            edited = editor.decode(feats, b)
            d = discriminator_loss(critic, real, edited, a, config.adversarial, weights)
            opt_d.zero_grad(set_to_none=True)
            d["total"].backward()
            opt_d.step()
            g = generator_loss(critic, editor.decode(feats, a), real, edited, b, weights, guide)
            opt_g.zero_grad(set_to_none=True)
            g["total"].backward()
            opt_g.step()
            step += 1
            losses = {
                "step": step,
                "d_loss": float(d["total"].detach()),
                "g_adv": float(g["adversarial"]),
                "g_attribute": float(g["attribute"]),
                "reconstruction_l1": float(g["reconstruction"]),
            }
            if step % 10 == 0 or step == config.steps:
                history.append(losses)
            if step % config.checkpoint_every == 0 or step == config.steps:
                save()
            bar.advance(
                info=f"critic {losses['d_loss']:.3f}, attribute {losses['g_attribute']:.3f}, "
                f"L1 {losses['reconstruction_l1']:.4f}"
            )
    run.write_json("editor_history.json", history)
