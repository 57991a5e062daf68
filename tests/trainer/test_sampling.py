"""The P x K batch sampler: batch shape, determinism per (seed, epoch), errors."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")  # the trainer package needs the train extra

from siamese_sdk.errors import InputError  # noqa: E402
from siamese_trainer.data.sampling import PKSampler  # noqa: E402

# class sizes 6, 5, 4, 3, 2 and a singleton (class 5) that can form no positive pair
LABELS = np.repeat(np.arange(6), [6, 5, 4, 3, 2, 1])


def _batches(sampler: PKSampler, epoch: int = 0) -> list[list[int]]:
    sampler.set_epoch(epoch)
    return list(sampler)


@pytest.mark.parametrize("p, k", [(2, 2), (3, 4), (5, 3)])
def test_each_batch_is_p_distinct_classes_of_k_items(p: int, k: int):
    sampler = PKSampler(LABELS, p=p, k=k, batches=20, seed=0)
    for batch in _batches(sampler):
        assert len(batch) == p * k
        classes = [LABELS[batch[i * k : (i + 1) * k]] for i in range(p)]
        for block in classes:
            assert len(set(block.tolist())) == 1  # k consecutive items of one class
        assert len({int(block[0]) for block in classes}) == p  # p distinct classes
        assert 5 not in LABELS[batch]  # the singleton class is never drawn


def test_items_are_distinct_unless_the_class_is_smaller_than_k():
    sampler = PKSampler(LABELS, p=5, k=3, batches=30, seed=2)
    saw_repeat = False
    for batch in _batches(sampler):
        for i in range(5):
            block = batch[i * 3 : (i + 1) * 3]
            if np.sum(LABELS == LABELS[block[0]]) >= 3:
                assert len(set(block)) == 3
            else:
                saw_repeat |= len(set(block)) < 3  # 2-image class drawn with replacement
    assert saw_repeat


def test_same_seed_and_epoch_give_the_same_batches():
    a = _batches(PKSampler(LABELS, p=3, k=2, batches=5, seed=7), epoch=4)
    b = _batches(PKSampler(LABELS, p=3, k=2, batches=5, seed=7), epoch=4)
    assert a == b
    sampler = PKSampler(LABELS, p=3, k=2, batches=5, seed=7)
    assert _batches(sampler, 4) == _batches(sampler, 4) == a  # iterating again replays the epoch


def test_epochs_and_seeds_draw_different_batches():
    sampler = PKSampler(LABELS, p=3, k=2, batches=5, seed=7)
    assert _batches(sampler, 0) != _batches(sampler, 1)
    assert _batches(sampler, 0) != _batches(PKSampler(LABELS, p=3, k=2, batches=5, seed=8), 0)


def test_length_is_the_number_of_batches():
    sampler = PKSampler(LABELS, p=2, k=2, batches=7)
    assert len(sampler) == len(_batches(sampler)) == 7
    assert len(PKSampler(LABELS, p=2, k=2)) == LABELS.size // 4  # default: N // (p * k)
    assert len(PKSampler(LABELS, p=5, k=5)) == 1  # at least one


@pytest.mark.parametrize(
    "p, k, match",
    [
        (6, 2, r"only 5 classes have >= 2 images, but p=6"),  # 6 classes, but one is a singleton
        (2, 1, r"p >= 2 and k >= 2, got p=2, k=1"),
        (1, 2, r"p >= 2 and k >= 2, got p=1, k=2"),
    ],
)
def test_bad_p_or_k_raises(p: int, k: int, match: str):
    with pytest.raises(ValueError, match=match):
        PKSampler(LABELS, p=p, k=k)


def test_groups_per_batch_draws_siblings():
    labels = np.repeat(np.arange(12), 3)
    groups = np.repeat(np.arange(3), 4)  # 3 "alphabets" of 4 characters
    sampler = PKSampler(labels, p=4, k=2, batches=30, seed=0, groups=groups, groups_per_batch=2)
    seen = set()
    for batch in _batches(sampler):
        classes = np.unique(labels[batch])
        per_group = np.bincount(groups[classes], minlength=3)
        assert classes.size == 4 and sorted(per_group.tolist()) == [0, 2, 2]  # 2 siblings from each of 2 groups
        seen.add(tuple(np.flatnonzero(per_group)))
    assert len(seen) == 3  # every pair of groups comes up
    # a group smaller than its share is topped up from the others; p distinct classes still
    small = PKSampler(np.repeat(np.arange(4), 2), p=4, k=2, batches=5, groups=np.array([0, 0, 0, 1]), groups_per_batch=2)
    assert all(len(set(np.repeat(np.arange(4), 2)[b].tolist())) == 4 for b in _batches(small))
    with pytest.raises(InputError, match="groups-per-batch 4"):
        PKSampler(labels, p=4, k=2, groups=groups, groups_per_batch=4)


def test_class_groups_of_rotated_characters():
    from siamese_trainer.tasks.image_folder import class_groups as _class_groups

    g = _class_groups(["A/c1", "A/c2", "B/c1"], rotated=True)  # label 4 * c + r
    assert g.size == 12 and g[0] == g[4] != g[8] and g[0] != g[1] and g[1] == g[5]
    assert _class_groups(["A/c1", "A/c2", "B/c1"], rotated=False).tolist() == [0, 0, 1]
