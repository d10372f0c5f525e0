"""Out-of-distribution warnings: is a new image like the images a model was trained on?

At the end of training, :func:`fit_reference` keeps k-nearest-neighbour statistics of the training
images' model features and intensity statistics, with thresholds set on held-out images, plus the
training targets' range; :meth:`OODReference.score` flags new images unlike the training data and
predictions outside that range; :func:`summary_line` says so in one line. See docs/ood.md.
"""

from matsight.ood.features import (
    INTENSITY_STATISTICS,
    dataset_statistics,
    forward_with_statistics,
    intensity_statistics,
    penultimate_layer,
)
from matsight.ood.probes import FOREIGN_KINDS, flag_rates, foreign_images
from matsight.ood.reference import OODReference, OODScores, conformal_threshold, fit_reference
from matsight.ood.summary import summary_line

__all__ = [
    "FOREIGN_KINDS",
    "INTENSITY_STATISTICS",
    "OODReference",
    "OODScores",
    "conformal_threshold",
    "dataset_statistics",
    "fit_reference",
    "flag_rates",
    "foreign_images",
    "forward_with_statistics",
    "intensity_statistics",
    "penultimate_layer",
    "summary_line",
]
