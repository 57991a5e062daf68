"""The export of text and dialog encoders: BiLSTM -> ONNX with per-row lengths -> dynamic int8 -> gated bundle.

Steps and gates are those of the image export (``exporter``), with what differs for token inputs:

1. The padded path of the encoder is traced (``exact_lengths = False``) and ``lengths`` is wired into the
   ONNX ``LSTM`` node's ``sequence_lens``: the forward direction stops and the backward one starts at each
   row's own last token, which is what the packed torch model computes. **Parity gate**: ONNX Runtime fp32
   vs the packed torch model, min cosine >= ``PARITY_MIN_COSINE``, on the validation items in batches of
   mixed lengths plus random sequences of every length from 1 to ``max_length``.
2. ``int8``: dynamic quantisation (``dynamic_quantize``), built for the ``cpu`` profile (the only profile
   text bundles have so far).
3. Every variant is measured through ``siamese_sdk.load`` on the validation pairs: all pairs of the held-out
   classes (labelled CSV), the held-out pairs (pairs CSV), or anchor-positive / anchor-negative of the
   held-out triplets (triplets CSV); ``--validation CSV`` uses every row of another file of the same kind.
4. Gates: AUC drop <= ``MAX_AUC_DROP``; int8 is shipped only if not slower than fp32 at batch 64 here.
5. ``tokenizer.json`` ships in the bundle (hashed like every file); the manifest's ``input`` is a
   ``siamese_sdk.inputs.TextInput``; ``format_version`` 2.
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import onnxscript.optimizer
import torch
from onnx import TensorProto, helper
from siamese_sdk import load as sdk_load
from siamese_sdk import metrics
from siamese_sdk.atomic import atomic_directory, write_text_atomic
from siamese_sdk.bundle import Manifest, Variant
from siamese_sdk.errors import BundleError, InputError
from siamese_sdk.inputs import LENGTHS, TOKENIZER_FILE, TOKENS, TextInput
from siamese_sdk.tokenizer import Tokenizer, pad_batch
from siamese_trainer.checkpoint import build_encoder
from siamese_trainer.table_train import checkpoint_validation, encode_items
from siamese_trainer.text_encoders import TextEncoder

from . import exporter as ex
from .dynamic_quantize import quantize_dynamic_encoder
from .onnx_graphs import build_head, bundle_metadata, export_module, set_metadata

HEADS = {"pairwise": "head.pairwise.onnx", "matrix": "head.matrix.onnx"}
#: largest tensor (elements) constant-folded after export: the LSTM weights of any practical width
FOLD_LIMIT = 1 << 26


def export_text_encoder(encoder: TextEncoder, path: Path) -> None:
    """Export ``encoder`` to ``path``: ``tokens (B, T) int64, lengths (B,) int64 -> embeddings (B, D)``, B and T dynamic."""
    padded = copy.deepcopy(encoder).eval()
    padded.exact_lengths = False
    # torch 2.13: torch.onnx swaps in a while_loop LSTM decomposition for dynamic shapes only while it exports,
    # but aten.lstm's dispatch cache can keep the previous export's kernel, which fixes the sequence length
    torch.ops.aten.lstm.input._dispatch_cache.clear()
    example = (torch.tensor([[5, 6, 7, 8, 9], [5, 6, 7, 0, 0]]), torch.tensor([5, 3]))
    batch, seq = torch.export.Dim("batch", min=1), torch.export.Dim("seq", min=1)
    model = export_module(padded, example, [TOKENS, LENGTHS], {"tokens": {0: batch, 1: seq}, "lengths": {0: batch}})
    # fold the gate reordering of the LSTM weights (Slice/Concat of torch's i,f,g,o into ONNX's i,o,f,c): the
    # exporter's optimiser skips tensors over 8k elements, and the int8 quantiser needs W and R as initializers
    model = onnxscript.optimizer.optimize(model, input_size_limit=FOLD_LIMIT, output_size_limit=FOLD_LIMIT)
    wire_lengths(model)
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, str(path))


def wire_lengths(model: onnx.ModelProto) -> None:
    """Feed the ``lengths`` input (as int32) to every LSTM node's ``sequence_lens`` (input 4), in place."""
    if LENGTHS not in {i.name for i in model.graph.input}:  # unused by the padded trace: add it back
        batch = next(i for i in model.graph.input if i.name == TOKENS).type.tensor_type.shape.dim[0].dim_param or "batch"
        model.graph.input.append(helper.make_tensor_value_info(LENGTHS, TensorProto.INT64, [batch]))
    lstms = [n for n in model.graph.node if n.op_type == "LSTM"]
    if not lstms:
        raise BundleError("the exported text encoder has no ONNX LSTM node to give the lengths to; report this with your torch version")
    model.graph.node.insert(0, helper.make_node("Cast", [LENGTHS], ["lengths_int32"], to=TensorProto.INT32, name="lengths_to_int32"))
    for node in lstms:
        while len(node.input) < 5:
            node.input.append("")
        node.input[4] = "lengths_int32"


def parity_sequences(val_seqs: list[list[int]], tokenizer: Tokenizer, seed: int = 0) -> list[list[int]]:
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
        worst = min(worst, float(ex._cosine(ref, got).min()))
    return worst


def export_text_bundle(ckpt: dict, ckpt_path: Path, out: Path, opts: ex.ExportOptions) -> Path:
    """``siamese-export`` for a text/dialog checkpoint (see the module doc); raises ``BundleError``/``InputError``."""
    log = opts.log
    profiles = ex._check_profiles(opts.profiles)
    if profiles != ("cpu",):
        raise InputError(
            f"profile(s) {[p for p in profiles if p != 'cpu']} are for image bundles so far; text/dialog bundles have the cpu profile (fp32 + dynamic int8)"
        )
    try:
        mcfg = ckpt["model"]
        kind = str(mcfg["kind"])
        tokenizer = Tokenizer.from_dict(ckpt["tokenizer"])
        encoder = build_encoder(mcfg, ckpt["state_dict"])
    except (KeyError, TypeError, RuntimeError, ValueError) as e:
        if isinstance(e, (BundleError, InputError)):
            raise
        raise BundleError(
            f"{ckpt_path} lacks or mismatches what export needs ({type(e).__name__}: {str(e)[:120]}); re-train with this version"
        ) from None
    encoder.eval()
    metric, dim = str(mcfg["metric"]), int(mcfg["embedding_dim"])
    table, split, items, vi, vj, vsame, where = checkpoint_validation(ckpt, opts.validation, opts.seed)
    source = table.path
    val_seqs = encode_items(tokenizer, kind, items)
    log(f"validation: {where} from {source}")

    with atomic_directory(out) as tmp:
        log("[1/5] exporting the encoder to ONNX (fp32), lengths wired into the LSTM, and checking parity with torch")
        fp32_file = "encoder.fp32.onnx"
        export_text_encoder(encoder, tmp / fp32_file)
        pseqs = parity_sequences(val_seqs, tokenizer, opts.seed)
        parity = text_parity(encoder, tmp / fp32_file, pseqs)
        if parity < ex.PARITY_MIN_COSINE:
            raise BundleError(
                f"ONNX fp32 embeddings differ from torch (min cosine {parity:.6f} < {ex.PARITY_MIN_COSINE}); report this with your checkpoint"
            )
        log(f"      parity: min cosine similarity ONNX vs torch = {parity:.7f} over lengths 1..{max(map(len, pseqs))}")
        for head, file in HEADS.items():
            onnx.save(build_head(metric, head, dim), str(tmp / file))
        write_text_atomic(tmp / TOKENIZER_FILE, tokenizer.to_json())
        spec = TextInput(text_kind=kind)
        variants = {"fp32": Variant(file=fp32_file)}
        notes: list[str] = []
        log("[2/5] building the variants of profile cpu: fp32, int8 (dynamic)")
        if opts.int8:
            try:
                variants["int8"] = Variant(file="encoder.int8.onnx", quantization=quantize_dynamic_encoder(tmp / fp32_file, tmp / "encoder.int8.onnx"))
            except Exception as e:  # the quantiser raises untyped errors on graphs it cannot handle
                (tmp / "encoder.int8.onnx").unlink(missing_ok=True)
                notes.append(f"int8 not shipped: quantisation failed ({type(e).__name__}: {str(e)[:120]})")
                log(f"      {notes[-1]}")
        else:
            notes.append("int8 not built (--no-int8)")

        log("[3/5] measuring each variant through the SDK (CPU provider) on the validation pairs")
        results, embeddings = {}, {}
        for name in list(variants):
            ex._write_manifest(tmp, _manifest(spec, variants, metric, dim, mcfg, "fp32", {}, {}, []))
            model = sdk_load(tmp, variant=name)
            emb = embeddings[name] = model.embed(items, batch_size=128)
            scores = model.distance(emb[vi], emb[vj])
            m, t = metrics.summarize(scores, vsame, model.manifest.higher_is_closer)
            if name != "fp32":
                cos = ex._cosine(embeddings["fp32"], emb)
                m.update(cosine_vs_fp32_min=float(cos.min()), cosine_vs_fp32_mean=float(cos.mean()))
            results[name] = m
            variants[name] = Variant(file=variants[name].file, quantization=variants[name].quantization, thresholds=t, metrics=m)
            vs32 = f"  cosine vs fp32 min {m['cosine_vs_fp32_min']:.6f}" if name != "fp32" else ""
            log(f"      {name}: AUC {m['auc']:.4f}  EER {m['eer']:.4f}  TAR@FAR1e-3 {m['tar_at_far_1e-3']:.4f}{vs32}")

        log(f"[4/5] gating: AUC drop <= {ex.MAX_AUC_DROP}; int8 also not slower than fp32 on this CPU")
        int8_on_cpu = False
        if "int8" in variants:
            drop = results["fp32"]["auc"] - results["int8"]["auc"]
            feed = dict(zip((TOKENS, LENGTHS), pad_batch([val_seqs[i % len(val_seqs)] for i in range(64)]), strict=True))
            speedup = ex._speedup(tmp, variants, feed)
            variants["int8"].metrics["speedup_vs_fp32_b64"] = speedup
            variants["fp32"].metrics["speedup_vs_fp32_b64"] = 1.0
            if drop > ex.MAX_AUC_DROP:
                notes.append(f"int8 not shipped: validation AUC drop {drop:.4f} > {ex.MAX_AUC_DROP}")
            elif speedup < ex.INT8_MIN_SPEEDUP:
                notes.append(f"int8 not shipped: {speedup:.2f}x the speed of fp32 at batch 64 on this CPU (slower)")
            else:
                int8_on_cpu = True
                log(f"      int8 ships: AUC drop {drop:+.4f}, {speedup:.2f}x fp32 speed at batch 64")
            if not int8_on_cpu:
                log(f"      {notes[-1]}; shipping fp32 only")
                (tmp / variants.pop("int8").file).unlink()
        chosen = ex._profiles(profiles, variants, int8_on_cpu)

        log("[5/5] writing manifest and metadata")
        validation = {
            "split": where,
            "layout": table.layout,
            "items": len(items),
            "pairs": int(vsame.size),
            "source": str(source),
            "parity_min_cosine": parity,
            "parity_lengths": [1, max(map(len, pseqs))],
        }
        if table.layout == "labelled":
            validation["classes"] = len(split.val_classes)
        for v in variants.values():
            set_metadata(tmp / v.file, bundle_metadata(dim, metric, bool(mcfg["normalize"]), v.thresholds, input_kind=kind))
        default = chosen["cpu"].variant
        ex._write_manifest(
            tmp, _manifest(spec, variants, metric, dim, mcfg, default, validation, ex._provenance(ckpt, ckpt_path), notes, chosen)
        )
    log(f"bundle written: {out}")
    return out


def _manifest(spec, variants, metric, dim, mcfg, default, validation, provenance, notes, profiles=None) -> Manifest:  # noqa: ANN001
    files = [v.file for v in variants.values()] + list(HEADS.values()) + list(spec.files())
    return Manifest(
        embedding_dim=dim,
        metric=metric,
        normalized=bool(mcfg["normalize"]),
        input_name=TOKENS,
        preprocess=None,
        variants=dict(variants),
        heads=dict(HEADS),
        files={f: "" for f in files},
        default_variant=default,
        validation=validation,
        provenance=provenance,
        notes=tuple(notes),
        profiles=dict(profiles or {}),
        input_spec=spec,
    )
