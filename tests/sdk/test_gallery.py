"""Gallery: exact 1:N search against the bundle's own head, compact storage recall, the file format and its
refusals, thread consistency, faiss indexes (skipped without faiss), and the gallery/search CLI."""

from __future__ import annotations

import io
import json
import threading
import time
import tracemalloc
import zipfile

import numpy as np
import pytest
import siamese_sdk
from click.testing import CliRunner
from siamese_sdk import BundleError, Gallery, InputError, SiameseError
from siamese_sdk.cli import main as siamese
from siamese_sdk.gallery import topk as gallery_topk
from siamese_sdk.metric import get as get_metric

K = 5


@pytest.fixture(scope="module")
def emb(model, images) -> np.ndarray:
    return model.embed(images)


def one_line(exc: pytest.ExceptionInfo) -> str:
    msg = str(exc.value)
    assert "\n" not in msg and isinstance(exc.value, SiameseError)
    return msg


def clustered(n: int, d: int, seed: int, spread: float = 0.35) -> np.ndarray:
    """``n`` embeddings around ``n // 8`` identity centres: a stand-in for a real gallery."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((max(n // 8, 1), d)).astype(np.float32)
    return (centres[rng.integers(len(centres), size=n)] + spread * rng.standard_normal((n, d))).astype(np.float32)


def head_for(metric: str, dim: int, model):
    """The bundle's matrix head for ``metric``: the model's own for its metric, else the metric's numpy formula
    (``siamese_sdk.metric``; the exporter's head graphs agree with it: tests/export)."""
    if metric == model.manifest.metric:
        return model.distance_matrix
    return get_metric(metric).matrix


def assert_same_ranking(ids: np.ndarray, scores: np.ndarray, ref: np.ndarray, gallery_ids: list[str], atol: float) -> None:
    """Hits equal the reference top-k: same scores, and the same ids wherever the reference has no near-tie."""
    k = ids.shape[1]
    order = np.argsort(ref, axis=1, kind="stable")[:, :k]
    ref_sorted = np.take_along_axis(ref, order, axis=1)
    # A Euclidean distance near 0 is sqrt(float32 cancellation noise) in both the head and the gallery: about
    # 1e-3 for unit-scale vectors, whatever the implementation, so scores that small are compared at that scale.
    tol = np.where(ref_sorted < 1e-2, 2e-3, atol)
    np.testing.assert_array_less(np.abs(scores - ref_sorted), tol + 1e-12)
    index = {g: i for i, g in enumerate(gallery_ids)}
    rows = np.vectorize(index.__getitem__)(ids)
    np.testing.assert_array_less(np.abs(np.take_along_axis(ref, rows, axis=1) - scores), tol + 1e-12)  # each hit has its own score
    full = np.sort(ref, axis=1)
    for b in range(ids.shape[0]):
        for j in range(k):
            gap_before = full[b, j] - full[b, j - 1] if j else np.inf
            gap_after = full[b, j + 1] - full[b, j] if j + 1 < full.shape[1] else np.inf
            if min(gap_before, gap_after) > 2 * atol:
                assert rows[b, j] == order[b, j], (b, j)


# ---- exact search against the head -----------------------------------------------------------------------
@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_search_matches_the_bundle_head(model, emb, images, metric, monkeypatch):
    monkeypatch.setattr(gallery_topk, "QUERY_BLOCK", 7)  # several query blocks
    d = model.embedding_dim
    rng = np.random.default_rng(1)
    gal = np.concatenate([emb[::2], emb[::2].mean(0) + rng.standard_normal((3000, d)).astype(np.float32)])
    gal_ids = [str(p) for p in images[::2]] + [f"synthetic/{i}" for i in range(3000)]
    queries = np.concatenate([emb[1::2], emb[0:6:2]])  # unseen images, plus three enrolled ones
    g = Gallery(model.fingerprint, d, metric, max_chunk_bytes=64 * 1024)  # many chunks
    for i in range(0, len(gal), 997):  # several adds
        g.add(gal[i : i + 997], gal_ids[i : i + 997])
    assert len(g) == len(gal)
    ids, scores = g.search(queries, k=K)
    assert ids.shape == scores.shape == (len(queries), K) and ids.dtype.kind == "U" and scores.dtype == np.float32
    ref = head_for(metric, d, model)(queries, gal)
    assert_same_ranking(ids, scores, ref, gal_ids, atol=1e-4)
    assert list(ids[-3:, 0]) == [str(images[0]), str(images[2]), str(images[4])]  # enrolled images find themselves
    assert np.all(np.diff(scores, axis=1) >= 0)


def test_small_gallery_caps_k_and_single_query(model, emb):
    g = Gallery.for_model(model)
    g.add(emb[:3], ["a", "b", "c"])
    ids, scores = g.search(emb[:1], k=10)
    assert ids.shape == (1, 3) and ids[0, 0] == "a" and scores[0, 0] < 1e-3
    with pytest.raises(InputError) as e:
        g.search(emb[0], k=1)
    assert "add the batch axis" in one_line(e)


def test_duplicate_ids_and_remove(model, emb):
    g = Gallery.for_model(model, storage="float16")
    g.add(emb[:4], ["alice", "alice", "bob", "carol"])
    assert g.remove(["alice"]) == 2 and len(g) == 2 and g.remove("nobody") == 0
    ids, _ = g.search(emb[:1], k=5)
    assert set(ids[0]) == {"bob", "carol"}
    g.add(emb[4:6], ["dave", "erin"])
    assert list(g.ids) == ["bob", "carol", "dave", "erin"]
    np.testing.assert_allclose(g.embeddings(), emb[2:6], atol=2e-3 * np.abs(emb).max())


@pytest.mark.parametrize(
    "call, expect",
    [
        (lambda g, d: g.search(np.zeros((1, d), np.float32)), "empty"),
        (lambda g, d: g.add(np.zeros((2, d), np.float32), ["a"]), "2 embeddings but 1 ids"),
        (lambda g, d: g.add(np.zeros((1, d + 1), np.float32), ["a"]), "expected embeddings of shape (N, "),
        (lambda g, d: g.add(np.zeros((0, d), np.float32), []), "empty batch"),
        (lambda g, d: g.add(np.full((1, d), np.nan, np.float32), ["a"]), "NaN"),
        (lambda g, d: g.add(np.zeros((1, d), np.int64), ["a"]), "dtype int64"),
        (lambda g, d: g.add(np.zeros((1, d), np.float32), "a"), "not one string"),
        (lambda g, d: g.add(np.zeros((1, d), np.float32), [""]), "non-empty strings"),
        (lambda g, d: g.search(np.zeros((1, d), np.float32), k=0), "k=0"),
        (lambda g, d: Gallery("fp", d, "manhattan"), "metric 'manhattan' unknown"),
        (lambda g, d: Gallery("fp", d, "cosine", storage="int4"), "storage 'int4' unknown"),
        (lambda g, d: Gallery("fp", d, "cosine", index="annoy"), "index 'annoy' unknown"),
        (lambda g, d: Gallery("fp", d, "euclidean", storage="float16").add(np.full((1, d), 1e6, np.float32), ["a"]), "float16"),
    ],
)
def test_bad_input_is_one_line(model, call, expect):
    with pytest.raises(SiameseError) as e:
        call(Gallery.for_model(model), model.embedding_dim)
    assert expect in one_line(e)


def test_search_memory_is_bounded_by_the_chunk_budget():
    d, n, budget = 32, 60_000, 1 << 20
    g = Gallery("fp", d, "euclidean", storage="int8", max_chunk_bytes=budget)
    g.add(clustered(n, d, seed=2), [str(i) for i in range(n)])  # 60k x 32 int8 (1.9 MB), dequantised per chunk
    q = clustered(300, d, seed=3)
    tracemalloc.start()
    try:
        g.search(q, k=K)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1.5 * budget, f"search allocated {peak / 2**20:.2f} MiB with a {budget / 2**20:.0f} MiB budget"


# ---- compact storage: recall cost -----------------------------------------------------------------------
@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_compact_storage_recall_at_5(metric, record_property):
    d, n = 64, 20_000
    data, queries = clustered(n, d, seed=4), clustered(500, d, seed=5)
    ids = [str(i) for i in range(n)]
    exact = Gallery("fp", d, metric)
    exact.add(data, ids)
    truth, _ = exact.search(queries, k=K)
    per_vector = {}
    for storage, floor in (("float16", 0.99), ("int8", 0.9)):
        g = Gallery("fp", d, metric, storage=storage)
        g.add(data, ids)
        got, _ = g.search(queries, k=K)
        recall = float(np.mean([len(set(a) & set(b)) / K for a, b in zip(truth, got, strict=True)]))
        record_property(f"recall@5_{storage}_{metric}", recall)
        print(f"\n[gallery] {metric} {storage}: recall@5 vs float32 = {recall:.4f} ({n} x {d}, 500 queries)")
        assert recall >= floor, f"{storage} recall@5 {recall:.4f} < {floor}"
        per_vector[storage] = g.nbytes / n
    per_vector["float32"] = exact.nbytes / n
    assert per_vector["float16"] <= per_vector["float32"] / 2 + 4 and per_vector["int8"] <= d + 8


# ---- persistence ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("storage", ["float32", "float16", "int8"])
def test_save_load_round_trip(model, emb, images, tmp_path, storage):
    g = Gallery.for_model(model, storage=storage)
    ids = [str(p) for p in images]
    g.add(emb, ids)
    path = g.save(tmp_path / "g.npz")
    assert not list(tmp_path.glob(".*tmp"))
    with zipfile.ZipFile(path) as z:
        assert sorted(z.namelist()) == sorted(
            ["meta.npy", "ids.npy", "vectors.npy"] + (["scales.npy"] if storage == "int8" else [])
        )
    with np.load(path, allow_pickle=False) as z:
        meta = json.loads(str(z["meta"]))
        assert z["ids"].dtype.kind == "U" and z["vectors"].dtype == np.dtype(storage)
    assert meta == {
        "format": "siamese-gallery",
        "format_version": 1,
        "fingerprint": model.fingerprint,
        "embedding_dim": model.embedding_dim,
        "metric": model.manifest.metric,
        "storage": storage,
        "count": len(images),
    }
    back = Gallery.load(path, model=model)
    assert (back.fingerprint, back.storage, len(back), list(back.ids)) == (model.fingerprint, storage, len(g), ids)
    a, b = g.search(emb[:7], k=K), back.search(emb[:7], k=K)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    back.add(emb[:1], ["again"])  # a loaded gallery grows
    assert len(back) == len(g) + 1


def test_load_refuses_a_gallery_of_another_model(model, emb, tmp_path, bundle):
    other = Gallery("0123456789abcdef", model.embedding_dim, model.manifest.metric)
    other.add(emb[:2], ["a", "b"])
    path = other.save(tmp_path / "other.npz")
    with pytest.raises(BundleError) as e:
        Gallery.load(path, model=model)
    msg = one_line(e)
    assert "0123456789abcdef" in msg and model.fingerprint in msg and "another model" in msg and "rebuild" in msg
    assert len(Gallery.load(path)) == 2  # without a model it loads (the caller takes responsibility)
    variants = sorted(model.manifest.variants)
    if len(variants) > 1:  # the same bundle's other variant is another encoder too
        g = Gallery.for_model(model)
        g.add(emb[:2], ["a", "b"])
        p = g.save(tmp_path / "mine.npz")
        other_model = siamese_sdk.load(bundle, variant=next(v for v in variants if v != model.variant))
        with pytest.raises(BundleError, match=f"built with variant {model.variant} .* --variant {model.variant}"):
            Gallery.load(p, model=other_model)


def _npz(path, **arrays) -> None:
    with open(path, "wb") as f:
        np.savez(f, **arrays)


def _meta(**over) -> np.ndarray:
    base = {
        "format": "siamese-gallery",
        "format_version": 1,
        "fingerprint": "f",
        "embedding_dim": 4,
        "metric": "euclidean",
        "storage": "float32",
        "count": 2,
    }
    return np.array(json.dumps({**base, **over}))


@pytest.mark.parametrize(
    "write, expect",
    [
        (lambda p: p.write_bytes(b""), "truncated or corrupt"),
        (lambda p: p.write_text("id,vector\n"), "truncated or corrupt"),
        (
            lambda p: _npz(p, meta=_meta(format_version=2), ids=np.array(["a", "b"]), vectors=np.zeros((2, 4), np.float32)),
            "newer",
        ),
        (
            lambda p: _npz(p, meta=_meta(format="other"), ids=np.array(["a", "b"]), vectors=np.zeros((2, 4), np.float32)),
            "not a siamese gallery",
        ),
        (lambda p: _npz(p, ids=np.array(["a", "b"]), vectors=np.zeros((2, 4), np.float32)), "no meta"),
        (
            lambda p: _npz(p, meta=_meta(), ids=np.array(["a", "b"], dtype=object), vectors=np.zeros((2, 4), np.float32)),
            "corrupt",
        ),
        (lambda p: _npz(p, meta=_meta(), ids=np.array(["a"]), vectors=np.zeros((2, 4), np.float32)), "ids must be"),
        (lambda p: _npz(p, meta=_meta(), ids=np.array(["a", "b"]), vectors=np.zeros((2, 4), np.float16)), "meta says float32"),
        (lambda p: _npz(p, meta=_meta(storage="int8"), ids=np.array(["a", "b"]), vectors=np.zeros((2, 4), np.int8)), "scales"),
        (lambda p: _npz(p, meta=_meta(), ids=np.array(["a", "b"]), vectors=np.full((2, 4), np.nan, np.float32)), "NaN"),
        (lambda p: _npz(p, meta=_meta(metric=3), ids=np.array(["a", "b"]), vectors=np.zeros((2, 4), np.float32)), "'metric'"),
        (lambda p: p.mkdir(), "not a directory"),
    ],
)
def test_load_refuses_malformed_files(tmp_path, write, expect):
    path = tmp_path / "g.npz"
    write(path)
    with pytest.raises(BundleError) as e:
        Gallery.load(path)
    assert expect in one_line(e)


def test_load_refuses_truncated_and_bit_flipped_files(model, emb, tmp_path):
    g = Gallery.for_model(model)
    g.add(np.repeat(emb, 20, axis=0), [str(i) for i in range(20 * len(emb))])
    data = g.save(tmp_path / "g.npz").read_bytes()
    for name, blob in {
        "truncated": data[: len(data) // 2],
        "cut_tail": data[:-10],
        "flipped": data[: len(data) // 2] + bytes([data[len(data) // 2] ^ 0xFF]) + data[len(data) // 2 + 1 :],
    }.items():
        (tmp_path / f"{name}.npz").write_bytes(blob)
        with pytest.raises(BundleError) as e:
            Gallery.load(tmp_path / f"{name}.npz", model=model)
        assert "truncated or corrupt" in one_line(e), name
    with pytest.raises(BundleError, match="gallery not found"):
        Gallery.load(tmp_path / "missing.npz")


# ---- threads --------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_concurrent_search_and_add_never_see_a_torn_batch():
    """4 writers add batches (a tight cluster of M rows each, far from everything else) while 4 readers search
    for those clusters: a search sees all M rows of a batch with their own ids, or none of it."""
    d, m, seconds = 16, 6, 2.0
    g = Gallery("fp", d, "euclidean", storage="int8", max_chunk_bytes=32 * 1024)
    rng = np.random.default_rng(6)
    g.add(rng.standard_normal((2000, d)).astype(np.float32), [f"base/{i}" for i in range(2000)])
    centres: dict[str, np.ndarray] = {}
    lock = threading.Lock()
    stop = time.monotonic() + seconds
    errors: list[str] = []
    seen = {"all": 0, "none": 0}

    def writer(t: int) -> None:
        r = np.random.default_rng(100 + t)
        b = 0
        while time.monotonic() < stop:
            name = f"w{t}/b{b}"
            c = r.standard_normal(d).astype(np.float32)
            c *= 50 / np.linalg.norm(c)
            with lock:
                centres[name] = c
            g.add(c + 0.01 * r.standard_normal((m, d)).astype(np.float32), [f"{name}/{j}" for j in range(m)])
            b += 1

    def reader(t: int) -> None:
        r = np.random.default_rng(200 + t)
        while time.monotonic() < stop:
            with lock:
                names = list(centres)
            if not names:
                continue
            pick = [names[i] for i in r.integers(len(names), size=4)]
            n_before = len(g)
            ids, _ = g.search(np.stack([centres[p] for p in pick]), k=m)
            if len(g) < n_before:
                errors.append("len went down")
            for name, row in zip(pick, ids, strict=True):
                mine = sum(i.startswith(name + "/") for i in row)
                if mine not in (0, m):
                    errors.append(f"{name}: {mine} of {m} rows visible")
                seen["all" if mine == m else "none"] += 1

    threads = [threading.Thread(target=writer, args=(t,)) for t in range(4)] + [
        threading.Thread(target=reader, args=(t,)) for t in range(4)
    ]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors, errors[:5]
    assert seen["all"] > 0 and len(g) == 2000 + m * len(centres)
    ids, _ = g.search(np.stack(list(centres.values())), k=m)  # every batch complete at the end
    for name, row in zip(centres, ids, strict=True):
        assert sorted(row) == [f"{name}/{j}" for j in range(m)]


# ---- faiss ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
@pytest.mark.parametrize("storage", ["float32", "int8"])
def test_faiss_flat_equals_numpy_flat(metric, storage):
    pytest.importorskip("faiss")
    d, n = 32, 5000
    data, queries = clustered(n, d, seed=7), clustered(64, d, seed=8)
    ids = [str(i) for i in range(n)]
    flat, ff = Gallery("fp", d, metric, storage=storage), Gallery("fp", d, metric, storage=storage, index="faiss-flat")
    flat.add(data[:3000], ids[:3000])
    ff.add(data[:3000], ids[:3000])
    flat.add(data[3000:], ids[3000:])
    ff.add(data[3000:], ids[3000:])
    a, b = flat.search(queries, k=K), ff.search(queries, k=K)
    np.testing.assert_allclose(a[1], b[1], atol=1e-4)
    assert np.mean(a[0] == b[0]) > 0.99  # ids may swap only on float near-ties
    assert ff.remove(ids[:100]) == 100 and len(ff) == n - 100  # rebuilt index
    assert not set(ff.search(queries, k=K)[0].ravel()) & set(ids[:100])


def test_faiss_hnsw_recall_and_reload(tmp_path, record_property):
    pytest.importorskip("faiss")
    d, n = 32, 20_000
    data, queries = clustered(n, d, seed=9), clustered(500, d, seed=10)
    ids = [str(i) for i in range(n)]
    flat, hnsw = Gallery("fp", d, "euclidean"), Gallery("fp", d, "euclidean", index="faiss-hnsw")
    flat.add(data, ids)
    hnsw.add(data, ids)
    truth, truth_scores = flat.search(queries, k=K)
    got, scores = hnsw.search(queries, k=K)
    recall = float(np.mean([len(set(a) & set(b)) / K for a, b in zip(truth, got, strict=True)]))
    record_property("recall@5_hnsw", recall)
    print(f"\n[gallery] faiss-hnsw recall@5 vs flat = {recall:.4f} ({n} x {d}, M=32, efSearch=64)")
    assert recall >= 0.9
    assert np.all(scores >= truth_scores - 1e-4)  # approximate: never closer than the exact answer
    back = Gallery.load(flat.save(tmp_path / "g.npz"), index="faiss-hnsw")
    assert back.index == "faiss-hnsw" and len(back) == n
    assert float(np.mean(back.search(queries, k=K)[0] == got)) > 0.9


def test_faiss_missing_is_one_line(monkeypatch):
    import builtins

    real = builtins.__import__

    def no_faiss(name, *a, **kw):
        if name == "faiss":
            raise ImportError("no faiss")
        return real(name, *a, **kw)

    monkeypatch.setattr(builtins, "__import__", no_faiss)
    with pytest.raises(siamese_sdk.ExtraMissingError) as e:
        Gallery("fp", 4, "euclidean", index="faiss-hnsw")
    assert "siamese-sdk[faiss]" in one_line(e)


# ---- CLI --------------------------------------------------------------------------------------------------
def test_cli_gallery_and_search(bundle, model, images, tiny_data, tmp_path):
    runner = CliRunner()
    out = tmp_path / "g.npz"
    r = runner.invoke(
        siamese, ["gallery", str(bundle), str(tiny_data), "-o", str(out), "--storage", "float16", "--batch-size", "10"]
    )
    assert r.exit_code == 0, r.output
    assert f"{len(images)} x {model.embedding_dim} float16" in r.output
    g = Gallery.load(out, model=model)
    assert list(g.ids) == [str(p) for p in images] and g.storage == "float16"

    r = runner.invoke(siamese, ["search", str(bundle), str(out), str(images[3]), str(images[40]), "-k", "3", "--json"])
    assert r.exit_code == 0, r.output
    res = json.loads(r.output)
    assert [q["query"] for q in res["results"]] == [str(images[3]), str(images[40])]
    for q in res["results"]:
        assert len(q["hits"]) == 3 and q["hits"][0]["id"] == q["query"] and q["hits"][0]["score"] < 1e-2
        assert q["hits"][0]["same"] is True
    assert res["metric"] == model.manifest.metric and res["threshold"] == pytest.approx(model.threshold())

    r = runner.invoke(siamese, ["search", str(bundle), str(out), str(images[3])])
    assert r.exit_code == 0 and r.output.splitlines()[1].strip().startswith("1. ") and str(images[3]) in r.output


def test_cli_search_errors_are_one_line(bundle, model, emb, images, tmp_path):
    runner = CliRunner()
    other = Gallery("0123456789abcdef", model.embedding_dim, model.manifest.metric)
    other.add(emb[:2], ["a", "b"])
    other.save(tmp_path / "other.npz")
    (tmp_path / "junk.npz").write_bytes(b"PK\x03\x04junk")
    for args, expect in (
        ([str(tmp_path / "other.npz"), str(images[0])], "0123456789abcdef"),
        ([str(tmp_path / "missing.npz"), str(images[0])], "gallery not found"),
        ([str(tmp_path / "junk.npz"), str(images[0])], "truncated or corrupt"),
    ):
        r = runner.invoke(siamese, ["search", str(bundle), *args])
        assert r.exit_code == 1 and "Traceback" not in r.output, r.output
        lines = [line for line in r.output.splitlines() if line.strip()]
        assert lines[-1].startswith("Error: ") and expect in lines[-1], r.output


def test_gallery_file_needs_no_pickle(model, emb, tmp_path):
    g = Gallery.for_model(model, storage="int8")
    g.add(emb[:5], [f"id-{i}" for i in range(5)])
    raw = g.save(tmp_path / "g.npz").read_bytes()
    with np.load(io.BytesIO(raw), allow_pickle=False) as z:
        assert {k: z[k].dtype.kind for k in z.files} == {"meta": "U", "ids": "U", "vectors": "i", "scales": "f"}
