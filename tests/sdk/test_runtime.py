"""``siamese_sdk.runtime`` on a two-branch bundle: one ``EncoderRunner`` per branch, one set of heads, nothing
built recursively; ``verify`` runs x1 through branch a and x2 through branch b."""

from __future__ import annotations


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
