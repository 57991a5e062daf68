"""Encoder branches: images ``(B, C, H, W) float32`` -> embeddings ``(B, D) float32``.

``ARCHS`` maps an architecture name (``--arch``) to its class; every class takes
``(in_channels, embedding_dim, input_size)`` so a checkpoint can rebuild it from its saved arguments.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn as nn

from .backbones import UserBackbone, is_factory_spec
from .signet import SigNet, SmallSigNet

NORMS = ("batch", "group")


def _norm(kind: str, channels: int) -> nn.Module:
    if kind not in NORMS:
        raise ValueError(f"norm {kind!r} unknown; expected one of {list(NORMS)}")
    # GroupNorm normalises each image on its own: no dependence on the batch (exact multi-process training on CPU)
    return nn.BatchNorm2d(channels) if kind == "batch" else nn.GroupNorm(min(8, channels), channels)


def _block(cin: int, cout: int, norm: str = "batch") -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1, bias=False), _norm(norm, cout), nn.ReLU(inplace=True), nn.MaxPool2d(2)
    )


class ConvNet4(nn.Module):
    """The small default: 4 x (conv3x3-norm-ReLU-maxpool2) blocks of ``width`` channels, global average
    pooling, then a linear layer to ``embedding_dim``. Works from 28 px up (28 -> 14 -> 7 -> 3 -> 1).
    ``norm`` is ``batch`` (BatchNorm, folded into the convs at export) or ``group`` (GroupNorm)."""

    def __init__(
        self,
        in_channels: int = 1,
        embedding_dim: int = 64,
        input_size: tuple[int, int] = (28, 28),
        width: int = 64,
        norm: str = "batch",
    ):
        super().__init__()
        if min(input_size) < 16:
            raise ValueError(f"convnet4 needs inputs of at least 16 px, got {input_size}; pass --size 28 or larger")
        self.features = nn.Sequential(*[_block(in_channels if i == 0 else width, width, norm) for i in range(4)])
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(width, embedding_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.pool(self.features(x)), 1))


class KochNet(nn.Module):
    """Koch, Zemel & Salakhutdinov (2015)-style CNN for 105 px Omniglot.

    conv10x10(64)-pool, conv7x7(128)-pool, conv4x4(128)-pool, conv4x4(256), then a linear layer from the
    flattened 256x6x6 map to ``embedding_dim``. Differences from the paper, for stable training without its
    hand-tuned initialisation: BatchNorm after each conv (folded into the conv at export), and the 4096-d
    sigmoid layer is replaced by the linear embedding (the distance head replaces the paper's L1 + sigmoid).
    """

    def __init__(self, in_channels: int = 1, embedding_dim: int = 128, input_size: tuple[int, int] = (105, 105)):
        super().__init__()
        if min(input_size) < 65:  # 65 px leaves a 1 x 1 map after the last 4 x 4 conv
            raise ValueError(f"koch needs inputs of at least 65 px (designed for 105), got {input_size}; use --arch convnet4")

        def conv(cin: int, cout: int, k: int) -> list[nn.Module]:
            return [nn.Conv2d(cin, cout, k, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]

        self.features = nn.Sequential(
            *conv(in_channels, 64, 10),
            nn.MaxPool2d(2),
            *conv(64, 128, 7),
            nn.MaxPool2d(2),
            *conv(128, 128, 4),
            nn.MaxPool2d(2),
            *conv(128, 256, 4),
        )
        with torch.no_grad():  # in eval mode, as SigNet: BatchNorm takes a 1 x 1 map of one image, stats untouched
            flat = self.features.eval()(torch.zeros(1, in_channels, *input_size)).numel()
        self.features.train()
        self.fc = nn.Linear(flat, embedding_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.features(x), 1))


ARCHS: dict[str, type[nn.Module]] = {"convnet4": ConvNet4, "koch": KochNet, "signet": SigNet, "signet-small": SmallSigNet}


class Encoder(nn.Module):
    """One Siamese branch: a backbone from ``ARCHS`` or a user factory (``package.module:factory``, see
    ``backbones``), optionally L2-normalising its output."""

    def __init__(
        self, arch: str, in_channels: int, embedding_dim: int, input_size: tuple[int, int], normalize: bool, **arch_kwargs: Any
    ):
        super().__init__()
        if arch not in ARCHS and not is_factory_spec(arch):
            raise ValueError(f"arch {arch!r} unknown; expected one of {sorted(ARCHS)} or package.module:factory")
        if embedding_dim < 1:
            raise ValueError(f"embedding dim {embedding_dim} must be >= 1")
        if is_factory_spec(arch):
            arch_kwargs = {"factory": arch, **arch_kwargs}
        self.backbone = (UserBackbone if is_factory_spec(arch) else ARCHS[arch])(
            in_channels=in_channels, embedding_dim=embedding_dim, input_size=tuple(input_size), **arch_kwargs
        )
        self.normalize = normalize

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        e = self.backbone(x)
        return l2_normalize(e) if self.normalize else e


def l2_normalize(e: torch.Tensor) -> torch.Tensor:
    """``(B, D)`` rows scaled to unit length (zero rows stay zero)."""
    # not F.normalize: its expand_as exports as an Expand node that ORT's quantiser cannot shape-infer
    return e / torch.linalg.vector_norm(e, dim=1, keepdim=True).clamp_min(1e-12)
