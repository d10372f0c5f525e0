"""Fake analytics folders (the app's points.parquet + analytics.json + tiny images) for tests and benches."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from matsight.analytics.schema import SPACES, columns, label_column, prob_column


def fake_points(n: int, attributes: list[str], seed: int = 0) -> pd.DataFrame:
    """``n`` random rows of the ``points.parquet`` schema: clustered embeddings, labels with
    attribute-dependent base rates, probabilities correlated with the labels (so metrics are non-trivial)."""
    rng = np.random.default_rng(seed)
    k = len(attributes)
    clusters = rng.integers(0, 8, size=n)
    data: dict[str, np.ndarray] = {
        "image": np.array([f"img_{i:07d}.png" for i in range(n)], dtype=object),
        "split": np.where(rng.random(n) < 0.8, "train", "val").astype(object),
    }
    centres = rng.normal(0, 10, size=(len(SPACES), 8, 2)).astype(np.float32)
    for s, space in enumerate(SPACES):
        xy = centres[s][clusters] + rng.normal(0, 1.5, size=(n, 2)).astype(np.float32)
        data[f"{space}_x"], data[f"{space}_y"] = xy[:, 0].astype(np.float32), xy[:, 1].astype(np.float32)
    rates = np.linspace(0.1, 0.5, max(k, 1))
    labels = (rng.random((n, k)) < rates[:k]).astype(np.uint8)
    noise = rng.normal(0, 1.2, size=(n, k))
    probs = (1 / (1 + np.exp(-(3 * (labels - 0.5) + noise)))).astype(np.float32)
    data["error"] = np.abs(probs - labels).mean(axis=1).astype(np.float32)
    for j, a in enumerate(attributes):
        data[label_column(a)] = labels[:, j]
        data[prob_column(a)] = probs[:, j]
    return pd.DataFrame(data, columns=columns(attributes))


def write_fake_analytics(
    out_dir: Path,
    n: int = 200,
    attributes: list[str] | None = None,
    seed: int = 0,
    images: int = 4,
    image_size: int = 32,
) -> Path:
    """Writes a fake analytics folder: ``points.parquet``, ``analytics.json`` and ``images`` tiny
    16-bit PNGs under ``out_dir/data_root/images`` (rows beyond ``images`` reuse them cyclically).
    Returns ``out_dir``."""
    from PIL import Image

    attributes = attributes or [f"attr{j}" for j in range(17)]
    out_dir = Path(out_dir)
    image_dir = out_dir / "data_root" / "images"
    image_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:image_size, :image_size] - image_size / 2
    names = []
    for i in range(images):
        ring = np.exp(-((np.hypot(yy, xx) - 4 - 3 * i) ** 2) / 2) * 60000
        pixels = (ring + rng.exponential(20, size=ring.shape)).clip(0, 65535).astype(np.uint16)
        names.append(f"fake_{i}.png")
        Image.fromarray(pixels).save(image_dir / names[-1])
    points = fake_points(n, attributes, seed)
    points["image"] = np.array([names[i % images] for i in range(n)], dtype=object)
    points.to_parquet(out_dir / "points.parquet", index=False)
    meta = {
        "attributes": attributes,
        "data_root": str((out_dir / "data_root").resolve()),
        "distance": "euclidean",
        "threshold": 0.5,
        "run": str(out_dir.resolve().parent),
        "n": n,
        "map": None,
        "per_attribute": {},
    }
    (out_dir / "analytics.json").write_text(json.dumps(meta, indent=1))
    return out_dir
