"""The one-line console summary of :class:`matsight.ood.reference.OODScores`."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from matsight.ood.reference import OODScores, format_range

NAMES_SHOWN = 5


def summary_line(scores: OODScores, names: Sequence[str]) -> str:
    """E.g. ``12 of 40 images look unlike the training data: a.png, b.png, c.png, d.png, e.png, …
    (features 10, intensities 3); 2 predictions outside the training range 213–386``.

    ``names``: one per scored image (file names, in the order scored); the first
    :data:`NAMES_SHOWN` flagged ones are listed. An image can count under both features and
    intensities.
    """
    if len(names) != len(scores):
        raise ValueError(f"{len(names)} names for {len(scores)} scored images")
    flagged = np.flatnonzero(scores.out_of_distribution)
    total = len(scores)
    if len(flagged) == 0:
        line = f"all {total} images look like the training data"
    else:
        shown = ", ".join(str(names[i]) for i in flagged[:NAMES_SHOWN]) + (", …" if len(flagged) > NAMES_SHOWN else "")
        by_features, by_intensities = int((scores.feature_score > 1).sum()), int((scores.intensity_score > 1).sum())
        line = (
            f"{len(flagged)} of {total} images look unlike the training data: {shown} "
            f"(features {by_features}, intensities {by_intensities})"
        )
    outside = int(scores.outside_target_range.sum())
    if outside:
        ranges = ", ".join(format_range(*r) for r in scores.target_ranges)
        noun = "prediction" if outside == 1 else "predictions"
        line += f"; {outside} {noun} outside the training range{'s' if len(scores.target_ranges) > 1 else ''} {ranges}"
    return line
