"""``siamese-export --sign KEY``: the bundle is signed before it is moved into place, and loads only with the key."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

pytest.importorskip("torch")
pytest.importorskip("cryptography")

import siamese_sdk  # noqa: E402
from siamese_export.cli import main as export_main  # noqa: E402
from siamese_sdk.cli import main as siamese  # noqa: E402
from siamese_sdk.errors import BundleError, InputError  # noqa: E402
from siamese_sdk.security import keygen  # noqa: E402

ROOT = next(d for d in Path(__file__).resolve().parents if (d / "pyproject.toml").is_file())
GOLDEN = ROOT / "tests" / "data" / "golden"


def test_export_sign_writes_a_signature_that_load_checks(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)  # the golden checkpoints name their data relative to the repository root
    monkeypatch.delenv("SIAMESE_TRUSTED_KEYS", raising=False)
    private, public = keygen(tmp_path / "publisher")
    _, other = keygen(tmp_path / "other")
    out = tmp_path / "bundle"
    ckpt = tmp_path / "model.pt"
    shutil.copy(GOLDEN / "image" / "model.pt", ckpt)
    result = CliRunner().invoke(export_main, [str(ckpt), "-o", str(out), "--sign", str(private)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert (out / "manifest.sig").is_file() and "signed: manifest.sig" in result.output
    assert siamese_sdk.load(out, trusted_keys=[public]).embedding_dim > 0
    with pytest.raises(BundleError, match="not among the trusted keys"):
        siamese_sdk.load(out, trusted_keys=[other])
    info = CliRunner().invoke(siamese, ["info", str(out), "--trusted-key", str(public)])
    assert info.exit_code == 0 and "signature" in info.output


def test_export_sign_refuses_a_bad_key_before_any_work(tmp_path):
    bad = tmp_path / "bad.key"
    bad.write_text("not a key")
    out = tmp_path / "bundle"
    result = CliRunner().invoke(export_main, [str(GOLDEN / "image" / "model.pt"), "-o", str(out), "--sign", str(bad)])
    assert result.exit_code != 0 and "not a PEM private key" in result.output and not out.exists()
    assert isinstance(result.exception, (SystemExit, InputError))
