"""Test-time augmentation baked into the exported encoder: one graph that embeds shifted views and averages.

``siamese-export --tta shift9`` wraps the encoder so that each image is embedded at its own position and
shifted by one pixel (of the encoder's input) in each of the 8 directions; the 9 embeddings are averaged
and, for L2-normalised encoders, re-normalised. ``shift5`` uses the 4 axis-aligned shifts. The bundle stays
one encoder graph with the usual ``(B, C, H, W) -> (B, D)`` signature, so thresholds, the int8 gate,
``verify``, ``search`` and ``oneshot`` all measure and use the averaged embedding, at ``views`` times the
encoder's cost per image. Shifted-in edges repeat the border pixel (the background of stroke images), as
the training augmentation fills them.

Measured on Omniglot (docs/results/omniglot.md): 20-way within-alphabet accuracy +3.0 / +1.5 points (int8) on two
held-out splits with ``shift9``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

#: name -> (dy, dx) pixel offsets of the views, the unshifted view first
SHIFTS: dict[str, tuple[tuple[int, int], ...]] = {
    "none": ((0, 0),),
    "shift5": ((0, 0), (-1, 0), (1, 0), (0, -1), (0, 1)),
    "shift9": ((0, 0), (-1, 0), (1, 0), (0, -1), (0, 1), (-1, -1), (-1, 1), (1, -1), (1, 1)),
}


class ShiftTTA(torch.nn.Module):
    """``encoder`` applied to ``len(SHIFTS[mode])`` one-pixel shifts of each image, embeddings averaged.

    Input ``(B, C, H, W) float32``, output ``(B, D) float32`` (unit vectors again when ``normalize``).
    """

    def __init__(self, encoder: torch.nn.Module, mode: str, normalize: bool):
        super().__init__()
        self.encoder, self.shifts, self.normalize = encoder, SHIFTS[mode], normalize

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        padded = F.pad(x, (1, 1, 1, 1), mode="replicate")
        views = torch.cat([padded[:, :, 1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w] for dy, dx in self.shifts])
        e = self.encoder(views).reshape(len(self.shifts), x.shape[0], -1).mean(0)
        return F.normalize(e, dim=1) if self.normalize else e
