"""Property-based fuzzing: random bytes and arrays find nothing but the package's own exceptions."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import siamese_sdk
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from siamese_sdk import SiameseError
from siamese_sdk.format.manifest import Manifest, sha256_file
from siamese_sdk.format.pixels import to_array

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)


@pytest.fixture(scope="module")
def model(bundle):
    return siamese_sdk.load(bundle, variant="fp32")


@FUZZ
@given(data=st.binary(max_size=2048))
def test_random_bytes_as_image(tmp_path_factory, model, data):
    path = tmp_path_factory.mktemp("img") / "x.png"
    path.write_bytes(data)
    try:
        x = to_array(path, model.manifest.preprocess)
    except SiameseError:
        return
    assert x.shape == model.manifest.preprocess.shape and np.isfinite(x).all()


@FUZZ
@given(data=st.one_of(st.binary(max_size=512), JSON.map(lambda v: json.dumps(v).encode())))
def test_random_manifest(tmp_path_factory, bundle, data):
    root = tmp_path_factory.mktemp("b")
    shutil.copytree(bundle, root, dirs_exist_ok=True)
    (root / "manifest.json").write_bytes(data)
    with pytest.raises(SiameseError):
        siamese_sdk.load(root)


@FUZZ
@given(
    edit=st.dictionaries(
        st.sampled_from(
            [
                "embedding_dim",
                "metric",
                "normalized",
                "input",
                "variants",
                "heads",
                "files",
                "default_variant",
                "format_version",
                "notes",
            ]
        ),
        JSON,
        min_size=1,
        max_size=3,
    )
)
def test_mutated_manifest_fields(tmp_path_factory, bundle, edit):
    root = tmp_path_factory.mktemp("b")
    shutil.copytree(bundle, root, dirs_exist_ok=True)
    d = json.loads((root / "manifest.json").read_text())
    d.update(edit)
    (root / "manifest.json").write_text(json.dumps(d))
    try:
        siamese_sdk.load(root)
    except SiameseError:
        pass


@FUZZ
@given(data=st.binary(min_size=0, max_size=4096))
def test_random_bytes_as_onnx_with_valid_hash(tmp_path_factory, bundle, data):
    root = tmp_path_factory.mktemp("b")
    shutil.copytree(bundle, root, dirs_exist_ok=True)
    (root / "encoder.fp32.onnx").write_bytes(data)
    d = json.loads((root / "manifest.json").read_text())
    d["files"]["encoder.fp32.onnx"] = sha256_file(root / "encoder.fp32.onnx")
    (root / "manifest.json").write_text(json.dumps(d))
    with pytest.raises(SiameseError):
        siamese_sdk.load(root, variant="fp32")


ARRAYS = hnp.arrays(
    dtype=st.sampled_from([np.float32, np.float64, np.float16, np.int32, np.uint8, np.bool_]),
    shape=hnp.array_shapes(min_dims=0, max_dims=5, min_side=0, max_side=4),
    elements=None,
)


@FUZZ
@given(x=ARRAYS)
def test_random_arrays_to_embed(model, x):
    try:
        e = model.embed(x)
    except SiameseError:
        return
    assert e.shape == (x.shape[0], model.embedding_dim) and e.dtype == np.float32


@FUZZ
@given(a=ARRAYS, b=ARRAYS)
def test_random_arrays_to_distance_and_verify(model, a, b):
    for call in (model.distance, model.distance_matrix, model.verify):
        try:
            call(a, b)
        except SiameseError:
            pass


@FUZZ
@given(data=JSON)
def test_manifest_from_dict_never_crashes(data):
    try:
        Manifest.from_dict(data)
    except SiameseError:
        pass
