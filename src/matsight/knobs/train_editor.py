"""Train the attribute editor on lots (layout 1); checkpointed and resumable like ``matsight train``.

``train_editor(EditorConfig(...))`` reads the lots, min–max scales the chosen attributes over the
lots, holds out a fraction of the tiles (for reconstruction error and the knob analyses), and
alternates critic and editor steps. Target attributes of each step are the batch's own attributes
shuffled across the batch, interpolated towards the tile's own values by a random factor and
jittered (there are only as many distinct label vectors as lots). ``editor.pt`` holds weights,
optimisers, RNG state and the step; rerunning the same command resumes from it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from matsight import options
from matsight.data import read_lots
from matsight.data.dataset import ImageDataset, ImageTable
from matsight.errors import ConfigError, RunFolderError
from matsight.knobs.editor import AttributeScaler, Discriminator, Editor
from matsight.knobs.losses import ADVERSARIAL, LossWeights, discriminator_loss, generator_loss
from matsight.store import RunFolder, atomic_path

CHECKPOINT = "editor.pt"
DEFAULT_ATTRIBUTES = ("size", "porosity", "polydispersity", "facetness")


@dataclass
class EditorConfig:
    """What ``matsight knobs train`` is asked to do.

    ``regressor``: run folder of the property regressor the knobs will explain; ``lots``: layout-1
    folder; ``image_size``: tiles are resized to this (px, divisible by ``2**depth``); ``steps``:
    editor updates; ``width``/``depth``: channels of the first conv and number of strided convs;
    ``attribute_weight``: weight of the attribute loss on edited tiles (AttGAN's λ2).
    Defaults train at 64 px in about a minute on 2 CPU cores;
    :meth:`gpu` gives larger settings.
    """

    regressor: Path
    lots: Path
    out: Path
    attributes: list[str] = field(default_factory=lambda: list(DEFAULT_ATTRIBUTES))
    target: str = "cps"
    image_size: int = 64
    steps: int = 300
    batch_size: int = 32
    width: int = 16
    depth: int = 3
    lr: float = 2e-4
    adversarial: str = "wgan-gp"
    attribute_weight: float = LossWeights.attribute_edit
    jitter: float = 0.05
    held_out: float = 0.2
    checkpoint_every: int = 50
    seed: int = 0
    device: str = "cpu"

    def __post_init__(self) -> None:
        self.regressor, self.lots, self.out = Path(self.regressor), Path(self.lots), Path(self.out)
        if self.adversarial not in ADVERSARIAL:
            raise ConfigError(f"--adversarial {self.adversarial!r}: choose {' or '.join(ADVERSARIAL)}")
        if self.image_size % 2**self.depth:
            raise ConfigError(f"--image-size {self.image_size} must be divisible by 2**depth = {2**self.depth}")
        if not self.attributes:
            raise ConfigError("--attributes is empty: name at least one lots.csv column, e.g. size,porosity")
        if self.attribute_weight < 0:
            raise ConfigError(f"--attribute-weight must be 0 or more (AttGAN uses 10), got {self.attribute_weight}")
        for option, value in (("--steps", self.steps), ("--width", self.width), ("--depth", self.depth)):
            options.at_least(option, value, 1)
        options.at_least("--image-size", self.image_size, 8, " pixels")
        options.at_least("--batch-size", self.batch_size, 1)
        options.non_negative("--attribute-weight", self.attribute_weight)
        options.positive("--lr", self.lr)

    @classmethod
    def gpu(cls, **kw) -> EditorConfig:
        """Larger settings for a GPU: 128 px, 20k steps, wider and deeper networks."""
        return cls(**{"image_size": 128, "steps": 20000, "batch_size": 64, "width": 32, "depth": 4, **kw})

    def arguments(self) -> dict:
        return {k: str(v) if isinstance(v, Path) else v for k, v in asdict(self).items()}


def target_attributes(a: torch.Tensor, jitter: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Training targets for attributes ``[N, A]`` in [0,1]: shuffled across the batch, interpolated
    towards the own values by ``t ~ U(0,1)`` per tile, plus ``N(0, jitter)`` noise, clamped to [0,1]."""
    perm = torch.randperm(a.shape[0], generator=generator)
    t = torch.rand(a.shape[0], 1, generator=generator)
    noise = torch.randn(a.shape, generator=generator) * jitter
    return (t * a[perm] + (1 - t) * a + noise).clamp(0, 1)


def load_tiles(table: ImageTable, image_size: int) -> torch.Tensor:
    """All tiles of ``table`` resized to ``[N, 1, image_size, image_size]`` in [0,1]."""
    data = ImageDataset(table, image_size, channels=1, crop_size=image_size)
    return (
        torch.stack([data[i][0] for i in range(len(data))]) if len(data) else torch.zeros(0, 1, image_size, image_size)
    )


def split_tiles(n: int, held_out: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Random ``(train, held_out)`` tile indices."""
    order = np.random.default_rng(seed).permutation(n)
    k = max(1, int(round(n * held_out)))
    return np.sort(order[k:]), np.sort(order[:k])


@dataclass
class KnobData:
    """Tiles ``[N,1,S,S]`` and scaled attributes ``[N,A]`` of the training or held-out split."""

    images: torch.Tensor
    attributes: torch.Tensor
    groups: list[str]


def split_table(run_dir: Path, split: str = "held_out") -> tuple[ImageTable, AttributeScaler]:
    """The rows of an editor run's ``train`` or ``held_out`` split and the run's attribute scaler."""
    meta = read_meta(run_dir)
    table = read_lots(meta["lots"], target=meta["target"], attributes=meta["attributes"])
    return table.subset(np.asarray(meta[f"{split}_rows"], int)), AttributeScaler.from_dict(meta["scaler"])


def read_split(run_dir: Path, split: str = "held_out") -> KnobData:
    """The tiles of an editor run's ``train`` or ``held_out`` split, as the editor saw them."""
    sub, scaler = split_table(run_dir, split)
    return KnobData(
        load_tiles(sub, read_meta(run_dir)["image_size"]),
        torch.from_numpy(scaler.transform(sub.attributes)),
        sub.groups,
    )


def read_meta(run_dir: Path) -> dict:
    path = Path(run_dir) / CHECKPOINT
    if not path.exists():
        raise RunFolderError(
            f"{path} is missing: train the editor first with `matsight knobs train RUN LOTS --out {run_dir}`"
        )
    return torch.load(path, map_location="cpu", weights_only=False)["meta"]


def load_editor(run_dir: Path, device: str = "cpu") -> tuple[Editor, dict]:
    """The trained editor (eval mode) and its meta (config, scaler, split rows, history)."""
    read_meta(run_dir)  # raises a RunFolderError naming the fix when there is no editor
    payload = torch.load(Path(run_dir) / CHECKPOINT, map_location=device, weights_only=False)
    meta = payload["meta"]
    editor = Editor(len(meta["attributes"]), meta["width"], meta["depth"])
    editor.load_state_dict(payload["editor"])
    return editor.to(device).eval(), meta


def train_editor(config: EditorConfig) -> RunFolder:
    """Train (or resume) the editor into ``config.out``; returns the run folder."""
    torch.manual_seed(config.seed)
    table = read_lots(config.lots, target=config.target, attributes=config.attributes)
    scaler = AttributeScaler.fit(config.attributes, table.attributes)
    train_rows, held_rows = split_tiles(len(table), config.held_out, config.seed)
    run = RunFolder(config.out)
    run.start("knobs train", config.arguments(), seed=config.seed, inputs={"lots": config.lots / "lots.csv"})
    meta = {
        **config.arguments(),
        "scaler": scaler.to_dict(),
        "train_rows": train_rows.tolist(),
        "held_out_rows": held_rows.tolist(),
        "lots": str(config.lots.resolve()),
        "regressor": str(config.regressor.resolve()),
    }
    device = torch.device(config.device)
    images = load_tiles(table.subset(train_rows), config.image_size).to(device)
    attrs = torch.from_numpy(scaler.transform(table.attributes[train_rows])).to(device)
    n_attr = len(config.attributes)
    editor = Editor(n_attr, config.width, config.depth).to(device)
    critic = Discriminator(n_attr, config.width, config.depth).to(device)
    opt_g = torch.optim.Adam(editor.parameters(), lr=config.lr, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(critic.parameters(), lr=config.lr, betas=(0.5, 0.999))
    gen = torch.Generator().manual_seed(config.seed)
    step, history = 0, []
    path = run.path / CHECKPOINT
    if path.exists():
        saved = torch.load(path, map_location=device, weights_only=False)
        if {k: saved["meta"].get(k) for k in ("attributes", "image_size", "width", "depth")} != {
            k: meta[k] for k in ("attributes", "image_size", "width", "depth")
        }:
            raise RunFolderError(f"{path} was trained with other attributes/sizes: choose a new --out folder")
        editor.load_state_dict(saved["editor"])
        critic.load_state_dict(saved["critic"])
        opt_g.load_state_dict(saved["opt_g"])
        opt_d.load_state_dict(saved["opt_d"])
        gen.set_state(saved["generator"])
        step, history = saved["step"], saved["history"]

    def save() -> None:
        with atomic_path(path) as tmp:
            torch.save(
                {
                    "editor": editor.state_dict(),
                    "critic": critic.state_dict(),
                    "opt_g": opt_g.state_dict(),
                    "opt_d": opt_d.state_dict(),
                    "generator": gen.get_state(),
                    "step": step,
                    "history": history,
                    "meta": {**meta, "history": history, "step": step},
                },
                tmp,
            )

    weights = LossWeights(attribute_edit=config.attribute_weight)
    editor.train()
    critic.train()
    while step < config.steps:
        idx = torch.randint(0, len(images), (min(config.batch_size, len(images)),), generator=gen).to(device)
        real, a = images[idx], attrs[idx]
        b = target_attributes(a.cpu(), config.jitter, gen).to(device)
        feats = editor.encode(real)
        edited = editor.decode(feats, b)
        d = discriminator_loss(critic, real, edited, a, config.adversarial, weights)
        opt_d.zero_grad(set_to_none=True)
        d["total"].backward()
        opt_d.step()
        g = generator_loss(critic, editor.decode(feats, a), real, edited, b, weights)
        opt_g.zero_grad(set_to_none=True)
        g["total"].backward()
        opt_g.step()
        step += 1
        if step % 10 == 0 or step == config.steps:
            history.append(
                {
                    "step": step,
                    "d_loss": float(d["total"].detach()),
                    "g_adv": float(g["adversarial"]),
                    "g_attribute": float(g["attribute"]),
                    "reconstruction_l1": float(g["reconstruction"]),
                }
            )
        if step % config.checkpoint_every == 0 or step == config.steps:
            save()
    run.write_json("editor_history.json", history)
    run.set_status("finished")
    return run
