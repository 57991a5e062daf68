"""``siamese_sdk.runtime`` on a two-branch bundle: one ``EncoderRunner`` per branch, one set of heads, nothing
built recursively; ``verify`` runs x1 through branch a and x2 through branch b."""

from __future__ import annotations

import numpy as np
import siamese_sdk
from siamese_sdk.runtime.encoder import EncoderRunner


def test_two_branches_are_two_runners_and_one_set_of_heads(pseudo_run, tiny_data):
    _, bundle, sketches = pseudo_run
    model = siamese_sdk.load(bundle, variant="fp32")
    assert list(model._encoders) == ["a", "b"] and all(isinstance(e, EncoderRunner) for e in model._encoders.values())
    assert model._pair == (model._encoders["a"], model._encoders["b"]) and model.input is None
    assert not any(isinstance(v, siamese_sdk.SiameseModel) for v in vars(model).values())
    assert model.preprocess_spec("a").size == (28, 28) and model.input_spec("b").preprocess.size == (36, 36)
    photos = sorted(tiny_data.rglob("*.png"))[:3]
    inverted = [sketches / p.relative_to(tiny_data) for p in photos]
    r = model.verify(photos, inverted, threshold=1.0)
    d = model.distance(model.embed(photos, branch="a"), model.embed(inverted, branch="b"))
    np.testing.assert_allclose(r.scores, d, rtol=1e-5, atol=1e-6)
    assert np.array_equal(r.same, model.manifest.score.is_match(d, 1.0))


def test_cpu_run_items():
    from siamese_sdk.format.inputs import ImageInput, Preprocess
    from siamese_sdk.runtime.encoder import cpu_run_items

    def spec(channels: int, px: int) -> ImageInput:
        return ImageInput("images", Preprocess(size=(px, px), channels=channels, mean=(0.5,) * channels, std=(0.5,) * channels))

    cpu = ["CPUExecutionProvider"]
    assert cpu_run_items(spec(1, 28), cpu, None) == 8  # 8192 values // 784 = 10 -> 8
    assert cpu_run_items(spec(3, 105), cpu, None) is None  # bigger than half the budget: run as asked
    assert cpu_run_items(spec(1, 28), ["CUDAExecutionProvider", *cpu], None) is None
    assert cpu_run_items(spec(1, 28), cpu, 4) is None  # a fixed batch keeps its runs
