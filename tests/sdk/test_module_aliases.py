"""The old module paths of the format and runtime layers keep working: each re-exports the object that now lives
in ``siamese_sdk.format`` / ``siamese_sdk.runtime`` (the same object, not a copy), under every name other code imports."""

from __future__ import annotations

import importlib

import pytest
import siamese_sdk
from siamese_sdk import format as fmt
from siamese_sdk import runtime
from siamese_sdk.format import inputs, manifest, pixels
from siamese_sdk.runtime import heads
from siamese_sdk.runtime import model as runtime_model

#: old module -> {name: where it lives now}
MOVED = {
    "siamese_sdk.bundle": {n: manifest for n in (
        "FORMAT", "FORMAT_VERSION", "HEADS", "MANIFEST", "METRICS", "OPERATING_POINTS", "VARIANTS", "Manifest", "Preprocess",
        "Profile", "Variant", "parse_variant", "read_manifest", "sha256_file", "verify_files",
    )},
    "siamese_sdk.inputs": {n: inputs for n in (
        "INPUT_KINDS", "LENGTHS", "TOKENIZER_FILE", "TOKENS", "ImageInput", "InputSpec", "Preprocess", "TextInput", "input_from_dict",
    )},
    "siamese_sdk.branches": {"BRANCHES": manifest, "Branch": manifest},
    "siamese_sdk.model": {"SiameseModel": runtime_model, "Verification": runtime_model, "load": runtime_model,
                          "check_embeddings": heads},
    "siamese_sdk.preprocess": {"Preprocess": inputs, "to_array": pixels, "to_batch": pixels, "open_image": pixels},
}  # fmt: skip


@pytest.mark.parametrize("old", sorted(MOVED))
def test_old_paths_re_export_the_moved_objects(old):
    mod = importlib.import_module(old)
    for name, new in MOVED[old].items():
        assert getattr(mod, name) is getattr(new, name), f"{old}.{name}"


def test_bundle_is_the_manifest_module_itself():
    import siamese_sdk.bundle

    assert siamese_sdk.bundle is manifest  # so patching siamese_sdk.bundle.FORMAT_VERSION acts on the reader


def test_package_names_stay():
    assert siamese_sdk.Manifest is manifest.Manifest and siamese_sdk.read_manifest is manifest.read_manifest
    assert siamese_sdk.SiameseModel is runtime.SiameseModel is runtime_model.SiameseModel and siamese_sdk.load is runtime.load
    assert fmt.write_manifest is manifest.write_manifest and fmt.Preprocess is inputs.Preprocess
    assert dict(manifest.HEADS) == {"pairwise": "head.pairwise.onnx", "matrix": "head.matrix.onnx"}
    from siamese_sdk.preprocess import IMAGE_SUFFIXES, find_images  # the image walker stays where it was

    assert ".png" in IMAGE_SUFFIXES and callable(find_images)
