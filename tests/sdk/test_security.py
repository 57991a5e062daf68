"""Bundle signatures, sealed files and path checks (``siamese_sdk.security``): happy paths and every refusal.

The bundles here are tiny fake folders (a manifest.json plus small files) so nothing needs training; the
ONNX files are real ones made with the ``onnx`` package (skipped when it is not installed).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from siamese_sdk.errors import BundleError, ExtraMissingError, InputError
from siamese_sdk.security import (
    check_external_data,
    check_manifest_paths,
    external_data_locations,
    is_sealed,
    key_id,
    keygen,
    onnx_refs,
    seal,
    sealed,
    sign_bundle,
    signature_status,
    signing,
    trusted_keys_from_env,
    unseal,
    verify_bundle,
)
from siamese_sdk.tools.onnx_writer import field


@pytest.fixture
def crypto():
    """Skip where the ``signing`` extra (cryptography) is not installed; the stdlib-only parts still run."""
    return pytest.importorskip("cryptography")


def _crypto_for(encrypt: bool) -> None:
    """Encryption needs the ``signing`` extra; authenticate-only runs everywhere."""
    if encrypt:
        pytest.importorskip("cryptography")


@pytest.fixture
def onnx_mod():
    """Real ONNX files need the ``onnx`` package (tests only: the sdk never imports it)."""
    return pytest.importorskip("onnx")


# ---- fixtures -------------------------------------------------------------------------------------------------
def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def _write_manifest(root: Path, m: dict) -> None:
    m["files"] = {name: _sha(root / name) for name in sorted(m["files"])}
    (root / "manifest.json").write_text(json.dumps(m, indent=2), encoding="utf-8")


def make_bundle(root: Path) -> Path:
    """A fake bundle: three small 'ONNX' files, a tokenizer and a manifest that hashes them."""
    root.mkdir(parents=True)
    for name, data in {
        "encoder.fp32.onnx": b"encoder",
        "head.pairwise.onnx": b"pair",
        "head.matrix.onnx": b"matrix",
        "tokenizer.json": b"{}",
    }.items():
        (root / name).write_bytes(data)
    m = {
        "format": "siamese-bundle",
        "format_version": 1,
        "metric": "cosine",
        "input": {"kind": "text", "tokenizer": "tokenizer.json"},
        "variants": {"fp32": {"file": "encoder.fp32.onnx", "thresholds": {"eer": 0.42, "far_1e-3": 0.2}}},
        "heads": {"pairwise": "head.pairwise.onnx", "matrix": "head.matrix.onnx"},
        "files": ["encoder.fp32.onnx", "head.pairwise.onnx", "head.matrix.onnx", "tokenizer.json"],
    }
    _write_manifest(root, m)
    return root


def hashes_ok(root: Path) -> bool:
    """What the loader's ``verify_files`` does: every listed file matches its sha256."""
    m = json.loads((root / "manifest.json").read_text())
    return all(_sha(root / n) == d for n, d in m["files"].items())


@pytest.fixture
def no_config(tmp_path, monkeypatch):
    """No trusted keys configured: an empty XDG config home and no environment variable."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv(signing.ENV_VAR, raising=False)


@pytest.fixture
def keys(tmp_path, crypto):
    """Two key pairs: the publisher's and an attacker's."""
    (tmp_path / "keys").mkdir()
    return {"pub": keygen(tmp_path / "keys" / "publisher"), "evil": keygen(tmp_path / "keys" / "attacker")}


@pytest.fixture
def signed(tmp_path, keys):
    b = make_bundle(tmp_path / "bundle")
    sign_bundle(b, keys["pub"][0])
    return b


def _one_line(exc: pytest.ExceptionInfo) -> str:
    msg = str(exc.value)
    assert "\n" not in msg
    return msg


# ---- keys -----------------------------------------------------------------------------------------------------
def test_keygen_writes_private_0600_and_public(tmp_path, crypto):
    priv, pub = keygen(tmp_path / "k" / "me")
    assert (priv.name, pub.name) == ("me.key", "me.pub")
    assert stat.S_IMODE(priv.stat().st_mode) == 0o600
    assert priv.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    assert pub.read_bytes().startswith(b"-----BEGIN PUBLIC KEY-----")
    kid = key_id(pub)
    assert len(kid) == 16 and int(kid, 16) >= 0
    raw = signing.load_public_key(pub).public_bytes(*_raw_formats())
    assert kid == hashlib.sha256(raw).hexdigest()[:16] == key_id(raw)


def _raw_formats():
    from cryptography.hazmat.primitives import serialization as ser

    return ser.Encoding.Raw, ser.PublicFormat.Raw


def test_keygen_refuses_to_overwrite(tmp_path, crypto):
    priv, pub = keygen(tmp_path / "me")
    before = priv.read_bytes()
    with pytest.raises(InputError, match="already exists"):
        keygen(tmp_path / "me")
    pub.unlink()
    with pytest.raises(InputError, match="already exists"):  # the private half alone is enough to refuse
        keygen(tmp_path / "me.key")
    assert priv.read_bytes() == before


def test_passphrase_protected_private_key(tmp_path, crypto):
    priv, pub = keygen(tmp_path / "me", passphrase="correct horse")
    assert b"ENCRYPTED" in priv.read_bytes()
    b = make_bundle(tmp_path / "b")
    with pytest.raises(InputError, match="encrypted"):
        sign_bundle(b, priv)
    with pytest.raises(InputError, match="passphrase is wrong"):
        sign_bundle(b, priv, passphrase="wrong")
    sign_bundle(b, priv, passphrase="correct horse")
    assert verify_bundle(b, [pub]) == key_id(pub)


# ---- signed bundles ------------------------------------------------------------------------------------------
def test_sign_and_verify(signed, keys):
    kid = key_id(keys["pub"][1])
    assert verify_bundle(signed, [keys["pub"][1]]) == kid
    assert verify_bundle(signed, [str(keys["pub"][1])]) == kid
    doc = json.loads((signed / "manifest.sig").read_text())
    assert doc["key_id"] == kid and doc["algorithm"] == "ed25519" and doc["signed_file"] == "manifest.json"
    assert "manifest.sig" not in json.loads((signed / "manifest.json").read_text())["files"]
    assert sorted(p.name for p in signed.iterdir() if p.name.startswith(".")) == []  # atomic write left no temp file


def test_signature_format_is_as_documented(signed, keys):
    """Ed25519 over SIGNED_PREFIX + the exact manifest bytes: checkable with nothing but cryptography."""
    doc = json.loads((signed / "manifest.sig").read_text())
    pub = signing.load_public_key(keys["pub"][1])
    pub.verify(base64.b64decode(doc["signature"]), b"siamese-bundle-manifest-v1\n" + (signed / "manifest.json").read_bytes())
    assert doc["manifest_sha256"] == _sha(signed / "manifest.json")


def test_unsigned_bundle_is_refused(tmp_path, keys):
    b = make_bundle(tmp_path / "b")
    with pytest.raises(BundleError, match="unsigned") as e:
        verify_bundle(b, [keys["pub"][1]])
    assert key_id(keys["pub"][1]) in _one_line(e)


def test_bundle_signed_by_another_key_is_refused(tmp_path, keys):
    b = make_bundle(tmp_path / "b")
    sign_bundle(b, keys["evil"][0])
    with pytest.raises(BundleError, match="not among the trusted keys") as e:
        verify_bundle(b, [keys["pub"][1]])
    assert key_id(keys["evil"][1]) in _one_line(e)


def test_changed_threshold_with_rehashed_manifest_is_refused(signed, keys):
    m = json.loads((signed / "manifest.json").read_text())
    m["variants"]["fp32"]["thresholds"]["eer"] = 1.9  # accept almost anyone
    m["files"] = list(m["files"])
    _write_manifest(signed, m)  # the attacker recomputes the hash list: the file check alone passes
    assert hashes_ok(signed)
    with pytest.raises(BundleError, match="changed after it was signed by key") as e:
        verify_bundle(signed, [keys["pub"][1]])
    assert key_id(keys["pub"][1]) in _one_line(e)


def test_swapped_encoder_with_matching_hash_list_is_refused(signed, keys):
    (signed / "encoder.fp32.onnx").write_bytes(b"attacker's encoder")
    # without touching the manifest the signature still holds, and the loader's hash check refuses the file
    assert verify_bundle(signed, [keys["pub"][1]]) and not hashes_ok(signed)
    m = json.loads((signed / "manifest.json").read_text())
    m["files"] = list(m["files"])
    _write_manifest(signed, m)
    assert hashes_ok(signed)
    with pytest.raises(BundleError, match="changed after it was signed"):
        verify_bundle(signed, [keys["pub"][1]])


def test_forged_signature_under_a_trusted_key_id_is_refused(signed, keys):
    """The attacker re-signs the changed manifest with their key but claims the publisher's key id."""
    mpath = signed / "manifest.json"
    mpath.write_bytes(mpath.read_bytes().replace(b"0.42", b"1.9"))
    forged = json.loads(signing.signature_document(mpath.read_bytes(), signing.load_private_key(keys["evil"][0])))
    forged["key_id"] = key_id(keys["pub"][1])
    (signed / "manifest.sig").write_text(json.dumps(forged))
    with pytest.raises(BundleError, match="invalid .forged or corrupt") as e:
        verify_bundle(signed, [keys["pub"][1]])
    _one_line(e)


@pytest.mark.parametrize(
    "edit, match",
    [
        (lambda d: "not json", "not JSON"),
        (lambda d: json.dumps({**d, "format": "other"}), "format is not"),
        (lambda d: json.dumps({**d, "format_version": 2}), "format_version 2 unsupported"),
        (lambda d: json.dumps({**d, "algorithm": "rsa"}), "algorithm 'rsa' unsupported"),
        (lambda d: json.dumps({**d, "key_id": "xyz"}), "key_id 'xyz'"),
        (lambda d: json.dumps({**d, "signature": "!!!"}), "not base64"),
        (lambda d: json.dumps({**d, "signature": base64.b64encode(b"x" * 10).decode()}), "10 bytes"),
        (lambda d: json.dumps([1, 2]), "format is not"),
    ],
)
def test_bad_signature_file_is_refused(signed, keys, edit, match):
    spath = signed / "manifest.sig"
    spath.write_text(edit(json.loads(spath.read_text())))
    with pytest.raises(BundleError, match=match) as e:
        verify_bundle(signed, [keys["pub"][1]])
    assert _one_line(e).startswith("bad signature file")


def test_sign_refuses_a_manifest_that_lists_the_signature(tmp_path, keys):
    b = make_bundle(tmp_path / "b")
    (b / "manifest.sig").write_text("x")
    m = json.loads((b / "manifest.json").read_text())
    m["files"] = [*m["files"], "manifest.sig"]
    _write_manifest(b, m)
    with pytest.raises(BundleError, match="cannot be part of what it signs"):
        sign_bundle(b, keys["pub"][0])


def test_empty_or_missing_trust_list_refuses(signed, tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(BundleError, match="no trusted public keys"):
        verify_bundle(signed, [])
    with pytest.raises(BundleError, match="no trusted public keys"):
        verify_bundle(signed, [tmp_path / "empty"])
    with pytest.raises(BundleError, match="does not exist"):
        verify_bundle(signed, [tmp_path / "nope.pub"])
    (tmp_path / "junk.pub").write_text("not a key")
    with pytest.raises(BundleError, match="not a PEM public key"):
        verify_bundle(signed, [tmp_path / "junk.pub"])


def test_key_rotation(tmp_path, keys):
    """Sign with the new key, trust both while old bundles are in the field, then drop the old key."""
    old_pub, new_priv, new_pub = keys["pub"][1], *keygen(tmp_path / "new")
    old_b, new_b = make_bundle(tmp_path / "old_b"), make_bundle(tmp_path / "new_b")
    sign_bundle(old_b, keys["pub"][0])
    sign_bundle(new_b, new_priv)
    trust = tmp_path / "trust"
    trust.mkdir()
    for p in (old_pub, new_pub):
        (trust / p.name).write_bytes(p.read_bytes())
    assert verify_bundle(old_b, [trust]) == key_id(old_pub)
    assert verify_bundle(new_b, [trust]) == key_id(new_pub)
    (trust / old_pub.name).unlink()
    assert verify_bundle(new_b, [trust]) == key_id(new_pub)
    with pytest.raises(BundleError, match="not among the trusted keys"):
        verify_bundle(old_b, [trust])


def test_resigning_replaces_the_signature(signed, keys, tmp_path):
    new_priv, new_pub = keygen(tmp_path / "new")
    sign_bundle(signed, new_priv)
    assert verify_bundle(signed, [new_pub]) == key_id(new_pub)
    with pytest.raises(BundleError, match="not among"):
        verify_bundle(signed, [keys["pub"][1]])


# ---- trusted keys from the environment / config ------------------------------------------------------------------
def test_trusted_keys_from_env_and_config(tmp_path, keys, signed, monkeypatch, no_config):
    assert trusted_keys_from_env() == []
    pub, evil = keys["pub"][1], keys["evil"][1]
    cfg = tmp_path / "xdg" / "siamese" / "trusted_keys"
    cfg.mkdir(parents=True)
    with pytest.raises(BundleError, match="holds no .pub files"):  # configured but empty: refuse, never "accept all"
        trusted_keys_from_env()
    (cfg / "attacker.pub").write_bytes(evil.read_bytes())
    assert trusted_keys_from_env() == [cfg / "attacker.pub"]
    with pytest.raises(BundleError, match="not among"):
        verify_bundle(signed, trusted_keys_from_env())
    # the environment variable wins over the config directory (they are not merged)
    other = tmp_path / "other"
    other.mkdir()
    monkeypatch.setenv(signing.ENV_VAR, os.pathsep.join([str(pub), str(other)]))
    assert trusted_keys_from_env() == [pub]
    assert verify_bundle(signed, trusted_keys_from_env()) == key_id(pub)
    monkeypatch.setenv(signing.ENV_VAR, str(keys["pub"][1].parent))  # a directory of .pub files
    assert sorted(p.name for p in trusted_keys_from_env()) == ["attacker.pub", "publisher.pub"]
    monkeypatch.setenv(signing.ENV_VAR, str(tmp_path / "missing.pub"))
    with pytest.raises(BundleError, match="does not exist"):
        trusted_keys_from_env()
    monkeypatch.setenv(signing.ENV_VAR, str(other))
    with pytest.raises(BundleError, match="holds no .pub files"):
        trusted_keys_from_env()
    monkeypatch.setenv(signing.ENV_VAR, "")  # empty: unset, the config directory applies again
    assert trusted_keys_from_env() == [cfg / "attacker.pub"]


def test_trust_status(tmp_path, keys, monkeypatch, no_config):
    assert signing.trust_status() == {"extra": True, "source": None, "keys": [], "error": None}
    monkeypatch.setenv(signing.ENV_VAR, str(keys["pub"][1]))
    st = signing.trust_status()
    assert st["source"] == "SIAMESE_TRUSTED_KEYS" and st["keys"] == [
        {"path": str(keys["pub"][1]), "key_id": key_id(keys["pub"][1])}
    ]
    monkeypatch.setenv(signing.ENV_VAR, str(tmp_path / "gone"))
    assert "does not exist" in signing.trust_status()["error"]


def test_config_dir_defaults_to_home(monkeypatch, tmp_path):
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert signing.config_keys_dir() == tmp_path / ".config" / "siamese" / "trusted_keys"


def test_signature_status(tmp_path, keys, signed, no_config):
    kid = key_id(keys["pub"][1])
    st = signature_status(make_bundle(tmp_path / "plain"))
    assert (
        st["signed"] is False
        and st["verified"] is None
        and st["checked_against"] == "not checked"
        and st["summary"] == "unsigned"
    )
    st = signature_status(signed)
    assert (st["signed"], st["key_id"], st["verified"], st["checked_against"]) == (True, kid, None, "not checked")
    st = signature_status(signed, [keys["pub"][1]])
    assert st["verified"] is True and st["checked_against"] == [kid] and kid in st["summary"]
    st = signature_status(signed, [keys["evil"][1]])
    assert st["verified"] is False and st["summary"].startswith("REFUSED") and kid in st["error"]
    (signed / "manifest.sig").write_text("garbage")
    st = signature_status(signed)
    assert st["signed"] is True and st["verified"] is False and "not JSON" in st["error"]
    json.dumps(signature_status(signed))  # JSON-ready for siamese info --json


# ---- without the extra ---------------------------------------------------------------------------------------
def test_import_does_not_load_cryptography():
    code = "import sys, siamese_sdk.security as s; s.seal(b'x', b'k' * 32); assert 'cryptography' not in sys.modules, sorted(sys.modules)"
    subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})


def test_missing_extra_raises_with_install_hint(tmp_path, monkeypatch, no_config):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "cryptography" else real(name, *a))
    with pytest.raises(ExtraMissingError, match=r"siamese-sdk\[signing\]"):
        keygen(tmp_path / "k")
    with pytest.raises(ExtraMissingError, match=r"siamese-sdk\[signing\]"):
        seal(b"data", b"k" * 32, encrypt=True)
    assert unseal(seal(b"data", b"k" * 32), b"k" * 32) == b"data"  # authenticate-only needs the stdlib only
    b = make_bundle(tmp_path / "b")
    (b / "manifest.sig").write_text(
        json.dumps(
            {
                "format": "siamese-signature",
                "format_version": 1,
                "algorithm": "ed25519",
                "key_id": "0" * 16,
                "signature": base64.b64encode(b"s" * 64).decode(),
            }
        )
    )
    (tmp_path / "whatever.pub").write_text("-----BEGIN PUBLIC KEY-----")
    st = signature_status(b, [tmp_path / "whatever.pub"])
    assert st["verified"] is None and "signing" in st["error"] and "not checked" in st["summary"]


# ---- sealed files --------------------------------------------------------------------------------------------
KEY = bytes(range(32))


@pytest.mark.parametrize("encrypt", [False, True])
def test_seal_round_trip_raw_key(encrypt):
    _crypto_for(encrypt)
    data = b"gallery bytes " * 50
    blob = seal(data, KEY, encrypt=encrypt)
    assert is_sealed(blob[:8]) and unseal(blob, KEY) == data
    assert (data in blob) is (not encrypt)  # encryption hides the templates at rest
    assert len(blob) == len(data) + (58 if encrypt else 62)
    assert seal(data, KEY, encrypt=encrypt) != blob  # fresh salt (and nonce) every time
    assert sealed.sealed_info(blob)["mode"] == ("aes-256-gcm" if encrypt else "hmac-sha256")
    assert unseal(seal(b"", KEY, encrypt=encrypt), KEY) == b""


@pytest.mark.parametrize("encrypt", [False, True])
def test_seal_passphrase_round_trip(encrypt):
    _crypto_for(encrypt)
    blob = seal(b"templates", "correct horse battery", encrypt=encrypt)
    assert sealed.sealed_info(blob)["kdf"] == "scrypt"
    assert unseal(blob, "correct horse battery") == b"templates"
    nfd = seal(b"t", "caf\u0065\u0301")  # the same passphrase typed on another OS (NFD): equal after NFC
    assert unseal(nfd, "caf\u00e9") == b"t"
    with pytest.raises(BundleError, match="wrong key, or the file was changed"):
        unseal(blob, "Correct horse battery")
    with pytest.raises(InputError, match="passphrase"):
        unseal(blob, KEY)


@pytest.mark.parametrize("encrypt", [False, True])
def test_every_flipped_byte_is_refused(encrypt):
    _crypto_for(encrypt)
    data = b"id=alice;vec=0123456789abcdef"
    blob = seal(data, KEY, encrypt=encrypt)
    for i in range(len(blob)):
        bad = bytearray(blob)
        bad[i] ^= 0x01
        # header bytes may turn into "wrong kind of key" or, without the extra, "encrypted: install it"
        with pytest.raises((BundleError, InputError, ExtraMissingError)) as e:
            unseal(bytes(bad), KEY)
        _one_line(e)
        if i >= sealed.HEADER_BYTES:
            assert e.type is BundleError and "wrong key, or the file was changed" in str(e.value)
    for cut in (0, 5, sealed.HEADER_BYTES, len(blob) - 1):
        with pytest.raises(BundleError):
            unseal(blob[:cut], KEY)


@pytest.mark.parametrize("encrypt", [False, True])
def test_wrong_key_is_refused(encrypt):
    _crypto_for(encrypt)
    blob = seal(b"data", KEY, encrypt=encrypt)
    with pytest.raises(BundleError, match="failed authentication") as e:
        unseal(blob, bytes(32))
    _one_line(e)
    with pytest.raises(InputError, match="32 bytes"):
        unseal(blob, b"short")
    with pytest.raises(InputError, match="sealed with the 32-byte raw key"):
        unseal(blob, "a passphrase")
    with pytest.raises(InputError, match="empty"):
        seal(b"x", "")
    with pytest.raises(InputError, match="32 bytes or a passphrase"):
        seal(b"x", 123)  # type: ignore[arg-type]


def test_sealed_header_is_checked():
    blob = bytearray(seal(b"x", KEY))
    with pytest.raises(BundleError, match="not sealed"):
        unseal(b"PK\x03\x04zipdata", KEY)
    blob[8] = 2
    with pytest.raises(BundleError, match="version 2"):
        unseal(bytes(blob), KEY)
    crafted = bytearray(seal(b"x", "pw"))
    crafted[11] = 30  # scrypt N = 2**30: a memory bomb
    with pytest.raises(BundleError, match="beyond"):
        unseal(bytes(crafted), "pw")


def test_read_sealed_for_loaders(tmp_path):
    plain, sealed_f = tmp_path / "plain.gallery", tmp_path / "sealed.gallery"
    plain.write_bytes(b"PK\x03\x04plain zip")
    sealed_f.write_bytes(seal(b"PK\x03\x04inner", KEY))
    assert sealed.read_sealed(plain, None) is None  # the caller reads it as before
    assert sealed.read_sealed(sealed_f, KEY, what="gallery g") == b"PK\x03\x04inner"
    with pytest.raises(BundleError, match="is sealed; pass its key"):
        sealed.read_sealed(sealed_f, None)
    with pytest.raises(BundleError, match="not sealed, but a key was given"):
        sealed.read_sealed(plain, KEY)
    with pytest.raises(BundleError, match="^gallery g failed authentication"):
        sealed.read_sealed(sealed_f, bytes(32), what="gallery g")


def test_sealed_gallery_npz_round_trip(crypto):
    buf = io.BytesIO()
    np.savez(buf, ids=np.array(["alice", "bob"]), vectors=np.eye(2, 8, dtype=np.float32))
    plain = buf.getvalue()
    assert not is_sealed(plain[:8])
    blob = seal(plain, "app secret", encrypt=True)
    with np.load(io.BytesIO(unseal(blob, "app secret")), allow_pickle=False) as z:
        assert list(z["ids"]) == ["alice", "bob"] and z["vectors"].shape == (2, 8)


# ---- external data and manifest paths ------------------------------------------------------------------------
def _external(t, location: str):
    from onnx import TensorProto

    t.ClearField("raw_data")
    t.data_location = TensorProto.EXTERNAL
    e = t.external_data.add()
    e.key, e.value = "location", location
    return t


def _model(*, init: str | None = None, const: str | None = None, sparse: str | None = None, sub: str | None = None):
    """An ``onnx.ModelProto``: Y = X + W, with W from an initializer (optionally external), plus optional externally
    stored tensors in a Constant node, a sparse initializer and an If subgraph's Constant."""
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.ones((1, 4), np.float32), "W")
    nodes = [helper.make_node("Add", ["X", "W"], ["Y"])]
    inits, sparse_inits = [_external(w, init) if init is not None else w], []
    if const is not None:
        c = _external(numpy_helper.from_array(np.zeros(4, np.float32), "c"), const)
        nodes.append(helper.make_node("Constant", [], ["C"], value=c))
    if sparse is not None:
        vals = _external(numpy_helper.from_array(np.ones(1, np.float32), "sv"), sparse)
        idx = numpy_helper.from_array(np.zeros(1, np.int64), "si")
        sparse_inits.append(helper.make_sparse_tensor(vals, idx, [4]))
    if sub is not None:
        sc = _external(numpy_helper.from_array(np.zeros(1, np.float32), "s"), sub)
        then_g = helper.make_graph(
            [helper.make_node("Constant", [], ["T"], value=sc)],
            "then",
            [],
            [helper.make_tensor_value_info("T", TensorProto.FLOAT, [1])],
        )
        else_g = helper.make_graph(
            [helper.make_node("Constant", [], ["E"], value=numpy_helper.from_array(np.ones(1, np.float32)))],
            "else",
            [],
            [helper.make_tensor_value_info("E", TensorProto.FLOAT, [1])],
        )
        nodes.append(helper.make_node("Constant", [], ["cond"], value=numpy_helper.from_array(np.array(True))))
        nodes.append(helper.make_node("If", ["cond"], ["Z"], then_branch=then_g, else_branch=else_g))
    g = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [1, 4])],
        inits,
        sparse_initializer=sparse_inits,
    )
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def _save(m, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(m.SerializeToString())
    return path


def test_plain_model_has_no_locations(tmp_path, onnx_mod):
    p = _save(_model(), tmp_path / "b" / "encoder.fp32.onnx")
    assert external_data_locations(p) == []
    check_external_data(p, tmp_path / "b", {"encoder.fp32.onnx"})


def test_locations_found_everywhere_like_onnx_finds_them(tmp_path, onnx_mod):
    m = _model(init="w.bin", const="c.bin", sparse="sv.bin", sub="sub/s.bin")
    from onnx.external_data_helper import _get_all_tensors

    theirs = {e.value for t in _get_all_tensors(m) for e in t.external_data if e.key == "location"}
    ours = external_data_locations(m.SerializeToString())
    assert set(ours) == {"w.bin", "c.bin", "sv.bin", "sub/s.bin"} and theirs <= set(ours)


def test_external_data_inside_the_bundle(tmp_path, onnx_mod):
    b = tmp_path / "b"
    b.mkdir()
    m = _model()
    onnx_mod.save_model(
        m, b / "encoder.fp32.onnx", save_as_external_data=True, location="encoder.fp32.onnx.data", size_threshold=0
    )
    assert external_data_locations(b / "encoder.fp32.onnx") == ["encoder.fp32.onnx.data"]
    check_external_data(b / "encoder.fp32.onnx", b, {"encoder.fp32.onnx", "encoder.fp32.onnx.data"})
    with pytest.raises(BundleError, match="does not hash") as e:
        check_external_data(b / "encoder.fp32.onnx", b, {"encoder.fp32.onnx"})
    _one_line(e)


def test_external_data_in_a_subfolder_is_named_relative_to_the_model(tmp_path, onnx_mod):
    b = tmp_path / "b"
    p = _save(_model(init="w.bin"), b / "a" / "enc.onnx")
    (b / "a" / "w.bin").write_bytes(b"x")
    check_external_data(p, b, {"a/enc.onnx", "a/w.bin"})
    with pytest.raises(BundleError, match="does not hash"):
        check_external_data(p, b, {"a/enc.onnx", "w.bin"})


def test_onnxruntime_reads_external_data_where_the_check_looks(tmp_path, onnx_mod):
    """The check resolves a location against the ONNX file's folder, as ONNX Runtime does."""
    ort = pytest.importorskip("onnxruntime")
    b = tmp_path / "b"
    (b / "a").mkdir(parents=True)
    onnx_mod.save_model(_model(), b / "a" / "enc.onnx", save_as_external_data=True, location="w.bin", size_threshold=0)
    check_external_data(b / "a" / "enc.onnx", b, {"a/enc.onnx", "a/w.bin"})
    sess = ort.InferenceSession(str(b / "a" / "enc.onnx"), providers=["CPUExecutionProvider"])
    (y,) = sess.run(None, {"X": np.zeros((1, 4), np.float32)})
    assert y.tolist() == [[1.0, 1.0, 1.0, 1.0]]


@pytest.mark.parametrize(
    "loc, match",
    [
        ("../outside.bin", "climbs out"),
        ("sub/../../outside.bin", "climbs out"),
        ("/etc/passwd", "absolute"),
        ("C:\\weights.bin", "absolute"),
        ("\\\\server\\share\\w.bin", "absolute"),
        ("", "empty"),
        ("sub\\w.bin", "backslash"),
    ],
)
@pytest.mark.parametrize("where", ["init", "const", "sparse", "sub"])
def test_external_data_outside_the_folder_is_refused(tmp_path, onnx_mod, loc, match, where):
    b = tmp_path / "b"
    p = _save(_model(**{where: loc}), b / "encoder.fp32.onnx")
    (tmp_path / "outside.bin").write_bytes(b"\0" * 16)
    with pytest.raises(BundleError, match=match) as e:
        check_external_data(p, b, {"encoder.fp32.onnx", loc})
    _one_line(e)


def test_absolute_path_inside_the_bundle_is_still_refused(tmp_path, onnx_mod):
    b = tmp_path / "b"
    (b).mkdir()
    (b / "w.bin").write_bytes(b"x")
    p = _save(_model(init=str((b / "w.bin").resolve())), b / "encoder.fp32.onnx")
    with pytest.raises(BundleError, match="absolute"):
        check_external_data(p, b, {"encoder.fp32.onnx", "w.bin"})


def test_external_data_through_a_symlink_is_refused(tmp_path, onnx_mod):
    b = tmp_path / "b"
    p = _save(_model(init="w.bin"), b / "encoder.fp32.onnx")
    (tmp_path / "secret.bin").write_bytes(b"\0" * 16)
    (b / "w.bin").symlink_to(tmp_path / "secret.bin")
    with pytest.raises(BundleError, match="symlink .* outside"):
        check_external_data(p, b, {"encoder.fp32.onnx", "w.bin"})
    (tmp_path / "d").mkdir()
    (b / "sub").symlink_to(tmp_path / "d", target_is_directory=True)
    p = _save(_model(init="sub/w.bin"), b / "encoder.fp32.onnx")
    with pytest.raises(BundleError, match="symlink"):
        check_external_data(p, b, {"encoder.fp32.onnx", "sub/w.bin"})


def test_model_outside_the_bundle_and_corrupt_models(tmp_path, onnx_mod):
    b = tmp_path / "b"
    b.mkdir()
    p = _save(_model(), tmp_path / "elsewhere.onnx")
    with pytest.raises(BundleError, match="outside the bundle folder"):
        check_external_data(p, b, set())
    data = _model(init="w.bin").SerializeToString()
    for bad in (data[: len(data) // 2], data[:-3], b"\x0f" * 8):
        with pytest.raises(BundleError, match="not a valid ONNX protobuf") as e:
            external_data_locations(bad)
        _one_line(e)
    m = _model(init="w.bin")
    del m.graph.initializer[0].external_data[:]  # EXTERNAL but no location
    with pytest.raises(BundleError, match="names no location"):
        external_data_locations(m.SerializeToString())


def test_deeply_nested_subgraphs_are_bounded():
    """A crafted file nests If bodies far deeper than any encoder (onnx itself cannot even build it): refused, no crash."""
    g = b""
    for _ in range(onnx_refs._MAX_DEPTH // 3 + 2):  # graph -> node (1) -> attribute (5) -> graph (6): 3 levels per If
        g = field(1, field(5, field(6, g)))
    with pytest.raises(BundleError, match="nested deeper"):
        external_data_locations(field(7, g))
    assert external_data_locations(field(7, field(1, field(5, field(6, b""))))) == []


def test_check_bundle_files(tmp_path, onnx_mod):
    b = make_bundle(tmp_path / "b")
    m = json.loads((b / "manifest.json").read_text())
    for name in ("encoder.fp32.onnx", "head.pairwise.onnx", "head.matrix.onnx"):
        _save(_model(), b / name)
    onnx_refs.check_bundle_files(m, b)
    _save(_model(const="../outside.bin"), b / "head.matrix.onnx")
    with pytest.raises(BundleError, match="head.matrix.onnx names external data '../outside.bin'"):
        onnx_refs.check_bundle_files(m, b)
    m["heads"]["matrix"] = "/abs/head.onnx"
    with pytest.raises(BundleError, match="heads.matrix"):
        onnx_refs.check_bundle_files(m, b)


def test_manifest_paths(tmp_path):
    b = make_bundle(tmp_path / "b")
    m = json.loads((b / "manifest.json").read_text())
    check_manifest_paths(m, b)
    fields = dict(onnx_refs.manifest_paths(m))
    assert fields["variants.fp32.file"] == "encoder.fp32.onnx" and fields["input.tokenizer"] == "tokenizer.json"
    assert fields["heads.matrix"] == "head.matrix.onnx"

    def refused(edit, match):
        d = json.loads(json.dumps(m))
        edit(d)
        with pytest.raises(BundleError, match=match) as e:
            check_manifest_paths(d, b)
        _one_line(e)

    refused(lambda d: d["variants"]["fp32"].update(file="/abs/encoder.onnx"), "variants.fp32.file .* absolute")
    refused(lambda d: d["heads"].update(matrix="../head.onnx"), r"heads.matrix .* climbs out")
    refused(lambda d: d["input"].update(tokenizer="other.json"), "does not hash")
    refused(lambda d: d["files"].update({"..\\x": "0" * 64}), "climbs out")
    refused(lambda d: d["variants"]["fp32"].update(file=7), "int, not a file name")
    refused(
        lambda d: d.update(branches={"a": {"input": {"tokenizer": "../t.json"}, "variants": {}}}), "branches.a.input.tokenizer"
    )
    (tmp_path / "real_head.onnx").write_bytes(b"pair")
    (b / "head.pairwise.onnx").unlink()
    (b / "head.pairwise.onnx").symlink_to(tmp_path / "real_head.onnx")
    with pytest.raises(BundleError, match="head.pairwise.onnx.* is a symlink"):
        check_manifest_paths(m, b)
