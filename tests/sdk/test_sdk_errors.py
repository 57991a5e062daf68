"""Bad input to the SDK: each case raises the package's own error with a one-line, actionable message."""

from __future__ import annotations

import numpy as np
import pytest
import siamese_sdk
from siamese_sdk import BundleError, InputError, ProviderError, SiameseError


@pytest.fixture(scope="module")
def model(bundle):
    return siamese_sdk.load(bundle, variant="fp32")


def one_line(exc: pytest.ExceptionInfo) -> str:
    msg = str(exc.value)
    assert "\n" not in msg and isinstance(exc.value, SiameseError)
    return msg


@pytest.mark.parametrize(
    "make, expect",
    [
        (lambda: np.zeros((2, 28, 28), np.float32), "rank 3"),
        (lambda: np.zeros((1, 28, 28), np.float32), "add the batch axis"),
        (lambda: np.zeros((2, 3, 28, 28), np.float32), "expected inputs of shape"),
        (lambda: np.zeros((2, 28, 28, 1), np.float32), "channels last"),
        (lambda: np.zeros((0, 1, 28, 28), np.float32), "empty batch"),
        (lambda: np.zeros((2, 1, 28, 28), np.uint8), "dtype uint8"),
        (lambda: np.full((2, 1, 28, 28), np.nan, np.float32), "NaN"),
        (lambda: np.full((2, 1, 28, 28), np.inf, np.float32), "Inf"),
        (lambda: [np.zeros((1, 28, 28), np.float32)], "np.stack"),
        (lambda: [], "no images"),
        (lambda: "does/not/exist.png", "image not found"),
    ],
)
def test_embed_bad_input(model, make, expect):
    with pytest.raises(InputError) as e:
        model.embed(make())
    assert expect in one_line(e)


def test_unreadable_and_truncated_images(model, tmp_path, tiny_data):
    bad = tmp_path / "notes.png"
    bad.write_text("not an image")
    with pytest.raises(InputError) as e:
        model.embed([bad])
    assert "not an image" in one_line(e)
    good = sorted(tiny_data.rglob("*.png"))[0].read_bytes()
    trunc = tmp_path / "trunc.png"
    trunc.write_bytes(good[: len(good) // 2])
    with pytest.raises(InputError) as e:
        model.embed([trunc])
    assert "truncated or corrupt" in one_line(e)
    with pytest.raises(InputError) as e:
        model.embed([tmp_path])
    assert "directory" in one_line(e)


def test_decompression_bomb_is_refused(model, tmp_path):
    from PIL import Image

    big = tmp_path / "bomb.png"
    Image.new("1", (10_000, 10_000)).save(big)  # 100 Mpixel, a few KB on disk
    with pytest.raises(InputError) as e:
        model.embed([big])
    assert "too large" in one_line(e)


def test_distance_and_verify_bad_input(model, tiny_data):
    d = model.embedding_dim
    with pytest.raises(InputError, match="equal batch sizes"):
        model.distance(np.zeros((2, d), np.float32), np.zeros((3, d), np.float32))
    with pytest.raises(InputError, match=rf"\(N, {d}\)"):
        model.distance(np.zeros((2, d + 1), np.float32), np.zeros((2, d + 1), np.float32))
    with pytest.raises(InputError, match="NaN"):
        model.distance_matrix(np.full((1, d), np.nan, np.float32), np.zeros((2, d), np.float32))
    imgs = sorted(tiny_data.rglob("*.png"))
    with pytest.raises(InputError, match="as many x1 as x2"):
        model.verify(imgs[:2], imgs[:3])
    with pytest.raises(InputError, match="below 0"):
        model.verify(imgs[:1], imgs[1:2], threshold=-1.0)
    with pytest.raises(InputError, match="operating point"):
        model.verify(imgs[:1], imgs[1:2], operating_point="far_1e-9")
    with pytest.raises(InputError, match="not both"):
        model.verify(imgs[:1], imgs[1:2], threshold=0.5, operating_point="eer")
    with pytest.raises(InputError, match="batch_size"):
        model.embed(imgs[:1], batch_size=0)


def test_unknown_variant_and_providers(bundle):
    with pytest.raises(BundleError, match="variant 'fp16' not in this bundle"):
        siamese_sdk.load(bundle, variant="fp16")
    with pytest.raises(ProviderError, match="unknown"):
        siamese_sdk.load(bundle, providers=["warp-drive"])
    with pytest.raises(ProviderError, match="not available"):
        siamese_sdk.load(bundle, providers=["cuda"]) if "CUDAExecutionProvider" not in _available() else pytest.skip(
            "CUDA present"
        )
    with pytest.raises(InputError, match="threads"):
        siamese_sdk.load(bundle, threads=0)


def _available() -> list[str]:
    import onnxruntime

    return onnxruntime.get_available_providers()


def test_broken_onnxruntime_mix_is_detected(bundle, tmp_path, monkeypatch):
    """A second onnxruntime build's metadata next to the real one: load refuses with the fix."""
    import sys

    dist = tmp_path / "onnxruntime_gpu-1.99.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: onnxruntime-gpu\nVersion: 1.99.0\n")
    monkeypatch.setattr(sys, "path", [str(tmp_path), *sys.path])
    with pytest.raises(ProviderError) as e:
        siamese_sdk.load(bundle)
    msg = one_line(e)
    assert "onnxruntime, onnxruntime-gpu" in msg and "pip uninstall -y" in msg
