"""The SDK surface on a real exported bundle: embed, distance, distance_matrix, verify, variants."""

from __future__ import annotations

import numpy as np
import pytest
import siamese_sdk
from siamese_sdk.format.manifest import read_manifest


@pytest.fixture(scope="module")
def model(bundle):
    return siamese_sdk.load(bundle, variant="fp32")


def test_embed_paths_equals_embed_arrays(model, images):
    e_paths = model.embed(images[:5])
    e_arrays = model.embed(model.preprocess(images[:5]))
    assert e_paths.shape == (5, model.embedding_dim) and e_paths.dtype == np.float32
    np.testing.assert_array_equal(e_paths, e_arrays)


def test_embed_batches_do_not_change_results(model, images):
    x = model.preprocess(images[:10])
    np.testing.assert_allclose(model.embed(x, batch_size=3), model.embed(x, batch_size=64), atol=1e-5)


def test_single_path_and_float64_are_accepted(model, images):
    assert model.embed(images[0]).shape == (1, model.embedding_dim)
    x = model.preprocess(images[:2])
    np.testing.assert_allclose(model.embed(x.astype(np.float64)), model.embed(x), atol=1e-6)


def test_distance_heads_match_numpy(model, images):
    e = model.embed(images[:6])
    a, b = e[:3], e[3:]
    np.testing.assert_allclose(model.distance(a, b), np.linalg.norm(a - b, axis=1), rtol=1e-4, atol=1e-4)
    full = np.linalg.norm(e[:, None, :] - e[None, :, :], axis=2)
    np.testing.assert_allclose(model.distance_matrix(e, e), full, atol=2e-3)
    assert model.distance_matrix(a, e).shape == (3, 6)


def test_verify_uses_calibrated_thresholds(model, images):
    m = read_manifest(model.path)
    th = m.variants["fp32"].thresholds
    r = model.verify(images[:4], images[4:8])
    assert r.operating_point == m.default_operating_point and r.threshold == th[m.default_operating_point]
    np.testing.assert_array_equal(r.same, r.scores <= r.threshold)
    for op in ("eer", "far_1e-2", "far_1e-3"):
        assert model.verify(images[:2], images[2:4], operating_point=op).threshold == th[op]
    custom = model.verify(images[:2], images[2:4], threshold=0.0)
    assert custom.operating_point is None and not custom.same.any()


def test_identical_images_match(model, images):
    r = model.verify(images[:3], images[:3])
    assert r.same.all() and np.all(r.scores < 1e-3)


def test_variant_selection(bundle):
    m = read_manifest(bundle)
    auto = siamese_sdk.load(bundle)
    assert auto.variant == ("int8" if "int8" in m.variants else "fp32")
    assert siamese_sdk.load(bundle, variant="fp32").variant == "fp32"
    assert auto.providers == ["CPUExecutionProvider"]
    assert len(auto.fingerprint) == 16


def test_threads_setting(bundle, images):
    one = siamese_sdk.load(bundle, variant="fp32", threads=1)
    two = siamese_sdk.load(bundle, variant="fp32", threads=2)
    np.testing.assert_allclose(one.embed(images[:4]), two.embed(images[:4]), atol=1e-5)


def test_thread_safety_matches_serial(bundle, images):
    """8 threads share one model, 1,000 mixed embed/verify calls each: exactly the serial results."""
    from concurrent.futures import ThreadPoolExecutor

    model = siamese_sdk.load(bundle, threads=1)
    x = model.preprocess(images[:16])
    calls = [(i % 2, i % 13) for i in range(8 * 1000)]  # 1,000 mixed calls per thread

    def run(call):
        kind, i = call
        if kind == 0:
            return model.embed(x[i : i + 3])
        return model.verify(x[i : i + 2], x[i + 1 : i + 3]).scores

    serial = [run(c) for c in calls]
    with ThreadPoolExecutor(8) as pool:
        parallel = list(pool.map(run, calls))
    for s, p in zip(serial, parallel, strict=True):
        np.testing.assert_array_equal(s, p)


def test_a_model_is_its_encoders_and_one_set_of_heads(model):
    from siamese_sdk.runtime.encoder import EncoderRunner
    from siamese_sdk.runtime.heads import Heads

    assert list(model._encoders) == [""] and isinstance(model._encoders[""], EncoderRunner)
    assert isinstance(model._heads, Heads) and model.input is model._encoders[""].spec
    assert not any(isinstance(v, siamese_sdk.SiameseModel) for v in vars(model).values())  # never built recursively


def test_metric_numpy_formulas_match_the_head_graphs(model, images):
    from siamese_sdk import metric

    e = model.embed(images[:6])
    m = model.manifest.score
    np.testing.assert_allclose(m.pairwise(e[:3], e[3:]), model.distance(e[:3], e[3:]), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(m.matrix(e[:2], e), model.distance_matrix(e[:2], e), rtol=1e-4, atol=1e-3)  # sqrt near 0
    for name in ("euclidean", "cosine"):
        x = metric.get(name)
        np.testing.assert_allclose(x.matrix(e[:3], e[3:]).diagonal(), x.pairwise(e[:3], e[3:]), rtol=1e-4, atol=1e-5)
    with pytest.raises(siamese_sdk.BundleError, match="no numpy formula"):
        metric.get("learned").pairwise(e, e)
