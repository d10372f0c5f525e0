"""Inverse search (Liu, Kailkhura et al., Eq. 2): which attribute change reaches a desired prediction.

For each tile ``I`` with attributes ``A`` minimise over ``A'`` (scaled, clamped to [0,1], the
training range)::

    λ · ((R(G(I; A')) − p') / σ)²  +  mean |I − G(I; A')|

with Adam, where ``σ`` is the regressor's target scale (so λ does not depend on the property's
units). Only the knobs marked ``free`` move (e.g. those that pass the control check); the others
stay at each tile's own values. A tile stops moving once its prediction is within ``tolerance·σ``
of ``p'``; the search ends early once every tile has stopped or is held at the bounds of the range
by the gradient (an unreachable target: no step inside [0,1] lowers its loss). Targets are an
absolute value or a change relative to the prediction for the unedited tile (``"+10%"``, ``"-10%"``).
Lot attributes are one value per lot, and a lot's property is the mean over its tiles: given
``groups`` (a lot name per tile), the tiles of one lot share one ``A'`` and the target term uses the
lot's mean prediction (and the L1 term the lot's mean edit), so each lot gets one answer.
Given ``full`` (the tiles at the regressor's resolution), R sees ``full`` plus the edit
(:func:`~matsight.knobs.transfer.transfer_edit`), so the baseline is R of the real tile; without it,
R sees ``G(I; A')`` and the baseline is ``R(G(I; A))``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from scipy import stats
from torch import nn

from matsight import options
from matsight.errors import ConfigError
from matsight.knobs.transfer import transfer_edit
from matsight.progress import progress


@dataclass(frozen=True)
class Goal:
    """What the inverse search aims for. ``relative``: ``value`` is a fraction (+0.1 = +10 %) of each
    tile's (or lot's) prediction; else an absolute property value."""

    value: float
    relative: bool

    @classmethod
    def parse(cls, text: str | float) -> Goal:
        if isinstance(text, (int, float)):
            return cls(float(text), False)
        m = re.fullmatch(r"\s*([+-]?\d+(?:\.\d*)?)\s*%\s*", text)
        if m:
            if float(m.group(1)) == 0:
                raise ConfigError(f"--goal {text!r}: a change of 0 % asks for nothing; give e.g. +10% or -10%")
            return cls(float(m.group(1)) / 100, True)
        try:
            value = float(text)
            options.finite("--goal", value)
            return cls(value, False)
        except ValueError:
            raise ConfigError(
                f"--goal {text!r}: give a relative change like +10% / -10% or an absolute value"
            ) from None

    @property
    def direction(self) -> str:
        return "increase" if self.value > 0 else "decrease"

    def __str__(self) -> str:
        return f"{self.value:+.0%}" if self.relative else f"{self.value:g}"

    def resolve(self, baseline: torch.Tensor) -> torch.Tensor:
        """Per-tile goal ``p'`` from baseline predictions ``[N]``."""
        return baseline * (1 + self.value) if self.relative else torch.full_like(baseline, self.value)


@dataclass
class InverseResult:
    """One row per tile, or per group when the search was grouped (``groups``: the group names, in
    row order). ``start``, ``found``: scaled attributes ``[N, A]``; ``baseline``, ``goal``,
    ``reached``: (mean) predictions ``[N]``; ``converged``: ``[N]`` bool; ``steps``: iterations used."""

    start: np.ndarray
    found: np.ndarray
    baseline: np.ndarray
    goal: np.ndarray
    reached: np.ndarray
    converged: np.ndarray
    steps: int
    groups: list[str] | None = None

    @property
    def delta(self) -> np.ndarray:
        return self.found - self.start


class InverseSearch:
    """``InverseSearch(editor, regressor).search(images, attributes, goal="+10%")``.

    ``editor(images [N,1,S,S], attributes [N,A]) → images``; ``regressor(images) → [N]`` in user
    units with a ``std`` attribute (or give ``scale``). ``lam``: weight λ of the target term.
    """

    def __init__(
        self,
        editor: nn.Module,
        regressor: nn.Module,
        lam: float = 10.0,
        lr: float = 0.05,
        steps: int = 200,
        tolerance: float = 0.02,
        scale: float | None = None,
    ):
        self.editor, self.regressor = editor, regressor
        self.lam, self.lr, self.steps, self.tolerance = lam, lr, steps, tolerance
        self.scale = float(scale if scale is not None else getattr(regressor, "std", 1.0))

    def search(
        self,
        images: torch.Tensor,
        attributes: torch.Tensor,
        goal: str | float | Goal,
        full: torch.Tensor | None = None,
        free: np.ndarray | None = None,
        groups: list[str] | None = None,
    ) -> InverseResult:
        """Search ``A'`` for tiles ``[N,1,S,S]`` with attributes ``[N, A]`` that moves the prediction to
        ``goal`` (``"+10%"``, ``"-5%"`` or a value in the property's units). ``full``: ``[N,1,H,W]``, see
        above; ``free``: bool ``[A]``, the knobs the search may turn, all by default; ``groups``: a
        name per tile, tiles with one name share one ``A'`` — they must share their attributes.

        The editor's parameters are frozen during the search and given back as they were."""
        goal = goal if isinstance(goal, Goal) else Goal.parse(goal)
        fixed = (
            torch.zeros(attributes.shape[1], dtype=torch.bool, device=attributes.device)
            if free is None
            else ~torch.as_tensor(np.asarray(free, bool), device=attributes.device)
        )
        if bool(fixed.all()):
            raise ConfigError("the inverse search has no knob to turn: free at least one attribute")
        trainable = [p for p in self.editor.parameters() if p.requires_grad]
        for p in trainable:
            p.requires_grad_(False)
        try:
            return self._search(images, attributes, goal, full, fixed, _Groups(groups, len(images), images.device))
        finally:
            for p in trainable:
                p.requires_grad_(True)

    def _search(
        self,
        images: torch.Tensor,
        attributes: torch.Tensor,
        goal: Goal,
        full: torch.Tensor | None,
        fixed: torch.Tensor,
        group: _Groups,
    ) -> InverseResult:
        with torch.no_grad():
            reconstructed = self.editor(images, attributes)

        def predict(edited: torch.Tensor) -> torch.Tensor:
            return self.regressor(edited if full is None else transfer_edit(full, edited, reconstructed))

        start = group.shared_attributes(attributes.detach().clamp(0, 1))
        with torch.no_grad():
            baseline = group.mean(predict(reconstructed))
        wanted = goal.resolve(baseline)
        a = start.clone().requires_grad_(True)
        opt = torch.optim.Adam([a], lr=self.lr)
        done = torch.zeros(len(start), dtype=torch.bool, device=start.device)
        step = 0
        with progress(self.steps, f"inverse search {goal}") as bar:
            for step in range(1, self.steps + 1):  # noqa: B007 (the count of steps taken is reported)
                edited = self.editor(images, a[group.index])
                err = (group.mean(predict(edited)) - wanted) / self.scale
                done = done | (err.detach().abs() < self.tolerance)
                if bool(done.all()):
                    break
                loss = self.lam * err**2 + group.mean((images - edited).abs().flatten(1).mean(1))
                searching = (~done).float()
                opt.zero_grad()
                (loss * searching).sum().backward()
                if bool((done | _held_at_bounds(a, fixed)).all()):
                    break
                frozen = a.detach().clone()
                opt.step()
                with torch.no_grad():  # converged rows keep their A' (Adam momentum would move them on)
                    a.clamp_(0, 1)
                    a[done] = frozen[done]
                    a[:, fixed] = start[:, fixed]
                mean_loss = float((loss.detach() * searching).sum() / searching.sum())
                bar.advance(info=f"loss {mean_loss:.4g} (still searching), {int(done.sum())}/{len(done)} reached")
        with torch.no_grad():
            reached = group.mean(predict(self.editor(images, a[group.index])))
        done = (reached - wanted).abs() / self.scale < self.tolerance
        return InverseResult(
            start.cpu().numpy(),
            a.detach().cpu().numpy(),
            baseline.cpu().numpy(),
            wanted.cpu().numpy(),
            reached.cpu().numpy(),
            done.cpu().numpy(),
            step,
            group.names,
        )


def _held_at_bounds(a: torch.Tensor, fixed: torch.Tensor) -> torch.Tensor:
    """Rows ``[G]`` of ``a`` (with its gradient) where every free knob sits at a bound of [0, 1] and the
    gradient pushes it further out: a constrained stationary point, where no step inside the range
    lowers the loss, so the search stops there instead of spending its remaining steps."""
    held = ((a <= 0) & (a.grad > 0)) | ((a >= 1) & (a.grad < 0)) | fixed
    return held.all(1)


class _Groups:
    """Which tiles share one ``A'``: group names (sorted; ``None`` when every tile is its own group)
    and each tile's group index ``[n]``; :meth:`mean` averages per-tile values over each group."""

    def __init__(self, groups: list[str] | None, n: int, device):
        if groups is not None and len(groups) != n:
            raise ConfigError(f"groups names {len(groups)} tiles but there are {n}: give one group name per tile")
        names, index = (
            (None, np.arange(n)) if groups is None else np.unique(np.asarray(groups, str), return_inverse=True)
        )
        self.names = None if names is None else names.tolist()
        self.index = torch.as_tensor(index, device=device)
        self.size = torch.bincount(self.index).float()

    def mean(self, values: torch.Tensor) -> torch.Tensor:
        """``[n, ...]`` per tile → ``[G, ...]`` per group."""
        total = torch.zeros((len(self.size),) + values.shape[1:], dtype=values.dtype, device=values.device)
        return total.index_add(0, self.index, values) / self.size.view(-1, *[1] * (values.dim() - 1))

    def shared_attributes(self, attributes: torch.Tensor) -> torch.Tensor:
        """Each group's attributes ``[G, A]`` from the tiles' ``[n, A]``; a group whose tiles disagree is a
        ConfigError."""
        shared = self.mean(attributes)
        spread = (shared[self.index] - attributes).abs().amax(1)
        if self.names is not None and bool((spread > 1e-5).any()):
            bad = self.names[int(self.index[int(spread.argmax())])]
            raise ConfigError(
                f"the tiles of group {bad!r} have different attributes; a grouped search gives each "
                "group one attribute vector, so group tiles by lot (a lot's tiles share its attributes)"
            )
        return shared


def effects_table(
    results: dict[str, InverseResult],
    names: list[str],
    span: np.ndarray,
    free: np.ndarray | None = None,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Mean ΔA per attribute and direction with a t confidence interval, in user units (ΔA01·span), over
    the tiles (or lots) whose search reached the goal: where a search stopped short, its ΔA is where
    it gave up, not an answer (NaN when no search reached the goal; the interval NaN below two).

    ``results``: direction (``increase``/``decrease``) → result; ``free``: bool ``[A]``, which knobs
    the search could turn (all by default). Columns ``attribute, direction, mean_delta, ci_low,
    ci_high, n`` (searched), ``reached`` (how many reached the goal), ``converged`` (their fraction),
    ``free``.
    """
    free = np.ones(len(names), bool) if free is None else np.asarray(free, bool)
    rows = []
    for direction, res in results.items():
        delta = (res.delta * np.asarray(span)[None, :])[np.asarray(res.converged, bool)]
        reached = len(delta)
        for j, name in enumerate(names):
            mean = float(delta[:, j].mean()) if reached else float("nan")
            half = float("nan")
            if reached > 1:
                sem = float(delta[:, j].std(ddof=1) / np.sqrt(reached))
                half = float(stats.t.ppf(0.5 + confidence / 2, reached - 1) * sem)
            rows.append(
                {
                    "attribute": name,
                    "direction": direction,
                    "mean_delta": mean,
                    "ci_low": mean - half,
                    "ci_high": mean + half,
                    "n": len(res.delta),
                    "reached": reached,
                    "converged": float(res.converged.mean()),
                    "free": bool(free[j]),
                }
            )
    return pd.DataFrame(rows)


def answers_table(results: dict[str, InverseResult], names: list[str], span: np.ndarray) -> pd.DataFrame:
    """One row per searched lot (or tile) and direction: ``group, direction, baseline, goal,
    reached, converged`` and ``delta_<attribute>`` in user units (ΔA01·span) — each lot's own answer."""
    frames = []
    for direction, res in results.items():
        frame = pd.DataFrame(
            {
                "group": res.groups if res.groups is not None else np.arange(len(res.found)),
                "direction": direction,
                "baseline": res.baseline,
                "goal": res.goal,
                "reached": res.reached,
                "converged": res.converged,
            }
        )
        delta = res.delta * np.asarray(span)[None, :]
        for j, name in enumerate(names):
            frame[f"delta_{name}"] = delta[:, j]
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)
