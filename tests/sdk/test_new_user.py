"""What a new user meets first, on the checked-in golden bundle (no torch): file modes of outputs, swapped
arguments, variant mismatches, iterables passed to ``embed``, ``--version``."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner
from siamese_sdk.cli import main as siamese

GOLDEN = next(d / "data" / "golden" for d in Path(__file__).resolve().parents if (d / "data" / "golden").is_dir())
BUNDLE = GOLDEN / "bundle"
IMAGES = sorted(str(p) for p in (GOLDEN / "images").glob("*.png"))


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield 0o022
    os.umask(old)


def test_atomic_writes_get_the_umask_mode_not_0600(tmp_path, umask_022):
    from siamese_sdk.atomic import atomic_directory, write_bytes_atomic, write_text_atomic

    assert _mode(write_text_atomic(tmp_path / "manifest.json", "{}")) == 0o644
    assert _mode(write_bytes_atomic(tmp_path / "secret", b"k", mode=0o600)) == 0o600
    with atomic_directory(tmp_path / "bundle") as d:
        (d / "f").write_text("x")
    assert _mode(tmp_path / "bundle") == 0o755
    os.umask(0o077)
    assert _mode(write_text_atomic(tmp_path / "private.json", "{}")) == 0o600


def test_cli_outputs_are_not_0600_but_private_keys_are(tmp_path, umask_022):
    r = CliRunner().invoke(siamese, ["embed", str(BUNDLE), *IMAGES, "-o", str(tmp_path / "e.npy")])
    assert r.exit_code == 0, r.output
    assert _mode(tmp_path / "e.npy") == _mode(tmp_path / "e.paths.txt") == 0o644
    r = CliRunner().invoke(siamese, ["gallery", str(BUNDLE), *IMAGES, "-o", str(tmp_path / "g.npz")])
    assert r.exit_code == 0, r.output
    assert _mode(tmp_path / "g.npz") == 0o644
    pytest.importorskip("cryptography")
    r = CliRunner().invoke(siamese, ["keygen", "-o", str(tmp_path / "pub")])
    assert r.exit_code == 0, r.output
    assert _mode(tmp_path / "pub.key") == 0o600 and _mode(tmp_path / "pub.pub") == 0o644


def test_version_on_siamese_and_siamese_export():
    import siamese_sdk

    r = CliRunner().invoke(siamese, ["--version"])
    assert r.exit_code == 0 and r.output.strip() == f"siamese, version {siamese_sdk.__version__}", r.output
    from siamese_export.cli import main as export_main

    r = CliRunner().invoke(export_main, ["--version"])
    assert r.exit_code == 0 and r.output.strip() == f"siamese-export, version {siamese_sdk.__version__}", r.output


def test_gallery_of_another_variant_names_the_variant_and_the_fix(tmp_path):
    g = tmp_path / "g.npz"
    r = CliRunner().invoke(siamese, ["gallery", str(BUNDLE), *IMAGES, "-o", str(g), "--variant", "int8"])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(siamese, ["search", str(BUNDLE), str(g), IMAGES[0], "--variant", "fp32"])
    assert r.exit_code == 1 and "Traceback" not in r.output
    line = r.output.strip()
    assert len(line.splitlines()) == 1 and line.startswith("Error: "), r.output
    assert "built with variant int8" in line and "loaded as fp32" in line and "--variant int8" in line, line
    r = CliRunner().invoke(siamese, ["search", str(BUNDLE), str(g), IMAGES[0], "--variant", "int8"])
    assert r.exit_code == 0, r.output


def test_embed_takes_generators_and_iterators_in_order_and_refuses_unordered():
    import numpy as np
    import siamese_sdk
    from siamese_sdk.errors import InputError

    model = siamese_sdk.load(BUNDLE, variant="fp32")
    want = model.embed(IMAGES)
    np.testing.assert_array_equal(model.embed(p for p in IMAGES), want)
    np.testing.assert_array_equal(model.embed(iter(IMAGES)), want)
    np.testing.assert_array_equal(model.embed(map(Path, IMAGES), batch_size=2), want)
    for bad, word in ((set(IMAGES), "set"), (dict.fromkeys(IMAGES), "dict"), (5, "int"), ([IMAGES[0], 5], "int")):
        with pytest.raises(InputError) as e:
            model.embed(bad)
        assert word in str(e.value) and len(str(e.value).splitlines()) == 1, e.value
    with pytest.raises(InputError, match="no images"):
        model.embed(p for p in ())


def _error_line(r) -> str:
    assert r.exit_code == 1 and "Traceback" not in r.output, r.output
    lines = [line for line in r.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), r.output
    return lines[0]


def test_search_with_gallery_and_query_swapped_names_the_order(tmp_path):
    import numpy as np

    g = tmp_path / "g.npz"
    assert CliRunner().invoke(siamese, ["gallery", str(BUNDLE), *IMAGES, "-o", str(g)]).exit_code == 0
    line = _error_line(CliRunner().invoke(siamese, ["search", str(BUNDLE), IMAGES[0], str(g)]))
    assert "PNG image, not a gallery (arguments swapped?)" in line and "siamese search BUNDLE GALLERY.npz QUERY" in line
    assert "pickle" not in line and "corrupt" not in line
    jpeg = tmp_path / "probe.jpg"
    from PIL import Image

    Image.open(IMAGES[0]).convert("RGB").save(jpeg)
    assert "JPEG image" in _error_line(CliRunner().invoke(siamese, ["search", str(BUNDLE), str(jpeg), str(g)]))
    np.save(tmp_path / "e.npy", np.zeros((2, 8), np.float32))
    line = _error_line(CliRunner().invoke(siamese, ["search", str(BUNDLE), str(tmp_path / "e.npy"), IMAGES[0]]))
    assert ".npy array" in line and "siamese gallery BUNDLE IMAGES... -o GALLERY.npz" in line
    np.savez(tmp_path / "other.npz", embeddings=np.zeros((2, 8), np.float32))
    line = _error_line(CliRunner().invoke(siamese, ["search", str(BUNDLE), str(tmp_path / "other.npz"), IMAGES[0]]))
    assert "an .npz of embeddings, not a siamese gallery" in line and "siamese gallery BUNDLE" in line


def test_gallery_load_of_an_image_says_what_it_is():
    from siamese_sdk.errors import BundleError
    from siamese_sdk.gallery import Gallery

    with pytest.raises(BundleError, match="is a PNG image, not a gallery"):
        Gallery.load(IMAGES[0])


def test_a_200x120_rgb_jpeg_is_converted_and_stretched_as_the_docs_say(tmp_path):
    """docs/deploy.md, "How an image file becomes an input": channels, then a stretching resize, scale, mean, std."""
    import numpy as np
    import siamese_sdk
    from PIL import Image

    rng = np.random.default_rng(0)
    path = tmp_path / "wide.jpg"
    Image.fromarray(rng.integers(0, 256, (120, 200, 3), dtype=np.uint8), "RGB").save(path, quality=90)
    model = siamese_sdk.load(BUNDLE, variant="fp32")
    pp = model.preprocess_spec()
    assert (pp.channels, pp.size) == (1, (28, 28))
    img = Image.open(path).convert("L").resize((pp.size[1], pp.size[0]), Image.Resampling.BILINEAR)
    want = (np.asarray(img, np.float32) * np.float32(pp.scale) - pp.mean[0]) / pp.std[0]
    np.testing.assert_allclose(model.preprocess(str(path))[0, 0], want, atol=1e-6)
    assert model.embed(str(path)).shape == (1, model.embedding_dim)
