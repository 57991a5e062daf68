"""User backbones: any torch ``nn.Module`` from a factory, ``--arch package.module:factory``.

``package.module:factory`` names a callable importable where training and export run; it is called with
no arguments and must return an ``nn.Module`` that takes ``(B, C, H, W)`` images (C = ``--channels``).
Nothing is ever downloaded: pretrained weights come only from an optional local file (``--weights``),
a ``state_dict`` (or a dict holding one under ``state_dict``/``model``) loaded with
``torch.load(weights_only=True)``, so a file carrying pickled code is refused, never run; its keys must
match the factory's module exactly (before the classifier is removed).

**Classifier removal rule**: the first of the attributes ``fc``, ``classifier``, ``head`` that exists
and is a module is replaced by ``nn.Identity``; if none exists, the last ``nn.Linear`` in registration
order is, provided it is the module's last leaf. The remaining output, flattened to ``(B, F)``, is the
feature; ``F`` is found by a dummy forward at the training input size, and a linear projection maps it
to the embedding dim. The checkpoint records the factory string, so ``siamese-export`` rebuilds the
module by importing it again (and says so in one line when it cannot).

**Normalisation**: a factory may declare the input normalisation its weights expect as attributes ``mean``
and ``std`` (one value per channel, on ``[0, 1]`` pixels), e.g. ImageNet's for a torchvision or timm model
(``resnet18.mean = (0.485, 0.456, 0.406)``); ``--mean``/``--std`` override it. The values go into the
checkpoint's preprocess and so into the bundle manifest, and the SDK feeds the backbone exactly that.

**Channels**: the first layer with an ``in_channels`` attribute (a convolution) must take ``--channels``;
otherwise a one-line error names the fix (``--channels 3`` converts grey images to RGB by repeating the channel).
"""

from __future__ import annotations

import importlib
import pickle
import re
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn as nn
from siamese_sdk.errors import InputError

CLASSIFIER_ATTRS = ("fc", "classifier", "head")


class BackboneError(InputError):
    """A factory that cannot be imported, called or run; the message names the fix."""


def is_factory_spec(arch: str) -> bool:
    """Whether ``arch`` is a ``package.module:factory`` string rather than a built-in name."""
    return ":" in arch


def resolve_factory(spec: str) -> Callable[[], nn.Module]:
    """Import ``package.module:factory``; ``BackboneError`` in one line if it is not importable here."""
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr or not re.fullmatch(r"[\w.]+", module_name) or not re.fullmatch(r"[\w.]+", attr):
        raise BackboneError(f"--arch {spec!r} is not 'package.module:factory'; e.g. --arch mypkg.nets:resnet_tiny")
    try:
        obj = importlib.import_module(module_name)
    except ImportError as e:
        raise BackboneError(
            f"backbone module {module_name!r} is not importable here ({e}); install it or add its folder to PYTHONPATH"
        ) from None
    for part in attr.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            raise BackboneError(f"{module_name!r} has no attribute {attr!r}; check the factory name in --arch {spec}")
    if not callable(obj):
        raise BackboneError(f"{spec} is not callable; --arch needs a function or class returning an nn.Module")
    return obj


def declared_normalization(spec: str) -> tuple[tuple[float, ...], tuple[float, ...]] | None:
    """``(mean, std)`` the factory of ``spec`` declares (its ``mean``/``std`` attributes), or None if it declares none."""
    factory = resolve_factory(spec)
    mean, std = getattr(factory, "mean", None), getattr(factory, "std", None)
    if mean is None and std is None:
        return None
    try:
        mean, std = tuple(float(v) for v in mean), tuple(float(v) for v in std)  # type: ignore[union-attr]
    except TypeError:
        raise BackboneError(f"{spec} declares mean/std {mean!r}/{std!r}; declare both, one number per channel") from None
    if len(mean) != len(std) or len(mean) not in (1, 3):
        raise BackboneError(f"{spec} declares {len(mean)} mean and {len(std)} std values; declare 1 or 3 of each")
    return mean, std


def check_channels(module: nn.Module, in_channels: int) -> None:
    """``BackboneError`` when the first layer of ``module`` with ``in_channels`` takes another channel count."""
    for name, layer in module.named_modules():
        takes = getattr(layer, "in_channels", None)
        if isinstance(takes, int):
            if takes != in_channels:
                how = "grey images are converted to RGB by repeating the channel" if takes == 3 else "RGB images are converted to grey"
                raise BackboneError(
                    f"--channels {in_channels} but the backbone's first layer ({name}: {type(layer).__name__}) takes "
                    f"{takes} channel(s); pass --channels {takes} ({how})"
                )
            return


def load_weights(module: nn.Module, path: str | Path) -> None:
    """Load a local ``state_dict`` file into ``module`` (strict keys), never unpickling code."""
    path = Path(path)
    if not path.is_file():
        raise BackboneError(f"weights file not found: {path}; pass a local state_dict file (nothing is downloaded)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise BackboneError(f"{path} holds objects other than weights; refused, nothing executed. Save model.state_dict()") from None
    except Exception:  # torch raises assorted types for non-checkpoint bytes
        raise BackboneError(f"{path} is not a readable torch weights file; save it with torch.save(model.state_dict(), path)") from None
    if isinstance(state, dict):
        for key in ("state_dict", "model"):
            if isinstance(state.get(key), dict):
                state = state[key]
                break
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise BackboneError(f"{path} is not a state_dict (a dict of tensors); save it with torch.save(model.state_dict(), path)")
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as e:
        first = str(e).strip().splitlines()
        raise BackboneError(
            f"{path} does not fit the factory's module ({' '.join(first[1:2] or first[:1])[:160]}); pass weights of that architecture"
        ) from None


def remove_classifier(module: nn.Module) -> str:
    """Replace the classifier of ``module`` by ``nn.Identity`` (rule in the module docstring); returns what was removed."""
    for name in CLASSIFIER_ATTRS:
        if isinstance(getattr(module, name, None), nn.Module):
            setattr(module, name, nn.Identity())
            return name
    leaves = [(n, m) for n, m in module.named_modules() if not list(m.children())]
    if leaves and isinstance(leaves[-1][1], nn.Linear):
        path = leaves[-1][0]
        parent = module.get_submodule(path.rpartition(".")[0]) if "." in path else module
        setattr(parent, path.rpartition(".")[2], nn.Identity())
        return path
    return ""


class UserBackbone(nn.Module):
    """A factory's module without its classifier, then ``Linear(F, embedding_dim)``: ``(B, C, H, W) -> (B, D)``."""

    def __init__(
        self,
        in_channels: int = 3,
        embedding_dim: int = 128,
        input_size: tuple[int, int] = (64, 64),
        factory: str = "",
        weights: str | None = None,
    ):
        super().__init__()
        made = resolve_factory(factory)()
        if not isinstance(made, nn.Module):
            raise BackboneError(f"{factory} returned {type(made).__name__}, not a torch nn.Module")
        if weights:
            load_weights(made, weights)
        self.removed = remove_classifier(made)
        self.body = made
        check_channels(made, in_channels)
        try:
            with torch.no_grad():
                was = made.training
                feat = made.eval()(torch.zeros(2, in_channels, *input_size))
                made.train(was)
        except Exception as e:  # the user's module decides what it accepts
            raise BackboneError(
                f"{factory} failed on a ({in_channels}, {input_size[0]}, {input_size[1]}) input ({type(e).__name__}: {str(e)[:120]}); "
                "match --channels/--size to the backbone"
            ) from None
        if not isinstance(feat, torch.Tensor) or feat.ndim < 2:
            raise BackboneError(f"{factory} must return a (B, F...) tensor after classifier removal, got {type(feat).__name__}")
        self.proj = nn.Linear(int(feat[0].numel()), embedding_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(torch.flatten(self.body(x), 1))
