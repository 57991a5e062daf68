"""The text/dialog encoder as ONNX: the padded BiLSTM traced, with per-row lengths wired into the ``LSTM`` node.

The padded path of the encoder is traced (``exact_lengths = False``) and ``lengths`` is wired into the ONNX
``LSTM`` node's ``sequence_lens``: the forward direction stops and the backward one starts at each row's own
last token, which is what the packed torch model computes.
"""

from __future__ import annotations

import copy
from pathlib import Path

import onnx
import onnxscript.optimizer
import torch
from onnx import TensorProto, helper
from siamese_sdk.errors import BundleError
from siamese_sdk.format.inputs import LENGTHS, TOKENS
from siamese_trainer.models.text_encoders import TextEncoder

from .graphs import export_module

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
        raise BundleError(
            "the exported text encoder has no ONNX LSTM node to give the lengths to; report this with your torch version"
        )
    model.graph.node.insert(
        0, helper.make_node("Cast", [LENGTHS], ["lengths_int32"], to=TensorProto.INT32, name="lengths_to_int32")
    )
    for node in lstms:
        while len(node.input) < 5:
            node.input.append("")
        node.input[4] = "lengths_int32"
