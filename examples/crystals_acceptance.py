"""The crystal study end to end at a size a 2-core CPU affords: the numbers of docs/crystals.md.

Steps, each resumable (rerun the same command after an interruption):

1. ``build``: ``--per-class`` pristine structures of every library prototype, training elements
   only, with fingerprints and SOAP vectors (``<out>/data``);
2. ``train``: the ConvNet (fingerprints) and the SOAP MLP with the library defaults
   (``<out>/fingerprint``, ``<out>/soap``);
3. ``robustness``: every axis at the default levels on held-out-element structures
   (``<out>/robustness``; ``--robustness-per-class`` structures per class and level);
4. ``map``: the default fcc | bcc bicrystal (``<out>/map``).

Prints the held-out pristine accuracy of the three methods and the map's boundary/interior
uncertainties.

    python examples/crystals_acceptance.py --out /tmp/crystals-acceptance [--per-class 16]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from matsight.crystals.config import MapConfig, RobustnessConfig, TrainConfig
from matsight.crystals.library import CLASS_NAMES
from matsight.crystals.polycrystal import run_map
from matsight.crystals.robustness import METHOD_LABELS, run_robustness
from matsight.crystals.train import build, run_train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--per-class", type=int, default=16)
    parser.add_argument("--robustness-per-class", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    data = build(args.out / "data", n=args.per_class * len(CLASS_NAMES), seed=0, device=args.device)
    for name in ("soap", "fingerprint"):
        run = run_train(TrainConfig(data=data, out=args.out / name, descriptor=name, device=args.device))
        print(name, run.read_json("metrics.json"), flush=True)
    robustness = run_robustness(
        RobustnessConfig(
            convnet=args.out / "fingerprint",
            soap=args.out / "soap",
            out=args.out / "robustness",
            per_class=args.robustness_per_class,
            device=args.device,
        )
    ).read_table("robustness")
    held_out = robustness[robustness["axis"] == "held-out elements"]
    for _, row in held_out.iterrows():
        print(f"held-out elements, pristine: {METHOD_LABELS[row['method']]} {row['accuracy']:.1f} %", flush=True)
    crystal_map = run_map(MapConfig(convnet=args.out / "fingerprint", soap=args.out / "soap", out=args.out / "map"))
    for key, value in crystal_map.read_json("metrics.json").items():
        print(f"{key}: {value}")


if __name__ == "__main__":
    main()
