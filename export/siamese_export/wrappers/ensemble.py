"""Ensembles baked into the exported encoder: several checkpoints, one graph, one embedding.

``siamese-export a/best.pt b/best.pt c/best.pt`` embeds each image with every member and concatenates the
members' embeddings, scaled by ``1 / sqrt(n)``: ``(B, D_1 + ... + D_n)``. For the euclidean metric the
squared distance between two such embeddings is then the **mean of the members' squared distances**; for
cosine each member's part is first made a unit vector, so the cosine similarity is the **mean of the
members' cosines** (and L2-normalised members give a unit vector in both cases). So the bundle keeps the
ordinary signature, metric and heads; thresholds, the int8 gate, ``verify``, ``search`` and ``oneshot`` all
use the ensemble's embedding, and a device runs one graph at ``n`` times one member's cost. ``--tta`` then
averages the ensemble over shifted views.

Members must be image checkpoints with a metric head, trained with the same metric, normalisation, input
preprocessing and **data split** (same ``--data``, ``--val-fraction`` and ``--split-seed``; vary ``--seed``),
so that the first member's validation classes, which calibrate the thresholds, are unseen by every member.
``--validation DIR`` lifts the split check: the user then vouches that no member trained on DIR's classes.

Measured on Omniglot (docs/results/omniglot.md): two 20-epoch seeds beat one 40-epoch run by 1.0 point of 20-way
within-alphabet accuracy at equal training time, 0.3 with ``--tta shift9``; three members with ``shift9`` read
88.9 / 89.7 % int8 on two held-out splits.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
import torch.nn.functional as F
from siamese_sdk.errors import InputError
from siamese_trainer import checkpoint


class Ensemble(torch.nn.Module):
    """``members`` (each ``(B, C, H, W) -> (B, D_i)``) -> ``(B, sum D_i) float32``; ``unit_parts`` (cosine
    metric) normalises each member's part first."""

    def __init__(self, members: list[torch.nn.Module], unit_parts: bool):
        super().__init__()
        self.members = torch.nn.ModuleList(members)
        self.unit_parts = unit_parts
        self.scale = 1.0 / math.sqrt(len(members))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        parts = [m(x) for m in self.members]
        if self.unit_parts:
            parts = [F.normalize(p, dim=1) for p in parts]
        return torch.cat(parts, dim=1) * self.scale


def check_members(first: dict, first_path: Path, members: list[tuple[dict, Path]], validation_given: bool) -> None:
    """Raise ``InputError`` (one line, with the fix) unless every checkpoint can join one ensemble."""
    for ckpt, path in [(first, first_path), *members]:
        if checkpoint.kind_of(ckpt) != "image" or (ckpt.get("model") or {}).get("metric") == "learned":
            raise InputError(
                f"{path} cannot join an ensemble: members must be one-encoder image checkpoints with a metric head (not pseudo-Siamese, text or --head learned)"
            )
    # .get throughout: a checkpoint lacking a key is refused here in one line, never with a KeyError
    model = first.get("model") or {}
    for ckpt, path in members:
        other = ckpt.get("model") or {}
        if other.get("metric") != model.get("metric"):
            raise InputError(
                f"{path} uses metric {other.get('metric')}, {first_path} {model.get('metric')}; ensemble members need one --metric"
            )
        if bool(other.get("normalize")) != bool(model.get("normalize")):
            raise InputError(
                f"{path} and {first_path} differ in L2 normalisation; ensemble members need the same --normalize setting"
            )
        if ckpt.get("preprocess") != first.get("preprocess"):
            raise InputError(
                f"{path} preprocesses images differently from {first_path}; ensemble members need the same --size and --channels"
            )
        if not validation_given and ckpt.get("data") != first.get("data"):
            raise InputError(
                f"{path} was trained on a different data split than {first_path}, so the thresholds would be calibrated on classes a member "
                "trained on; train members with the same --data, --val-fraction and --split-seed, or pass --validation DIR of classes none of them saw"
            )
