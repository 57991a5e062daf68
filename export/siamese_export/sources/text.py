"""Text and dialog checkpoints (BiLSTM over tokens): lengths wired into the ONNX LSTM, dynamic int8.

Parity: ONNX Runtime fp32 vs the packed torch model on the validation items in batches of mixed lengths
plus random sequences of every length from 1 to ``max_length``. Validation pairs: all pairs of the
held-out classes (labelled CSV), the held-out pairs (pairs CSV), or anchor-positive / anchor-negative of
the held-out triplets (triplets CSV); ``--validation CSV`` uses every row of another file of the same kind.
``tokenizer.json`` ships in the bundle; the manifest's ``input`` is a ``TextInput`` (``format_version`` 2).
Only the ``cpu`` profile (fp32 + dynamic int8) exists for these bundles so far.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import torch
from siamese_sdk.atomic import write_text_atomic
from siamese_sdk.errors import InputError
from siamese_sdk.format.inputs import LENGTHS, TOKENIZER_FILE, TOKENS, TextInput
from siamese_sdk.tokenizer import TokenIds, pad_batch, tokenizer_from_dict
from siamese_trainer import checkpoint
from siamese_trainer.data.table_items import encode_items
from siamese_trainer.data.validation import checkpoint_validation
from siamese_trainer.models.text_encoders import TextEncoder

from ..manifest_out import provenance
from ..onnx.text_graph import export_text_encoder
from ..options import ExportOptions
from .base import Part, Source, cosine, rebuild_errors


def parity_sequences(val_seqs: list[list[int]], tokenizer: TokenIds, seed: int = 0) -> list[list[int]]:
    """The parity set: validation items (up to 256) plus one random sequence of every length 1..max_length."""
    rng = np.random.default_rng(seed)
    extra = [rng.integers(3, tokenizer.vocab_size(), size=n).tolist() for n in range(1, tokenizer.max_length + 1)]
    return val_seqs[:256] + extra


@torch.no_grad()
def text_parity(encoder: TextEncoder, onnx_path: Path, seqs: list[list[int]], batch: int = 64) -> float:
    """Min cosine of ONNX Runtime fp32 vs the packed torch encoder, batches of mixed lengths (shuffled)."""
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    order = np.random.default_rng(1).permutation(len(seqs))
    worst = 1.0
    for i in range(0, len(order), batch):
        tokens, lengths = pad_batch([seqs[r] for r in order[i : i + batch]])
        ref = encoder(torch.from_numpy(tokens), torch.from_numpy(lengths)).numpy()
        got = sess.run(None, {TOKENS: tokens, LENGTHS: lengths})[0]
        worst = min(worst, float(cosine(ref, got).min()))
    return worst


def _no_calibration() -> np.ndarray:
    raise AssertionError("dynamic int8 needs no calibration images")


class TextSource(Source):
    """A text or dialog checkpoint trained on a CSV."""

    export_log = "exporting the encoder to ONNX (fp32), lengths wired into the LSTM, and checking parity with torch"
    pairs_log = "the validation pairs"
    variant_rows = {"int8": "int8-dynamic"}

    def __init__(
        self, ckpt: dict, ckpt_path: Path, opts: ExportOptions, profiles: tuple[str, ...], members: list[tuple[dict, Path]]
    ) -> None:
        if profiles != ("cpu",):
            raise InputError(
                f"profile(s) {[p for p in profiles if p != 'cpu']} are for image bundles so far; text/dialog bundles have the cpu profile (fp32 + dynamic int8)"
            )
        self.ckpt, self.ckpt_path = ckpt, ckpt_path
        with rebuild_errors(ckpt_path):
            mcfg = ckpt["model"]
            self.kind = str(mcfg["kind"])
            self.tokenizer = tokenizer_from_dict(ckpt["tokenizer"])
            encoder = checkpoint.build_encoder(mcfg, ckpt["state_dict"]).eval()
        self.metric, self.dim, self.normalized = str(mcfg["metric"]), int(mcfg["embedding_dim"]), bool(mcfg["normalize"])
        self.table, self.split, items, self.vi, self.vj, self.same, self.where = checkpoint_validation(
            ckpt, opts.validation, opts.seed
        )
        seqs = encode_items(self.tokenizer, self.kind, items)
        opts.log(f"validation: {self.where} from {self.table.path}")
        self.csv_layout = self.table.layout
        self.items = items
        if self.table.layout == "labelled":  # all pairs of the held-out classes: an item's class is its first genuine partner
            g = np.eye(len(items), dtype=bool)
            g[self.vi[self.same], self.vj[self.same]] = True
            first = (g | g.T).argmax(axis=1)
            self.pair_classes = (first[self.vi], first[self.vj])
        self.pseqs = parity_sequences(seqs, self.tokenizer, opts.seed)
        self.spec = TextInput(text_kind=self.kind)
        self.encoders = {
            None: Part(
                export=lambda path: export_text_encoder(encoder, path),
                parity=lambda path: (text_parity(encoder, path, self.pseqs), f" over lengths 1..{max(map(len, self.pseqs))}"),
                inputs=items,
                feed=dict(zip((TOKENS, LENGTHS), pad_batch([seqs[i % len(seqs)] for i in range(64)]), strict=True)),
                calibration=_no_calibration,
                metadata={"input_kind": self.kind},
            )
        }

    def scores(self, model: Any, embeddings: dict[str | None, np.ndarray]) -> np.ndarray:
        e = embeddings[None]
        return model.distance(e[self.vi], e[self.vj])

    def write_heads(self, root: Path) -> None:
        super().write_heads(root)
        write_text_atomic(root / TOKENIZER_FILE, self.tokenizer.to_json())

    def extra_files(self) -> list[str]:
        return list(self.spec.files())

    def manifest_input(self) -> dict[str, Any]:
        return {"input_name": TOKENS, "preprocess": None, "input_spec": self.spec}

    def validation(self, parity: dict[str | None, float]) -> dict:
        out = {
            "split": self.where,
            "layout": self.table.layout,
            "items": len(self.items),
            "pairs": int(self.same.size),
            "source": str(self.table.path),
            "parity_min_cosine": parity[None],
            "parity_lengths": [1, max(map(len, self.pseqs))],
        }
        if self.table.layout == "labelled":
            out["classes"] = len(self.split.val_classes)
        return out

    def provenance(self) -> dict:
        return provenance(self.ckpt, self.ckpt_path)
