"""Signed bundles, sealed galleries and path checks, end to end: the checked-in bundle, ``siamese_sdk.load``,
``Gallery.save/load`` and the ``siamese`` commands. numpy, onnxruntime, Pillow, click and the ``signing`` extra
(cryptography) only: ``test_venv.py`` runs this module in a fresh venv without torch or onnx.

Each test copies ``tests/data/golden/bundle`` into ``tmp_path``; the attacker's edits re-hash the manifest's
``files`` list, as someone who can write the bundle folder would.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import struct
from pathlib import Path

import numpy as np
import pytest
import siamese_sdk
from click.testing import CliRunner
from siamese_sdk import BundleError, Gallery, InputError
from siamese_sdk.cli import main
from siamese_sdk.security import ENV_VAR, SIGNATURE, generate_key, key_id, keygen, sign_bundle

GOLDEN = next(d / "data" / "golden" for d in Path(__file__).resolve().parents if (d / "data" / "golden").is_dir())
IMAGES = sorted(str(p) for p in (GOLDEN / "images").glob("*.png"))


@pytest.fixture(autouse=True)
def no_config(tmp_path, monkeypatch):
    """No trusted keys configured unless a test sets them: an empty config home, no environment variable."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv(ENV_VAR, raising=False)


@pytest.fixture
def crypto():
    """Signing needs the ``signing`` extra (installed in the torch-free venv run too)."""
    return pytest.importorskip("cryptography")


@pytest.fixture
def bundle(tmp_path) -> Path:
    return Path(shutil.copytree(GOLDEN / "bundle", tmp_path / "bundle"))


@pytest.fixture
def keys(tmp_path, crypto) -> dict[str, tuple[Path, Path]]:
    """``{"pub": (publisher.key, publisher.pub), "evil": (attacker.key, attacker.pub)}``."""
    (tmp_path / "keys").mkdir()
    return {"pub": keygen(tmp_path / "keys" / "publisher"), "evil": keygen(tmp_path / "keys" / "attacker")}


@pytest.fixture
def signed(bundle, keys) -> Path:
    sign_bundle(bundle, keys["pub"][0])
    return bundle


def rehash(bundle: Path, edit=lambda m: None) -> None:
    """What an attacker who can write the folder does: edit the manifest, then re-hash every listed file."""
    m = json.loads((bundle / "manifest.json").read_text())
    edit(m)
    m["files"] = {n: hashlib.sha256((bundle / n).read_bytes()).hexdigest() for n in m["files"]}
    (bundle / "manifest.json").write_text(json.dumps(m, indent=2) + "\n")


def one_line(e: pytest.ExceptionInfo) -> str:
    assert "\n" not in str(e.value)
    return str(e.value)


def kid(keys, who: str = "pub") -> str:
    return key_id(keys[who][1])


# ---- load(trusted_keys=) ------------------------------------------------------------------------------------------
def test_signed_bundle_loads_with_its_key_and_runs_the_same(signed, keys, bundle):
    plain = siamese_sdk.load(GOLDEN / "bundle", variant="fp32")
    m = siamese_sdk.load(signed, variant="fp32", trusted_keys=[keys["pub"][1]])
    np.testing.assert_array_equal(m.embed(IMAGES[:2]), plain.embed(IMAGES[:2]))
    assert siamese_sdk.load(signed, trusted_keys=[keys["pub"][1].parent]).variant == "int8"  # a directory of .pub files
    assert siamese_sdk.load(signed, trusted_keys=str(keys["pub"][1])).variant == "int8"  # one path
    # without trusted keys: today's behaviour; manifest.sig is not an unlisted file
    assert siamese_sdk.load(signed).variant == "int8"
    assert siamese_sdk.read_manifest(signed).embedding_dim == 8


def test_unsigned_bundle_is_refused_naming_the_key_ids(bundle, keys):
    with pytest.raises(BundleError) as e:
        siamese_sdk.load(bundle, trusted_keys=[keys["pub"][1], keys["evil"][1]])
    msg = one_line(e)
    assert "unsigned (no manifest.sig)" in msg and kid(keys) in msg and kid(keys, "evil") in msg and "siamese sign" in msg


def test_bundle_signed_by_another_key_is_refused(bundle, keys):
    sign_bundle(bundle, keys["evil"][0])
    with pytest.raises(BundleError) as e:
        siamese_sdk.load(bundle, trusted_keys=[keys["pub"][1]])
    assert f"signed by key {kid(keys, 'evil')}, which is not among the trusted keys ['{kid(keys)}']" in one_line(e)


def test_changed_threshold_with_rehashed_manifest_is_refused(signed, keys):
    rehash(signed, lambda m: m["variants"]["int8"]["thresholds"].update(eer=99.0))  # accept everyone
    assert siamese_sdk.load(signed).threshold("eer") == 99.0  # the hash list alone does not notice
    with pytest.raises(BundleError) as e:
        siamese_sdk.load(signed, trusted_keys=[keys["pub"][1]])
    assert f"manifest.json changed after it was signed by key {kid(keys)}" in one_line(e)


def test_swapped_encoder_with_matching_hash_list_is_refused(signed, keys):
    shutil.copy(signed / "encoder.int8.onnx", signed / "encoder.fp32.onnx")
    rehash(signed)
    siamese_sdk.load(signed, variant="fp32")  # the hash list alone does not notice
    with pytest.raises(BundleError, match=f"changed after it was signed by key {kid(keys)}"):
        siamese_sdk.load(signed, variant="fp32", trusted_keys=[keys["pub"][1]])


def test_file_changed_without_touching_the_manifest_is_refused_by_its_hash(signed, keys):
    data = bytearray((signed / "head.matrix.onnx").read_bytes())
    data[-1] ^= 1
    (signed / "head.matrix.onnx").write_bytes(bytes(data))
    with pytest.raises(BundleError, match="head.matrix.onnx does not match its sha256"):
        siamese_sdk.load(signed, trusted_keys=[keys["pub"][1]])


def test_empty_trust_list_and_verify_false(signed, keys):
    with pytest.raises(BundleError, match="every bundle would be refused"):
        siamese_sdk.load(signed, trusted_keys=[])
    with pytest.raises(InputError, match="verify=False cannot be combined with trusted keys"):
        siamese_sdk.load(signed, verify=False, trusted_keys=[keys["pub"][1]])
    with pytest.raises(InputError, match="verify=False"):
        siamese_sdk.read_manifest(signed, verify=False, trusted_keys=[keys["pub"][1]])


def test_trusted_keys_from_the_environment(signed, bundle, keys, monkeypatch, tmp_path):
    monkeypatch.setenv(ENV_VAR, str(keys["pub"][1]))
    assert siamese_sdk.load(signed).variant == "int8"
    (signed / SIGNATURE).unlink()
    with pytest.raises(BundleError, match=f"unsigned.*{kid(keys)}"):
        siamese_sdk.load(signed)
    with pytest.raises(InputError, match="verify=False cannot be combined"):  # a configured policy is not skipped
        siamese_sdk.load(signed, verify=False)
    sign_bundle(signed, keys["evil"][0])
    with pytest.raises(BundleError, match=f"signed by key {kid(keys, 'evil')}"):
        siamese_sdk.load(signed)
    # the first configured source wins: an explicit list replaces the environment
    assert siamese_sdk.load(signed, trusted_keys=[keys["evil"][1]]).variant == "int8"
    monkeypatch.setenv(ENV_VAR, os.pathsep.join([str(keys["pub"][1]), str(keys["evil"][1])]))
    assert siamese_sdk.load(signed).variant == "int8"
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "missing.pub"))  # a broken configuration refuses, never accepts
    with pytest.raises(BundleError, match="does not exist"):
        siamese_sdk.load(signed)
    # the config directory, when the variable is unset
    monkeypatch.delenv(ENV_VAR)
    cfg = tmp_path / "xdg" / "siamese" / "trusted_keys"
    cfg.mkdir(parents=True)
    shutil.copy(keys["pub"][1], cfg / "publisher.pub")
    with pytest.raises(BundleError, match=f"signed by key {kid(keys, 'evil')}"):
        siamese_sdk.load(signed)


def test_sign_needs_only_the_folder_before_it_is_moved_into_place(tmp_path, keys):
    """An exporter signs the bundle inside its temporary folder; the rename keeps the signature valid."""
    from siamese_sdk.atomic import atomic_directory

    dest = tmp_path / "out" / "bundle"
    with atomic_directory(dest) as tmp:
        for f in (GOLDEN / "bundle").iterdir():
            shutil.copy(f, tmp / f.name)
        sign_bundle(tmp, keys["pub"][0])
    assert sorted(p.name for p in dest.iterdir()) == sorted([*(p.name for p in (GOLDEN / "bundle").iterdir()), SIGNATURE])
    assert siamese_sdk.load(dest, trusted_keys=[keys["pub"][1]]).embedding_dim == 8


# ---- external data --------------------------------------------------------------------------------------------------
def _external_data_model(location: str) -> bytes:
    """The doctor's tiny Conv model (``tools.doctor.tiny_model``) with its weight kept in external data at ``location``."""
    from siamese_sdk.tools import onnx_writer as ow
    from siamese_sdk.tools.doctor import _W, _X

    weight = ow.tensor("w", _W, external={"location": location, "offset": "0", "length": str(_W.nbytes)})
    return ow.model(
        [ow.node("Conv", ["x", "w"], "c"), ow.node("Relu", ["c"], "y")],
        [ow.value_info("x", ow.FLOAT, _X.shape)],
        [ow.value_info("y", ow.FLOAT, (1, 1, 2, 2))],
        [weight],
    )


def test_the_hand_built_external_data_model_is_what_onnx_runtime_reads(tmp_path):
    """The fixture is real: ONNX Runtime loads the weight from the location (and onnx, where installed, agrees)."""
    import onnxruntime as ort
    from siamese_sdk.security import external_data_locations
    from siamese_sdk.tools.doctor import _W, _X, tiny_model_expected

    (tmp_path / "m.onnx").write_bytes(_external_data_model("w.bin"))
    (tmp_path / "w.bin").write_bytes(_W.astype("<f4").tobytes())
    y = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"]).run(None, {"x": _X})[0]
    np.testing.assert_allclose(y, tiny_model_expected(), atol=1e-5)
    assert external_data_locations(tmp_path / "m.onnx") == ["w.bin"]
    try:
        import onnx
    except ImportError:
        return
    m = onnx.load_model(str(tmp_path / "m.onnx"), load_external_data=False)
    assert [e.value for e in m.graph.initializer[0].external_data if e.key == "location"] == ["w.bin"]


@pytest.mark.parametrize("verify", [True, False])
def test_external_data_outside_the_folder_is_refused_before_onnx_runtime_opens_it(bundle, tmp_path, monkeypatch, verify):
    import onnxruntime as ort
    from siamese_sdk.tools.doctor import _W

    (tmp_path / "outside.bin").write_bytes(_W.astype("<f4").tobytes())
    (bundle / "encoder.fp32.onnx").write_bytes(_external_data_model("../outside.bin"))
    rehash(bundle)

    def never(*a, **k):
        raise AssertionError("ONNX Runtime opened a file of a refused bundle")

    monkeypatch.setattr(ort, "InferenceSession", never)
    with pytest.raises(BundleError) as e:
        siamese_sdk.load(bundle, variant="int8", verify=verify)  # every encoder is checked, not only the one loaded
    assert "encoder.fp32.onnx names external data '../outside.bin', which climbs out with '..'" in one_line(e)


def test_external_data_the_manifest_does_not_hash_is_refused(bundle, monkeypatch):
    from siamese_sdk.tools.doctor import _W

    (bundle / "encoder.fp32.onnx").write_bytes(_external_data_model("weights.bin"))
    (bundle / "weights.bin").write_bytes(_W.astype("<f4").tobytes())
    rehash(bundle)
    with pytest.raises(BundleError, match="does not list.*weights.bin"):
        siamese_sdk.load(bundle)
    with pytest.raises(BundleError, match="'weights.bin', which the manifest does not hash"):
        siamese_sdk.load(bundle, verify=False)


def test_a_manifest_path_through_a_symlink_is_refused(bundle, tmp_path):
    shutil.move(bundle / "head.matrix.onnx", tmp_path / "head.matrix.onnx")
    (bundle / "head.matrix.onnx").symlink_to(tmp_path / "head.matrix.onnx")
    with pytest.raises(BundleError, match="head.matrix.onnx.*is a symlink"):
        siamese_sdk.load(bundle)


# ---- sealed galleries -----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def model():
    return siamese_sdk.load(GOLDEN / "bundle", variant="fp32")


@pytest.fixture(scope="module")
def gallery(model) -> Gallery:
    g = Gallery.for_model(model)
    g.add(model.embed(IMAGES), [Path(p).stem for p in IMAGES])
    return g


@pytest.mark.parametrize(
    ("key", "encrypt"),
    [(bytes(range(32)), False), ("correct horse battery staple", False), (bytes(range(32)), True)],
    ids=["raw-key", "passphrase", "encrypted"],
)
def test_sealed_gallery_round_trip(tmp_path, model, gallery, key, encrypt):
    if encrypt:
        pytest.importorskip("cryptography")
    path = gallery.save(tmp_path / "g.npz", key=key, encrypt=encrypt)
    blob = path.read_bytes()
    assert blob[:8] == b"SIAMSEAL" and list(tmp_path.iterdir()) == [path]  # no temp file left: the write is atomic
    if encrypt:  # the ids and templates are not readable
        assert Path(IMAGES[0]).stem.encode("utf-32-le") not in blob and b"PK" not in blob[30:50]
    else:  # authenticated only: the zip (ids as UTF-32 numpy strings) follows the 30-byte header
        assert blob[30:32] == b"PK" and Path(IMAGES[0]).stem.encode("utf-32-le") in blob
    back = Gallery.load(path, model=model, key=key)
    q = model.embed(IMAGES[:3])
    for a, b in zip(back.search(q, k=3), gallery.search(q, k=3), strict=True):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(BundleError) as e:
        Gallery.load(path, model=model)
    assert "is sealed; pass its key" in one_line(e)


@pytest.mark.parametrize("encrypt", [False, True])
def test_sealed_gallery_refuses_a_flipped_byte_and_a_wrong_key(tmp_path, gallery, encrypt):
    if encrypt:
        pytest.importorskip("cryptography")
    key = generate_key()
    path = gallery.save(tmp_path / "g.npz", key=key, encrypt=encrypt)
    good = path.read_bytes()
    refused = "failed authentication: wrong key, or the file was changed after it was saved"
    with pytest.raises(BundleError, match=refused):
        Gallery.load(path, key=generate_key())
    with pytest.raises(InputError, match="passphrase|raw key"):
        Gallery.load(path, key="a passphrase")
    for i in (9, 31, len(good) // 2, len(good) - 1):  # header, data, tag
        bad = bytearray(good)
        bad[i] ^= 0x01
        path.write_bytes(bytes(bad))
        with pytest.raises(BundleError) as e:
            Gallery.load(path, key=key)
        assert str(path) in one_line(e)
    path.write_bytes(good[:-5])
    with pytest.raises(BundleError):
        Gallery.load(path, key=key)


def test_plain_gallery_loads_as_before_and_refuses_a_key(tmp_path, gallery):
    path = gallery.save(tmp_path / "g.npz")
    assert path.read_bytes()[:2] == b"PK" and len(Gallery.load(path)) == len(gallery)
    with pytest.raises(BundleError, match="is not sealed, but a key was given"):
        Gallery.load(path, key=generate_key())
    with pytest.raises(InputError, match="encrypt=True needs a key"):
        gallery.save(tmp_path / "h.npz", encrypt=True)
    assert not (tmp_path / "h.npz").exists()


# ---- the command line -----------------------------------------------------------------------------------------------
def invoke(*args: str, input: str | None = None, env: dict | None = None):
    return CliRunner().invoke(main, [str(a) for a in args], input=input, env=env, catch_exceptions=False)


def test_cli_keygen_sign_info(tmp_path, bundle, crypto):
    r = invoke("keygen", "-o", tmp_path / "pub")
    assert r.exit_code == 0, r.output
    priv, pub = tmp_path / "pub.key", tmp_path / "pub.pub"
    kid_ = key_id(pub)
    assert str(priv) in r.output and str(pub) in r.output and f"key id {kid_}" in r.output
    assert stat.S_IMODE(priv.stat().st_mode) == 0o600
    again = invoke("keygen", "-o", tmp_path / "pub")
    assert again.exit_code == 1 and "refusing to overwrite" in again.output

    unsigned = invoke("info", bundle)
    assert unsigned.exit_code == 0 and "signature   unsigned" in unsigned.output
    r = invoke("sign", bundle, "--key", priv)
    assert r.exit_code == 0 and f"signed by key {kid_}" in r.output and (bundle / SIGNATURE).is_file()
    r = invoke("info", bundle)
    assert r.exit_code == 0 and f"signed by key {kid_} (ed25519), not checked (no trusted keys configured)" in r.output
    r = invoke("info", bundle, "--trusted-key", pub)
    assert r.exit_code == 0 and f"verified against trusted keys ['{kid_}']" in r.output
    r = invoke("info", bundle, "--json", "--trusted-key", pub)
    out = json.loads(r.output)
    sig = out.pop("signature")
    assert out == json.loads((bundle / "manifest.json").read_text())
    assert (sig["signed"], sig["key_id"], sig["algorithm"], sig["verified"], sig["checked_against"], sig["error"]) == (
        True,
        kid_,
        "ed25519",
        True,
        [kid_],
        None,
    )
    # refused: exit 1, the state printed, the reason in one line
    rehash(bundle, lambda m: m["variants"]["int8"]["thresholds"].update(eer=99.0))
    r = invoke("info", bundle, env={ENV_VAR: str(pub)})
    assert r.exit_code == 1 and "signature   REFUSED" in r.output and r.output.splitlines()[-1].startswith("Error: bundle")


def test_cli_sign_with_an_encrypted_key_asks_for_the_passphrase(tmp_path, bundle, crypto):
    r = invoke("keygen", "-o", tmp_path / "k", "--passphrase", input="s3cret\ns3cret\n")
    assert r.exit_code == 0 and "encrypted" in r.output and "s3cret" not in r.output
    assert b"ENCRYPTED PRIVATE KEY" in (tmp_path / "k.key").read_bytes()
    wrong = invoke("sign", bundle, "--key", tmp_path / "k.key", input="nope\n")
    assert wrong.exit_code == 1 and "passphrase is wrong" in wrong.output and not (bundle / SIGNATURE).exists()
    r = invoke("sign", bundle, "--key", tmp_path / "k.key", input="s3cret\n")
    assert r.exit_code == 0 and "s3cret" not in r.output
    assert siamese_sdk.load(bundle, trusted_keys=[tmp_path / "k.pub"]).embedding_dim == 8


def test_cli_sign_refuses_a_bundle_whose_files_differ(tmp_path, bundle, keys):
    (bundle / "notes.txt").write_text("x")
    r = invoke("sign", bundle, "--key", keys["pub"][0])
    assert r.exit_code == 1 and "notes.txt" in r.output and not (bundle / SIGNATURE).exists()


def test_cli_commands_take_trusted_keys(signed, keys, tmp_path):
    ok = invoke("verify", signed, IMAGES[0], IMAGES[1], "--trusted-key", keys["pub"][1])
    assert ok.exit_code == 0 and ("SAME" in ok.output or "DIFFERENT" in ok.output)
    bad = invoke("verify", signed, IMAGES[0], IMAGES[1], "--trusted-key", keys["evil"][1])
    assert bad.exit_code == 1 and f"signed by key {kid(keys)}, which is not among" in bad.output
    env = invoke("embed", signed, IMAGES[0], "-o", tmp_path / "e.npy", env={ENV_VAR: str(keys["evil"][1])})
    assert env.exit_code == 1 and "not among the trusted keys" in env.output and not (tmp_path / "e.npy").exists()
    bench = invoke("bench", signed, "--trusted-key", keys["evil"][1])  # refused before anything is measured
    assert bench.exit_code == 1 and "not among the trusted keys" in bench.output


def test_cli_gallery_with_a_key_file(signed, keys, tmp_path):
    raw, phrase = tmp_path / "raw.key", tmp_path / "phrase.txt"
    raw.write_bytes(generate_key())
    phrase.write_text("correct horse battery staple\n")
    for key_file in (raw, phrase):
        out = tmp_path / f"{key_file.stem}.npz"
        r = invoke("gallery", signed, *IMAGES, "-o", out, "--gallery-key-file", key_file, "--trusted-key", keys["pub"][1])
        assert r.exit_code == 0 and "sealed" in r.output, r.output
        assert out.read_bytes()[:8] == b"SIAMSEAL"
        r = invoke("search", signed, out, IMAGES[0], "-k", "2", "--json", "--gallery-key-file", key_file)
        assert r.exit_code == 0, r.output
        assert json.loads(r.output)["results"][0]["hits"][0]["id"] == IMAGES[0]
        plain = invoke("search", signed, out, IMAGES[0])
        assert plain.exit_code == 1 and "is sealed; pass its key" in plain.output
    wrong = invoke("search", signed, tmp_path / "raw.npz", IMAGES[0], "--gallery-key-file", phrase)
    assert wrong.exit_code == 1 and "pass that as key" in wrong.output
    r = invoke("gallery", signed, IMAGES[0], "-o", tmp_path / "x.npz", "--encrypt")
    assert r.exit_code == 1 and "--encrypt needs --gallery-key-file" in r.output


def test_cli_doctor_reports_the_trust_set_up(keys, tmp_path):
    r = invoke("doctor", "--provider", "cpu", "--json")
    st = json.loads(r.output)["signing"]
    assert st == {"extra": True, "source": None, "keys": [], "error": None}
    r = invoke("doctor", "--provider", "cpu", env={ENV_VAR: str(keys["pub"][1])})
    assert f"key {kid(keys)}: {keys['pub'][1]}" in r.output and "trusted keys from SIAMESE_TRUSTED_KEYS" in r.output
    r = invoke("doctor", "--provider", "cpu", "--json", env={ENV_VAR: str(tmp_path / "gone.pub")})
    report = json.loads(r.output)
    assert r.exit_code == 1 and not report["ok"]
    assert any(p.startswith("trusted keys: trusted key") and "does not exist" in p for p in report["problems"])


# ---- the extra ------------------------------------------------------------------------------------------------------
def test_missing_signing_extra_names_its_install(bundle, tmp_path, monkeypatch):
    import importlib.util

    from siamese_sdk.errors import ExtraMissingError

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "cryptography" else real(name, *a))
    (tmp_path / "k.pub").write_text("-----BEGIN PUBLIC KEY-----\n")
    with pytest.raises(ExtraMissingError) as e:
        siamese_sdk.load(bundle, trusted_keys=[tmp_path / "k.pub"])
    msg = one_line(e)
    assert "pip install 'siamese-sdk[signing]'" in msg and "pip install '.[signing]'" in msg and "torch" not in msg
    assert len(Gallery.load(Gallery("f", 2, "cosine").save(tmp_path / "g.npz", key=b"k" * 32), key=b"k" * 32)) == 0
    with pytest.raises(ExtraMissingError, match=r"siamese-sdk\[signing\]"):
        Gallery("f", 2, "cosine").save(tmp_path / "h.npz", key=b"k" * 32, encrypt=True)


def test_train_extra_message_is_unchanged(monkeypatch):
    import importlib.util

    from siamese_sdk.errors import ExtraMissingError, require_extra

    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
    with pytest.raises(ExtraMissingError) as e:
        require_extra("torch")
    assert str(e.value) == (
        "this command needs torch, which is not installed; install the extra: pip install 'siamese-sdk[train]' (torch: see the README)"
    )


def test_struct_layout_of_the_sealed_header_is_as_documented(tmp_path, gallery):
    path = gallery.save(tmp_path / "g.npz", key="pw")
    magic, version, mode, kdf, log2_n, r, p, _salt = struct.unpack("<8sBBBBBB16s", path.read_bytes()[:30])
    assert (magic, version, mode, kdf, (log2_n, r, p)) == (b"SIAMSEAL", 1, 0, 1, (15, 8, 1))
