"""AttGAN losses: L1 reconstruction, attribute regression, WGAN-GP or hinge adversarial terms.

Default weights follow AttGAN: reconstruction ×100, attribute loss on edited images ×10 for the
generator, attribute loss on real images ×1 for the discriminator, gradient penalty λ = 10.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

ADVERSARIAL = ("wgan-gp", "hinge")


@dataclass(frozen=True)
class LossWeights:
    reconstruction: float = 100.0
    attribute_edit: float = 10.0
    attribute_real: float = 1.0
    gradient_penalty: float = 10.0


def gradient_penalty(discriminator: nn.Module, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """WGAN-GP: ``E[(‖∇_x D(x̂)‖₂ − 1)²]`` on random interpolates ``x̂`` of real and fake tiles."""
    alpha = torch.rand(real.shape[0], 1, 1, 1, device=real.device)
    mixed = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
    score, _ = discriminator(mixed)
    (grad,) = torch.autograd.grad(score.sum(), mixed, create_graph=True)
    return ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()


def discriminator_loss(
    discriminator: nn.Module,
    real: torch.Tensor,
    fake: torch.Tensor,
    real_attributes: torch.Tensor,
    adversarial: str = "wgan-gp",
    weights: LossWeights = LossWeights(),
) -> dict[str, torch.Tensor]:
    """Critic loss on real tiles (with their attributes ``[N, A]``) and detached edited tiles."""
    real_score, real_attr = discriminator(real)
    fake_score, _ = discriminator(fake.detach())
    if adversarial == "wgan-gp":
        adv = fake_score.mean() - real_score.mean()
        adv = adv + weights.gradient_penalty * gradient_penalty(discriminator, real, fake.detach())
    else:
        adv = F.relu(1 - real_score).mean() + F.relu(1 + fake_score).mean()
    attr = F.mse_loss(real_attr, real_attributes)
    return {"total": adv + weights.attribute_real * attr, "adversarial": adv.detach(), "attribute": attr.detach()}


def generator_loss(
    discriminator: nn.Module,
    reconstructed: torch.Tensor,
    real: torch.Tensor,
    edited: torch.Tensor,
    target_attributes: torch.Tensor,
    weights: LossWeights = LossWeights(),
    guide: nn.Module | None = None,
) -> dict[str, torch.Tensor]:
    """Editor loss: fool the critic with the edit, hit the target attributes as the critic's attribute head
    reads them (or a frozen ``guide``, ``[N,1,S,S]`` → ``[N, A]``), reconstruct with A unchanged."""
    score, attr = discriminator(edited)
    if guide is not None:
        attr = guide(edited)
    adv = -score.mean()  # the same generator term for WGAN and hinge
    attr_loss = F.mse_loss(attr, target_attributes)
    rec = F.l1_loss(reconstructed, real)
    total = adv + weights.attribute_edit * attr_loss + weights.reconstruction * rec
    return {
        "total": total,
        "adversarial": adv.detach(),
        "attribute": attr_loss.detach(),
        "reconstruction": rec.detach(),
    }
