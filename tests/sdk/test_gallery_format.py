"""Gallery files written by an earlier siamese-sdk load and search the same, and ``save`` writes the same members.

``tests/data/galleries/v1_{metric}_{storage}.npz`` were written by ``Gallery.save`` (format version 1) from 24
random 8-d embeddings with ids ``id0..id9``; ``expected.json`` holds their top-4 hits for ``queries.npy``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from siamese_sdk.gallery import Gallery

DATA = Path(__file__).resolve().parents[1] / "data" / "galleries"
EXPECTED = json.loads((DATA / "expected.json").read_text())


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_old_gallery_files_load_search_and_resave_unchanged(name, tmp_path):
    g = Gallery.load(DATA / name)
    assert (g.metric, g.storage, len(g), g.embedding_dim) == (name.split("_")[1], name.split("_")[2][:-4], 24, 8)
    ids, scores = g.search(np.load(DATA / "queries.npy"), 4)
    assert ids.tolist() == EXPECTED[name]["ids"]
    np.testing.assert_allclose(scores, np.array(EXPECTED[name]["scores"], dtype=np.float32), rtol=1e-6, atol=1e-6)
    g.save(tmp_path / name)
    with np.load(DATA / name, allow_pickle=False) as old, np.load(tmp_path / name, allow_pickle=False) as new:
        assert sorted(old.files) == sorted(new.files)
        assert json.loads(str(old["meta"])) == json.loads(str(new["meta"]))
        for member in old.files:
            assert old[member].dtype == new[member].dtype and np.array_equal(old[member], new[member]), member
