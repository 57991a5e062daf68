"""SigNet (Dey et al. 2017, "SigNet: Convolutional Siamese Network for Writer Independent Offline Signature
Verification"): the conv stack of the signature-verification article, as one encoder branch.

    conv11x11(w)-norm-ReLU-maxpool3/2, conv5x5(8w/3)-norm-ReLU-maxpool3/2-dropout,
    conv3x3(4w)-ReLU, conv3x3(8w/3)-ReLU-maxpool3/2-dropout, flatten, FC(fc)-ReLU-dropout, FC(embedding_dim)

``w`` is ``width`` (96 in the paper: 96/256/384/256 channels; a smaller ``width`` scales every layer,
and ``fc`` is the hidden FC width, 1024 in the paper). ``norm="lrn"`` is the paper's local response
normalisation (size 5, alpha 1e-4, beta 0.75, k 2, as AlexNet); ``norm="batch"`` puts BatchNorm in the
same two places instead (folded into the convs at export, so it costs nothing at run time). The article
feeds the scalar distance into a linear layer; here the embedding is this network's output and the
decision comes from the bundle's distance head. The paper's input is 155 x 220; the trainer's default
is square 112 px (``--size``), any size >= 48 px works (the FC layer is sized by a dummy forward).
"""

from __future__ import annotations

import torch
import torch.nn as nn

NORMS = ("lrn", "batch")


def _norm(kind: str, channels: int) -> nn.Module:
    if kind == "lrn":
        return nn.LocalResponseNorm(size=5, alpha=1e-4, beta=0.75, k=2.0)
    return nn.BatchNorm2d(channels)


def _fc_head(features: nn.Module, in_channels: int, input_size: tuple[int, int], fc: int, embedding_dim: int, dropout: float) -> nn.Sequential:
    """FC(fc)-ReLU-dropout-FC(embedding_dim) on the flattened map of ``features`` (sized by a dummy forward in eval
    mode: BatchNorm statistics untouched)."""
    with torch.no_grad():
        flat = features.eval()(torch.zeros(1, in_channels, *input_size)).numel()
    features.train()
    return nn.Sequential(nn.Linear(flat, fc), nn.ReLU(inplace=True), nn.Dropout(dropout), nn.Linear(fc, embedding_dim))


class SigNet(nn.Module):
    """SigNet branch: images ``(B, C, H, W)`` -> embeddings ``(B, embedding_dim)``; see the module docstring."""

    def __init__(
        self,
        in_channels: int = 1,
        embedding_dim: int = 128,
        input_size: tuple[int, int] = (112, 112),
        width: int = 96,
        norm: str = "lrn",
        fc: int | None = None,
    ):
        super().__init__()
        if norm not in NORMS:
            raise ValueError(f"signet norm {norm!r} unknown; expected one of {list(NORMS)}")
        if min(input_size) < 48:
            raise ValueError(f"signet needs inputs of at least 48 px (paper: 155 x 220), got {input_size}; pass --size 112")
        c1, c2, c3 = width, max(1, round(width * 8 / 3)), 4 * width
        fc = fc or max(16, round(width * 32 / 3))  # 1024 at the paper's width 96
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, c1, 11, stride=1, bias=norm != "batch"),
            _norm(norm, c1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(3, 2),
            nn.Conv2d(c1, c2, 5, padding=2, bias=norm != "batch"),
            _norm(norm, c2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(3, 2),
            nn.Dropout(0.3),
            nn.Conv2d(c2, c3, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(c3, c2, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(3, 2),
            nn.Dropout(0.3),
        )
        self.head = _fc_head(self.features, in_channels, input_size, fc, embedding_dim, dropout=0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.flatten(self.features(x), 1))


class SmallSigNet(nn.Module):
    """A compact SigNet for 2 CPU cores (``--arch signet-small``): images ``(B, C, H, W)`` -> ``(B, embedding_dim)``.

        conv5x5/2(w)-BN-ReLU-maxpool2, conv3x3(2w)-BN-ReLU-maxpool2, conv3x3(3w)-BN-ReLU-maxpool2,
        conv3x3(4w)-BN-ReLU-maxpool2, dropout, flatten, FC(fc)-ReLU-dropout, FC(embedding_dim)

    SigNet's shape (a wide input kept in its aspect, a flattened map so the layout of the strokes counts, a
    hidden FC layer) at about 1/40 of its multiply-adds: the first conv strides 2 instead of 11x11 at stride 1,
    and widths start at ``width`` (32: 58 M multiply-adds and 0.9 M weights at 96 x 224). BatchNorm is folded into the convs
    at export. Inputs of at least 32 px a side (the map after the last pool is 1/32 of the input).
    """

    def __init__(
        self,
        in_channels: int = 1,
        embedding_dim: int = 128,
        input_size: tuple[int, int] = (96, 192),
        width: int = 32,
        norm: str = "batch",
        fc: int = 256,
    ):
        super().__init__()
        if norm != "batch":
            raise ValueError(f"signet-small norm {norm!r} unknown; expected ['batch']")
        if min(input_size) < 32:
            raise ValueError(f"signet-small needs inputs of at least 32 px a side, got {input_size}; pass --size 96,192")

        def conv(cin: int, cout: int, k: int, stride: int = 1) -> list[nn.Module]:
            return [nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True), nn.MaxPool2d(2)]

        self.features = nn.Sequential(
            *conv(in_channels, width, 5, stride=2),
            *conv(width, 2 * width, 3),
            *conv(2 * width, 3 * width, 3),
            *conv(3 * width, 4 * width, 3),
            nn.Dropout(0.2),
        )
        self.head = _fc_head(self.features, in_channels, input_size, fc, embedding_dim, dropout=0.3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.flatten(self.features(x), 1))
