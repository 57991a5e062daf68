"""Gallery stores behind one URI: the .npz file and a real Milvus Lite database, against the in-memory ``Gallery``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import siamese_sdk
from siamese_sdk.errors import BundleError, InputError, StoreError
from siamese_sdk.gallery import Gallery
from siamese_sdk.gallery.stores import NpzStore, Store, open_store

pytest.importorskip("pymilvus")
pytest.importorskip("milvus_lite")
from siamese_sdk.gallery.milvus import MilvusStore  # noqa: E402

GOLDEN = Path(__file__).resolve().parents[1] / "data" / "golden"
BUNDLE = GOLDEN / "bundle"


@pytest.fixture(scope="module")
def model() -> siamese_sdk.SiameseModel:
    return siamese_sdk.load(BUNDLE)


def _data(n: int = 120, d: int = 8, seed: int = 0) -> tuple[np.ndarray, list[str]]:
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)).astype(np.float32), [f"p{i % 40}" for i in range(n)]


def _uri(kind: str, tmp_path: Path) -> str:
    return str(tmp_path / "g.npz") if kind == "npz" else f"milvus:{tmp_path / 'g.db'}"


@pytest.mark.parametrize("kind", ["npz", "milvus"])
def test_store_is_a_gallery_and_survives_a_restart(kind, model, tmp_path):
    e, ids = _data()
    ref = Gallery.for_model(model)
    ref.add(e, ids)
    store = open_store(_uri(kind, tmp_path), model)
    assert isinstance(store, Store) and len(store) == 0
    with pytest.raises(InputError, match="empty"):
        store.search(e[:1])
    store.add(e[:50], ids[:50])
    store.add(e[50:], ids[50:])
    q = e[:7] + 0.05
    got_ids, got_scores = store.search(q, k=5)
    want_ids, want_scores = ref.search(q, k=5)
    np.testing.assert_array_equal(got_ids, want_ids)
    np.testing.assert_allclose(got_scores, want_scores, atol=1e-4)
    assert store.search(q, k=10_000)[0].shape == (7, len(e))  # k capped at the size
    assert store.remove(["p1", "p2", "nobody"]) == 6 and ref.remove(["p1", "p2"]) == 6
    assert store.remove("nobody") == 0
    store.close()

    again = open_store(_uri(kind, tmp_path), model)  # a restart: the enrolments are still there
    assert len(again) == len(ref) == 114
    np.testing.assert_array_equal(again.search(q, k=5)[0], ref.search(q, k=5)[0])
    again.close()


@pytest.mark.parametrize("kind", ["npz", "milvus"])
def test_store_refuses_another_model_in_one_line(kind, model, tmp_path):
    open_store(_uri(kind, tmp_path), model).close()
    other = siamese_sdk.load(BUNDLE, variant="fp32")
    with pytest.raises(BundleError, match="built with variant int8") as e:
        open_store(_uri(kind, tmp_path), other)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("kind", ["npz", "milvus"])
def test_store_checks_input_like_a_gallery(kind, model, tmp_path):
    store = open_store(_uri(kind, tmp_path), model)
    with pytest.raises(InputError, match="shape"):
        store.add(np.zeros((2, 5), np.float32), ["a", "b"])
    with pytest.raises(InputError, match="NaN"):
        store.add(np.full((1, 8), np.nan, np.float32), ["a"])
    with pytest.raises(InputError):
        store.add(np.zeros((2, 8), np.float32), ["a"])
    store.add(np.ones((1, 8), np.float32), ["a"])
    with pytest.raises(InputError, match="k="):
        store.search(np.ones((1, 8), np.float32), k=0)
    store.close()


def test_npz_store_writes_the_file_on_every_change(model, tmp_path):
    path = tmp_path / "g.npz"
    store = NpzStore.open(path, model)
    assert path.is_file() and len(Gallery.load(path, model=model)) == 0
    e, ids = _data(10)
    store.add(e, ids)
    assert Gallery.load(path, model=model).ids.tolist() == ids
    store.remove(["p3"])
    assert "p3" not in Gallery.load(path, model=model).ids.tolist()


def test_milvus_ids_are_data_not_filter_syntax(model, tmp_path):
    store = MilvusStore.for_model(str(tmp_path / "m.db"), model)
    odd = ['a"b', "c\\d", "x' or 1==1", "日本", 'key in ["p1"]']
    store.add(np.eye(5, 8, dtype=np.float32), odd)
    store.add(np.ones((1, 8), np.float32), ["p1"])
    ids, _ = store.search(np.eye(5, 8, dtype=np.float32), k=1)
    assert ids[:, 0].tolist() == odd
    assert store.remove([odd[4]]) == 1 and store.remove(odd[:2]) == 2 and len(store) == 3
    with pytest.raises(InputError, match="over 512 bytes"):
        store.add(np.ones((1, 8), np.float32), ["x" * 513])
    store.close()


def test_milvus_cosine_scores_as_the_gallery_does(tmp_path):
    e, ids = _data(200, 16, seed=1)
    ref = Gallery("fp-cos", 16, "cosine")
    ref.add(e, ids)
    store = MilvusStore(str(tmp_path / "c.db"), "fp-cos", 16, "cosine", collection="cos")
    store.add(e, ids)
    q = e[:5] * 3 + 0.1  # scale does not matter to cosine
    got, want = store.search(q, k=5), ref.search(q, k=5)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_allclose(got[1], want[1], atol=1e-5)
    store.close()
    with pytest.raises(BundleError, match="16-d cosine embeddings of encoder fp-cos"):
        MilvusStore(str(tmp_path / "c.db"), "fp-other", 16, "cosine", collection="cos")


def test_milvus_refuses_a_foreign_collection_and_a_learned_metric(tmp_path):
    from pymilvus import MilvusClient

    path = str(tmp_path / "f.db")
    client = MilvusClient(path)
    client.create_collection("theirs", dimension=8)
    client.close()
    with pytest.raises(StoreError, match="not made by siamese-sdk"):
        MilvusStore(path, "fp", 8, "euclidean", collection="theirs")
    with pytest.raises(InputError, match="use an .npz store"):
        MilvusStore(path, "fp", 8, "learned")


@pytest.mark.parametrize(
    "uri, match",
    [
        ("gallery.json", "not understood"),
        ("milvus:", "names no database"),
        ("milvus:g.db?shard=2", "only option is"),
        ("milvus:g.sqlite", "ending in .db"),
    ],
)
def test_open_store_refuses_bad_uris_in_one_line(uri, match, model, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InputError, match=match):
        open_store(uri, model)


def test_open_store_names_a_collection(model, tmp_path):
    a = open_store(f"milvus:{tmp_path / 'g.db'}?collection=first", model)
    a.add(np.ones((2, 8), np.float32), ["x", "y"])
    a.close()
    b = open_store(f"milvus:{tmp_path / 'g.db'}?collection=second", model)
    assert len(b) == 0 and b.collection == "second"
    b.close()


def test_milvus_lite_refuses_a_second_process_in_one_line(tmp_path):
    import subprocess
    import sys

    path = str(tmp_path / "one.db")
    store = MilvusStore(path, "fp", 8, "euclidean")
    code = (
        "from siamese_sdk.gallery.milvus import MilvusStore\n"
        "from siamese_sdk.errors import StoreError\n"
        f"try:\n    MilvusStore({path!r}, 'fp', 8, 'euclidean')\nexcept StoreError as e:\n    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120).stdout
    store.close()
    assert "one process at a time" in out and out.count("\n") == 1
