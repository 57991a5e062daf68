"""``SiameseModel`` pickles (the load arguments travel, the sessions are rebuilt), so cluster workers can use it."""

from __future__ import annotations

import multiprocessing
import pickle
from pathlib import Path

import numpy as np
import siamese_sdk

GOLDEN = Path(__file__).resolve().parents[1] / "data" / "golden"
IMAGES = [str(p) for p in sorted((GOLDEN / "images").glob("*.png"))]


def test_pickle_round_trip_keeps_the_variant_and_the_embeddings():
    model = siamese_sdk.load(GOLDEN / "bundle", variant="fp32", threads=1)
    again = pickle.loads(pickle.dumps(model))
    assert (again.variant, again.fingerprint, again.path) == (model.variant, model.fingerprint, model.path.resolve())
    np.testing.assert_array_equal(again.embed(IMAGES), model.embed(IMAGES))
    assert len(pickle.dumps(model)) < 2000  # arguments only, no graphs


def test_spawned_workers_embed_as_the_parent_does():
    """The Ray Data / Spark pattern: the model is shipped to fresh processes, each embeds its shard."""
    model = siamese_sdk.load(GOLDEN / "bundle", threads=1)
    shards = [IMAGES[:2], IMAGES[2:4], IMAGES[4:]]
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        parts = pool.map(model.embed, shards)
    np.testing.assert_array_equal(np.concatenate(parts), model.embed(IMAGES))
