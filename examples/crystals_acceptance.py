"""The crystal study end to end at a size a 2-core CPU affords: the numbers of docs/crystals.md.

Steps, each resumable (rerun the same command after an interruption):

1. ``build``: ``--per-class`` pristine structures of every library prototype, training elements
   only, with fingerprints and SOAP vectors (``<out>/data``);
2. ``train``: the ConvNet (fingerprints, ``--convnet-epochs``) and the SOAP MLP (library default,
   60 epochs) (``<out>/fingerprint``, ``<out>/soap``);
3. ``robustness``: every axis at the default levels on held-out-element structures
   (``<out>/robustness``; ``--robustness-per-class`` structures per class and level);
4. ``map``: the default fcc | bcc bicrystal (``<out>/map``).

Prints the held-out-element accuracy of both classifiers on ``--held-out-per-class`` pristine
structures per class (with the confused class pairs), the accuracy of every method per axis and
level, the learned classifiers' mutual information and ECE per level, and the map's
boundary/interior uncertainties.

    python examples/crystals_acceptance.py --out /tmp/crystals-acceptance [--per-class 16] [--convnet-epochs 12]
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

from matsight.crystals.config import MapConfig, RobustnessConfig, TrainConfig
from matsight.crystals.descriptors import descriptor
from matsight.crystals.library import CLASS_NAMES, library_set
from matsight.crystals.polycrystal import run_map
from matsight.crystals.robustness import METHOD_LABELS, run_robustness
from matsight.crystals.train import build, load_classifier, predict, run_train


def held_out_pristine(out: Path, per_class: int, device: str) -> None:
    """Accuracy, ECE and the confused pairs of both classifiers on pristine held-out-element structures."""
    test = library_set(per_class * len(CLASS_NAMES), seed=4242, split="test")
    for name in ("fingerprint", "soap"):
        model, _ = load_classifier(out / name, device=device, name=name)
        p = predict(model, descriptor(name, device).transform(test.structures))
        summary = {k: round(float(v), 3) for k, v in p.summary(test.labels).items()}
        confused = Counter(f"{CLASS_NAMES[t]} -> {CLASS_NAMES[q]}" for t, q in zip(test.labels, p.predicted) if t != q)
        print(f"held-out elements, pristine ({len(test.labels)} structures): {name} {summary}", flush=True)
        print(f"  confused: {dict(confused.most_common())}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--per-class", type=int, default=16)
    parser.add_argument("--convnet-epochs", type=int, default=None, help="default: the library's")
    parser.add_argument("--held-out-per-class", type=int, default=4)
    parser.add_argument("--robustness-per-class", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    data = build(args.out / "data", n=args.per_class * len(CLASS_NAMES), seed=0, device=args.device)
    for name, epochs in (("soap", None), ("fingerprint", args.convnet_epochs)):
        config = TrainConfig(out=args.out / name, data=data, descriptor=name, epochs=epochs, device=args.device)
        run = run_train(config)
        print(name, run.read_json("metrics.json"), flush=True)
    held_out_pristine(args.out, args.held_out_per_class, args.device)
    robustness = run_robustness(
        RobustnessConfig(
            out=args.out / "robustness",
            convnet=args.out / "fingerprint",
            soap=args.out / "soap",
            per_class=args.robustness_per_class,
            device=args.device,
        )
    ).read_table("robustness")
    levels = {"index": ["axis", "label"], "columns": "method", "sort": False}
    print(robustness.pivot_table(values="accuracy", **levels).round(1).to_string(), flush=True)
    learned = robustness[robustness["method"].isin(["convnet", "soap_mlp"])]
    print(learned.pivot_table(values=["mutual_information", "ece"], **levels).round(3).to_string(), flush=True)
    held_out = robustness[robustness["axis"] == "held-out elements"]
    for _, row in held_out.iterrows():
        print(f"held-out elements, pristine: {METHOD_LABELS[row['method']]} {row['accuracy']:.1f} %", flush=True)
    crystal_map = run_map(
        MapConfig(out=args.out / "map", convnet=args.out / "fingerprint", soap=args.out / "soap", device=args.device)
    )
    for key, value in crystal_map.read_json("metrics.json").items():
        print(f"{key}: {value}")


if __name__ == "__main__":
    main()
