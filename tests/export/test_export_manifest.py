"""The manifest every model kind's export writes has the keys bundles have always had (values vary with training).

The key sets are those of bundles exported before the export was one pipeline; a key added, lost or
renamed in any section fails here.
"""

from __future__ import annotations

import json

import pytest

pytest.importorskip("torch")
pytest.importorskip("onnx")

TOP = ["format", "format_version", "embedding_dim", "metric", "score", "normalized", "input", "default_variant",
       "default_operating_point", "variants", "heads", "files", "validation", "provenance", "notes", "profiles"]  # fmt: skip
PROVENANCE = ["created_utc", "siamese_sdk", "torch", "onnx", "onnxruntime", "opset", "arch", "loss", "epochs",
              "checkpoint_sha256", "train_data", "train_final"]  # fmt: skip
METRICS = ["auc", "eer", "tar_at_far_1e-2", "tar_at_far_1e-3", "accuracy_at_eer", "accepted_at_eer", "accuracy_at_max_accuracy",
           "accepted_at_max_accuracy", "pairs_genuine", "pairs_impostor"]  # fmt: skip
SPEED = "speedup_vs_fp32_b64"
EXPECTED = {
    "image": {
        "top": TOP,
        "validation": ["classes", "images", "pairs", "source", "parity_min_cosine"],
        "provenance": [*PROVENANCE, "tta"],
    },
    "text": {
        "top": TOP,
        "validation": ["split", "layout", "items", "pairs", "source", "parity_min_cosine", "parity_lengths", "classes"],
        "provenance": PROVENANCE,
    },
    "pseudo": {
        "top": [k if k != "input" else "branches" for k in TOP],
        "validation": ["classes", "images", "pairs", "pairs_kind", "source", "parity_min_cosine", "parity_min_cosine_per_branch"],
        "provenance": [*PROVENANCE, "arch_b"],
    },
}


@pytest.fixture(params=list(EXPECTED))
def exported(request):
    name = {"image": "bundle", "text": "text_bundle", "pseudo": "pseudo_run"}[request.param]
    value = request.getfixturevalue(name)
    bundle = value[1] if isinstance(value, tuple) else value
    return request.param, json.loads((bundle / "manifest.json").read_text())


def test_manifest_keys_per_kind(exported):
    kind, d = exported
    want = EXPECTED[kind]
    assert list(d) == want["top"]
    assert list(d["validation"]) == want["validation"]
    assert list(d["provenance"]) == want["provenance"]
    assert list(d["heads"]) == ["pairwise", "matrix"] and d["heads"]["pairwise"] == "head.pairwise.onnx"
    assert list(d["profiles"]) == ["cpu"] and d["default_variant"] == d["profiles"]["cpu"]["variant"]
    fp32 = d["variants"]["fp32"]
    assert list(fp32) == ["file", "quantization", "thresholds", "metrics", "threshold_support"]
    assert list(fp32["threshold_support"]) == ["eer", "far_1e-2", "far_1e-3", "max_accuracy"]
    assert list(fp32["threshold_support"]["eer"]) == [
        "identities", "genuine_pairs", "impostor_pairs", "interval", "far_interval", "frr_interval", "supported", "reason"
    ]  # fmt: skip
    assert list(fp32["thresholds"]) == ["eer", "far_1e-2", "far_1e-3", "max_accuracy"]
    assert list(fp32["metrics"]) in (METRICS, [*METRICS, SPEED])
    if "int8" in d["variants"]:
        int8 = d["variants"]["int8"]["metrics"]
        assert list(int8)[: len(METRICS) + 1] == [*METRICS, "cosine_vs_fp32_min"] and int8[SPEED] > 0
        assert list(fp32["metrics"])[-1] == SPEED
    else:
        assert any(n.startswith("int8 not") for n in d["notes"]), d["notes"]
    encoders = [b["variants"] for b in d["branches"].values()] if kind == "pseudo" else [d["variants"]]
    files = [v["file"] for variants in encoders for v in variants.values()]
    assert list(d["files"]) == [*files, "head.pairwise.onnx", "head.matrix.onnx", *(["tokenizer.json"] if kind == "text" else [])]
    if kind == "pseudo":
        assert all(v["file"] == "" for v in d["variants"].values())
        if "int8" in d["variants"]:
            for b in d["branches"].values():
                assert list(b["variants"]["int8"]["metrics"]) == ["cosine_vs_fp32_min", "cosine_vs_fp32_mean", SPEED]
