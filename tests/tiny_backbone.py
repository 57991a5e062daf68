"""A tiny ResNet-like factory for the user-backbone tests (``--arch tiny_backbone:tiny_resnet``); torchvision is not used."""

from __future__ import annotations

import torch
import torch.nn as nn


class _Block(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.conv1 = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c)
        self.conv2 = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x + self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x))))))


class TinyResNet(nn.Module):
    """stem conv-BN-ReLU-pool, two residual blocks, global average pool, ``fc`` classifier (as torchvision's ResNet)."""

    def __init__(self, in_channels: int = 1, width: int = 8, classes: int = 10):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(in_channels, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU(), nn.MaxPool2d(2))
        self.layer1 = nn.Sequential(_Block(width), _Block(width))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(width, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.pool(self.layer1(self.stem(x))), 1))


def tiny_resnet() -> nn.Module:
    return TinyResNet()


def plain_mlp() -> nn.Module:
    """No fc/classifier/head attribute: the last Linear is the classifier."""
    return nn.Sequential(nn.Flatten(), nn.Linear(32 * 32, 24), nn.ReLU(), nn.Linear(24, 5))


#: ImageNet's normalisation, as torchvision's and timm's pretrained weights expect it
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def tiny_resnet_rgb() -> nn.Module:
    """An RGB TinyResNet whose factory declares the normalisation its weights expect."""
    return TinyResNet(in_channels=3)


tiny_resnet_rgb.mean, tiny_resnet_rgb.std = IMAGENET_MEAN, IMAGENET_STD
