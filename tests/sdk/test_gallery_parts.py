"""The gallery's parts on their own: the one top-k loop against a full sort, the codecs, a head-scored gallery."""

from __future__ import annotations

import numpy as np
import pytest
from siamese_sdk.gallery import Gallery, codec, topk


def brute(keys: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(keys, axis=1, kind="stable")[:, :k]
    return order, np.take_along_axis(keys, order, axis=1)


@pytest.mark.parametrize("first_chunk", [None, 3])
@pytest.mark.parametrize("k", [1, 4])
def test_search_topk_equals_a_full_sort_whatever_the_chunking(monkeypatch, first_chunk, k):
    monkeypatch.setattr(topk, "QUERY_BLOCK", 5)
    rng = np.random.default_rng(0)
    keys = rng.integers(0, 6, size=(13, 57)).astype(np.float32)  # many ties: broken by row
    q = np.arange(13, dtype=np.float32)[:, None]

    def block(qb: np.ndarray):
        rows = qb[:, 0].astype(int)
        return 7, lambda c0, c1: keys[rows, c0:c1]

    got_rows, got_keys = topk.search_topk(q, keys.shape[1], k, block, first_chunk=first_chunk)
    want_rows, want_keys = brute(keys, k)
    np.testing.assert_array_equal(got_keys, want_keys)
    np.testing.assert_array_equal(got_rows, want_rows)


def test_codecs_round_trip_within_their_precision():
    rng = np.random.default_rng(1)
    e = rng.standard_normal((20, 16)).astype(np.float32)
    for storage, tol in (("float32", 0.0), ("float16", 2e-3), ("int8", 1.0 / 127)):
        vec, scale = codec.quantize(e, storage)
        assert vec.dtype == np.dtype(storage) and (scale is None) == (storage != "int8")
        back = codec.dequantize(vec, scale)
        assert np.all(np.abs(back - e) <= tol * np.abs(e).max(axis=1, keepdims=True) + 1e-7)
    np.testing.assert_allclose(np.linalg.norm(codec.unit(e), axis=1), 1.0, rtol=1e-6)


@pytest.mark.parametrize("storage", ["float32", "int8"])
def test_a_head_scored_gallery_ranks_highest_first(storage):
    """A higher-is-closer metric is scored by the given head, chunk by chunk, and returned highest first."""
    rng = np.random.default_rng(2)
    g_emb, q = rng.standard_normal((300, 8)).astype(np.float32), rng.standard_normal((9, 8)).astype(np.float32)

    def head(a: np.ndarray, b: np.ndarray) -> np.ndarray:  # p(same) falling with the distance
        d = np.sqrt(np.maximum(((a[:, None, :] - b[None, :, :]) ** 2).sum(-1), 0.0))
        return (1.0 / (1.0 + d)).astype(np.float32)

    g = Gallery("fp", 8, "learned", storage=storage, max_chunk_bytes=8 * 1024, scorer=head)
    g.add(g_emb, [f"id{i}" for i in range(300)])
    ids, scores = g.search(q, k=6)
    ref = head(q, g.embeddings())
    order = np.argsort(-ref, axis=1, kind="stable")[:, :6]
    np.testing.assert_allclose(scores, np.take_along_axis(ref, order, axis=1), atol=1e-6)
    assert ids.tolist() == [[f"id{i}" for i in row] for row in order]
    assert scores.dtype == np.float32 and np.all(np.diff(scores, axis=1) <= 0)


@pytest.mark.parametrize("k", [1, 3])
def test_equal_vectors_rank_in_insertion_order(k):
    """The same vector enrolled many times: hits come in insertion order (argpartition alone picks any of them)."""
    rng = np.random.default_rng(3)
    dup = rng.integers(-3, 4, size=(1, 8)).astype(np.float32)  # small integers: every score exact
    others = rng.integers(-3, 4, size=(500, 8)).astype(np.float32) + 10
    g = Gallery("fp", 8, "euclidean")
    g.add(others[:250], [f"o{i}" for i in range(250)])
    g.add(np.repeat(dup, 300, axis=0), [f"dup{i}" for i in range(300)])
    g.add(others[250:], [f"o{i}" for i in range(250, 500)])
    ids, _ = g.search(dup, k=k)
    assert ids[0].tolist() == [f"dup{i}" for i in range(k)]
