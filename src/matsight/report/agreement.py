"""Does a demo's answer agree with the ground truth its generator planted?

A demo step that runs on a generator's data prints one line and writes one paragraph saying so;
a disagreement is shown as one (``DISAGREES`` in the console, "disagrees" in the report), never
as a finding. Per label the agreement is judged on held-out images:

- x-ray tags: each tag's balanced accuracy (predicted = probability ≥ 0.5) against the tags the
  generator read off its scene; a tag agrees at ≥ :data:`TAG_AGREEMENT`;
- crystal classes: each class's recall against the prototype's class; a class agrees at ≥
  :data:`CLASS_AGREEMENT`.

The step agrees when every label that occurs in the held-out images agrees.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

TAG_AGREEMENT = 0.8  # balanced accuracy
CLASS_AGREEMENT = 0.8  # recall


@dataclass(frozen=True)
class Agreement:
    """``what`` was checked, per-label ``scores`` (label → value), the ``threshold`` a label needs,
    the ``measure``'s name and the number of held-out ``images``."""

    what: str
    measure: str
    threshold: float
    scores: dict[str, float]
    images: int

    @property
    def disagreeing(self) -> list[str]:
        return [label for label, value in self.scores.items() if value < self.threshold]

    @property
    def agrees(self) -> bool:
        return not self.disagreeing

    def _detail(self) -> str:
        worst = sorted(self.disagreeing, key=self.scores.get)
        return ", ".join(f"{label} {self.scores[label]:.2f}" for label in worst)

    def console_line(self) -> str:
        """One rich-markup line for the demo's console."""
        head = f"{self.what} vs the generator's ground truth ({self.images} held-out images)"
        agreeing = len(self.scores) - len(self.disagreeing)
        if self.agrees:
            return f"{head}: [bold green]agrees[/] — all {len(self.scores)} with {self.measure} ≥ {self.threshold:g}"
        return (
            f"{head}: [bold red]DISAGREES[/] — {agreeing} of {len(self.scores)} with {self.measure} ≥ "
            f"{self.threshold:g}; disagreeing: {self._detail()}"
        )

    def report_text(self) -> str:
        """One plain-text paragraph for the report section (the report escapes it when it renders)."""
        if self.agrees:
            verdict = f"agrees with the generator's ground truth: every one of the {len(self.scores)} labels has"
        else:
            verdict = (
                f"disagrees with the generator's ground truth for {len(self.disagreeing)} of {len(self.scores)} "
                f"labels ({self._detail()}); these labels are not learnt and their outputs are not findings. "
                f"The other labels have"
            )
        return (
            f"Ground-truth check on {self.images} held-out images: the {self.what} {verdict} "
            f"{self.measure} ≥ {self.threshold:g}."
        )


def tag_agreement(labels: np.ndarray, probabilities: np.ndarray, names: list[str]) -> Agreement:
    """Per-tag balanced accuracy of ``probabilities ≥ 0.5`` against 0/1 ``labels`` ``[N, T]``; tags
    absent from (or present in every one of) the images are not judged."""
    predicted = probabilities >= 0.5
    scores = {}
    for j, name in enumerate(names):
        positive = labels[:, j] == 1
        if positive.all() or not positive.any():
            continue
        scores[name] = float((predicted[positive, j].mean() + (~predicted[~positive, j]).mean()) / 2)
    return Agreement("x-ray tagger", "balanced accuracy", TAG_AGREEMENT, scores, len(labels))


def class_agreement(labels: np.ndarray, predicted: np.ndarray, names: list[str]) -> Agreement:
    """Per-class recall of ``predicted`` against ``labels`` (class indices ``[N]``)."""
    scores = {names[c]: float((predicted[labels == c] == c).mean()) for c in range(len(names)) if (labels == c).any()}
    return Agreement("crystal classifier", "recall", CLASS_AGREEMENT, scores, len(labels))
