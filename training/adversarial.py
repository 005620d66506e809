"""A short PatchGAN phase after the main training (pix2pix; "NoGAN"-style: pretrain, then a few
adversarial steps, stopped early), to push colours away from the safe average."""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .model import AB_SCALE, L_SCALE, L_SHIFT, OUTPUT_STRIDE

log = logging.getLogger(__name__)

D_LR = 2e-4  # discriminator learning rate (pix2pix)
G_LR_FACTOR = 0.1  # the generator continues at this fraction of the main run's peak rate


class PatchDiscriminator(nn.Module):
    """(N, 1 + 2, h, w) scaled L and ab at the model's output size -> (N, 1, h/4, w/4) real/fake logits."""

    def __init__(self, width: int = 32):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(3, width, 4, 2, 1),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(width, 2 * width, 4, 2, 1),
            nn.InstanceNorm2d(2 * width),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(2 * width, 4 * width, 3, 1, 1),
            nn.InstanceNorm2d(4 * width),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(4 * width, 1, 3, 1, 1),
        )

    def forward(self, lightness: torch.Tensor, ab: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([lightness, ab / AB_SCALE], dim=1))


def adversarial_phase(
    model: nn.Module,
    sample: Callable[[], tuple[np.ndarray, np.ndarray]],
    objective: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    to_ab: Callable[[torch.Tensor], torch.Tensor],
    validate: Callable[[], dict],
    steps: int,
    weight: float,
    lr: float,
    device: torch.device,
    val_every: int,
) -> list[dict]:
    """Trains `model` for `steps` more steps on objective + weight * adversarial loss; returns the log."""
    discriminator = PatchDiscriminator().to(device)
    d_opt = torch.optim.Adam(discriminator.parameters(), lr=D_LR, betas=(0.5, 0.999))
    g_opt = torch.optim.Adam(model.parameters(), lr=lr * G_LR_FACTOR, betas=(0.5, 0.999))
    history, running = [], []
    model.train()
    for step in range(1, steps + 1):
        lightness, ab = (torch.from_numpy(a).to(device) for a in sample())
        target = F.avg_pool2d(ab, OUTPUT_STRIDE)
        l_small = F.avg_pool2d(lightness, OUTPUT_STRIDE) / L_SCALE - L_SHIFT
        raw = model(lightness / L_SCALE - L_SHIFT).float()
        fake = to_ab(raw)

        real_logits = discriminator(l_small, target)
        fake_logits = discriminator(l_small, fake.detach())
        d_loss = F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits)) + (
            F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
        )
        d_opt.zero_grad(set_to_none=True)
        d_loss.backward()
        d_opt.step()

        fooled = discriminator(l_small, fake)
        adversarial = F.binary_cross_entropy_with_logits(fooled, torch.ones_like(fooled))
        g_loss = objective(raw, target) + weight * adversarial
        g_opt.zero_grad(set_to_none=True)
        g_loss.backward()
        g_opt.step()
        running.append((g_loss.item(), d_loss.item(), adversarial.item()))
        if step % val_every == 0 or step == steps:
            g, d, adv = np.mean(running, axis=0)
            running = []
            record = {"gan_step": step, "g_loss": float(g), "d_loss": float(d), "adversarial": float(adv), **validate()}
            history.append(record)
            log.info("GAN step %d  G %.4f  D %.4f  val loss %.4f", step, g, d, record["val_loss"])
    return history
