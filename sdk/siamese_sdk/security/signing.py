"""Signed bundles: Ed25519 key pairs and a detached signature over ``manifest.json``.

The manifest pins every bundle file's sha256, the thresholds, the metric and the preprocessing, so a valid
signature over its exact bytes, checked before the loader hashes the files, covers the whole bundle.

Files (formats in ``docs/security.md``):

- ``NAME.key``: the private key, PKCS#8 PEM (``-----BEGIN PRIVATE KEY-----``), mode 0600; optionally
  encrypted with a passphrase (PEM ``ENCRYPTED PRIVATE KEY``).
- ``NAME.pub``: the public key, SubjectPublicKeyInfo PEM (``-----BEGIN PUBLIC KEY-----``), as OpenSSL writes.
- ``BUNDLE/manifest.sig``: JSON ``{"format": "siamese-signature", "format_version": 1, "algorithm":
  "ed25519", "key_id", "signed_file": "manifest.json", "manifest_sha256", "signature"}`` where
  ``signature`` is base64 of the 64-byte Ed25519 signature of ``SIGNED_PREFIX + manifest.json bytes``.
  It is not listed in the manifest (it signs the manifest).

The key id is the first 16 hex digits of sha256 of the 32 raw public-key bytes. Only ``cryptography``
(``pip install 'siamese-sdk[signing]'``) is needed, and only inside the functions that sign or verify.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import BundleError, InputError, require_extra

MANIFEST = "manifest.json"
#: the detached signature file beside ``manifest.json``; the loader's "unlisted files" check must skip it.
SIGNATURE = "manifest.sig"
SIG_FORMAT = "siamese-signature"
SIG_FORMAT_VERSION = 1
ALGORITHM = "ed25519"
#: domain separation: what is signed is this prefix followed by the exact manifest.json bytes.
SIGNED_PREFIX = b"siamese-bundle-manifest-v1\n"
#: os.pathsep-separated list of .pub files or directories of them.
ENV_VAR = "SIAMESE_TRUSTED_KEYS"
PUB_SUFFIX = ".pub"
KEY_SUFFIX = ".key"


def _crypto() -> Any:
    """The ``cryptography`` Ed25519 and serialization modules, or ``ExtraMissingError`` with the hint."""
    require_extra("cryptography", "signing")
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    return ed25519, serialization


def _raw_public(public_key: Any) -> bytes:
    if isinstance(public_key, (bytes, bytearray)):
        if len(public_key) != 32:
            raise InputError(f"an Ed25519 public key is 32 raw bytes, got {len(public_key)}")
        return bytes(public_key)
    _, ser = _crypto()
    return public_key.public_bytes(ser.Encoding.Raw, ser.PublicFormat.Raw)


def key_id(public_key: Any) -> str:
    """Short stable id of a public key: the first 16 hex digits of sha256 of its 32 raw bytes.

    ``public_key``: 32 raw bytes, a ``cryptography`` Ed25519 public key, or the path of a ``.pub`` file.
    """
    if isinstance(public_key, (str, Path)):
        public_key = load_public_key(public_key)
    return hashlib.sha256(_raw_public(public_key)).hexdigest()[:16]


def load_public_key(path: str | Path) -> Any:
    """Read a ``.pub`` file (PEM SubjectPublicKeyInfo, Ed25519); ``BundleError`` if it is not one."""
    ed25519, ser = _crypto()
    path = Path(path)
    try:
        key = ser.load_pem_public_key(path.read_bytes())
    except OSError as e:
        raise BundleError(f"trusted key {path} cannot be read ({e.strerror or e}); check the path") from None
    except ValueError:
        raise BundleError(f"trusted key {path} is not a PEM public key; pass a .pub file written by siamese keygen") from None
    if not isinstance(key, ed25519.Ed25519PublicKey):
        raise BundleError(f"trusted key {path} is not an Ed25519 key; make one with siamese keygen")
    return key


def load_private_key(path: str | Path, passphrase: str | None = None) -> Any:
    """Read a ``.key`` file written by ``keygen``; ``InputError`` if unreadable, encrypted without a passphrase, or wrong."""
    ed25519, ser = _crypto()
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise InputError(f"private key {path} cannot be read ({e.strerror or e}); check the path") from None
    pw = passphrase.encode("utf-8") if passphrase is not None else None
    try:
        key = ser.load_pem_private_key(data, password=pw)
    except TypeError:
        hint = "it is encrypted: pass its passphrase" if pw is None else "it is not encrypted: pass no passphrase"
        raise InputError(f"private key {path} cannot be opened; {hint}") from None
    except ValueError:
        raise InputError(
            f"private key {path} is not a PEM private key, or the passphrase is wrong; use a .key file from siamese keygen"
        ) from None
    if not isinstance(key, ed25519.Ed25519PrivateKey):
        raise InputError(f"private key {path} is not an Ed25519 key; make one with siamese keygen")
    return key


def key_is_encrypted(path: str | Path) -> bool:
    """Whether a PEM private key file is passphrase-protected; False when unreadable (loading then says why)."""
    try:
        with open(path, "rb") as f:
            return b"ENCRYPTED" in f.read(64)
    except OSError:
        return False


def keygen(out: str | Path, passphrase: str | None = None) -> tuple[Path, Path]:
    """Write a new Ed25519 key pair ``OUT.key`` (private, mode 0600) and ``OUT.pub``; returns both paths.

    Refuses (``InputError``) to overwrite either file. ``passphrase`` encrypts the private key file
    (PKCS#8, the best scheme ``cryptography`` offers); without it the file is plain PEM, protected by its mode.
    """
    if not isinstance(out, (str, os.PathLike)) or not str(out).strip() or Path(out).name in ("", ".", ".."):
        raise InputError(f"key pair name {str(out)!r} is empty or a folder; pass a name such as -o publisher (writes publisher.key, publisher.pub)")
    ed25519, ser = _crypto()
    out = Path(out)
    if out.suffix in (KEY_SUFFIX, PUB_SUFFIX):
        out = out.with_suffix("")
    priv_path, pub_path = out.with_name(out.name + KEY_SUFFIX), out.with_name(out.name + PUB_SUFFIX)
    for p in (priv_path, pub_path):
        if p.exists() or p.is_symlink():
            raise InputError(f"{p} already exists; refusing to overwrite a key (pick another name or move it away)")
    key = ed25519.Ed25519PrivateKey.generate()
    enc = ser.BestAvailableEncryption(passphrase.encode("utf-8")) if passphrase else ser.NoEncryption()
    priv_pem = key.private_bytes(ser.Encoding.PEM, ser.PrivateFormat.PKCS8, enc)
    pub_pem = key.public_key().public_bytes(ser.Encoding.PEM, ser.PublicFormat.SubjectPublicKeyInfo)
    out.parent.mkdir(parents=True, exist_ok=True)
    # O_EXCL: never follow or replace a file that appeared meanwhile; the private key is 0600 from its first byte.
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    created: list[Path] = []
    try:
        for path, data, mode in ((priv_path, priv_pem, 0o600), (pub_path, pub_pem, 0o644)):
            fd = os.open(path, flags, mode)
            created.append(path)
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
        os.chmod(priv_path, 0o600)  # (a umask cannot widen it, but be explicit)
    except BaseException as e:
        for path in created:
            path.unlink(missing_ok=True)
        if isinstance(e, FileExistsError):
            raise InputError(
                f"{e.filename} already exists; refusing to overwrite a key (pick another name or move it away)"
            ) from None
        raise
    return priv_path, pub_path


def signature_document(manifest_bytes: bytes, private_key: Any) -> bytes:
    """The ``manifest.sig`` bytes for ``manifest_bytes`` signed with a loaded Ed25519 private key."""
    sig = private_key.sign(SIGNED_PREFIX + manifest_bytes)
    doc = {
        "format": SIG_FORMAT,
        "format_version": SIG_FORMAT_VERSION,
        "algorithm": ALGORITHM,
        "key_id": key_id(private_key.public_key()),
        "signed_file": MANIFEST,
        "manifest_sha256": hashlib.sha256(manifest_bytes).hexdigest(),
        "signature": base64.b64encode(sig).decode("ascii"),
    }
    return (json.dumps(doc, indent=2) + "\n").encode("utf-8")


def sign_bundle(bundle_dir: str | Path, private_key_path: str | Path, passphrase: str | None = None) -> Path:
    """Sign ``bundle_dir/manifest.json``'s exact bytes; writes ``bundle_dir/manifest.sig`` atomically, returns it.

    Re-signing replaces an older signature. Raises ``BundleError`` when there is no manifest, or when the
    manifest lists ``manifest.sig`` itself; ``InputError`` for an unusable private key.
    """
    root = Path(bundle_dir)
    mpath = root / MANIFEST
    if not mpath.is_file():
        raise BundleError(f"{root} has no {MANIFEST}; it is not a bundle (make one with siamese-export)")
    data = mpath.read_bytes()
    try:
        files = json.loads(data.decode("utf-8")).get("files", {})
    except (UnicodeDecodeError, json.JSONDecodeError, AttributeError):
        raise BundleError(f"{mpath} is not valid JSON; re-export the bundle before signing") from None
    if SIGNATURE in files:
        raise BundleError(f"{mpath} lists {SIGNATURE} among its files; the signature cannot be part of what it signs")
    from ..atomic import write_bytes_atomic  # (tempfile and shutil stay off the loader's import path)

    key = load_private_key(private_key_path, passphrase)
    return write_bytes_atomic(root / SIGNATURE, signature_document(data, key))


def parse_signature(sig_bytes: bytes, where: str = SIGNATURE) -> dict[str, Any]:
    """Parse and check the fields of a ``manifest.sig``; ``BundleError`` (one line) for a bad file. No crypto needed."""
    bad = f"bad signature file {where}"
    try:
        doc = json.loads(sig_bytes.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise BundleError(f"{bad}: not JSON; re-sign the bundle (siamese sign)") from None
    if not isinstance(doc, dict) or doc.get("format") != SIG_FORMAT:
        raise BundleError(f"{bad}: format is not {SIG_FORMAT!r}; re-sign the bundle (siamese sign)")
    if doc.get("format_version") != SIG_FORMAT_VERSION:
        raise BundleError(
            f"{bad}: format_version {doc.get('format_version')!r} unsupported (this siamese-sdk reads {SIG_FORMAT_VERSION}); "
            "upgrade: pip install -U siamese-sdk"
        )
    if doc.get("algorithm") != ALGORITHM:
        raise BundleError(f"{bad}: algorithm {doc.get('algorithm')!r} unsupported (expected {ALGORITHM!r}); re-sign the bundle")
    kid = doc.get("key_id")
    if not isinstance(kid, str) or len(kid) != 16 or any(c not in "0123456789abcdef" for c in kid):
        raise BundleError(f"{bad}: key_id {kid!r} is not 16 hex digits; re-sign the bundle")
    try:
        raw = base64.b64decode(str(doc.get("signature", "")), validate=True)
    except (binascii.Error, ValueError):
        raise BundleError(f"{bad}: signature is not base64 (key {kid}); re-sign the bundle") from None
    if len(raw) != 64:
        raise BundleError(f"{bad}: signature is {len(raw)} bytes, an Ed25519 signature is 64 (key {kid}); re-sign the bundle")
    return {**doc, "signature_bytes": raw}


def _expand_keys(trusted_keys: Sequence[str | Path]) -> list[Path]:
    """Files as given, directories as their ``*.pub`` files (sorted); ``BundleError`` for a missing path."""
    if isinstance(trusted_keys, (str, Path)):
        trusted_keys = [trusted_keys]
    out: list[Path] = []
    for item in trusted_keys:
        p = Path(item).expanduser()
        if p.is_dir():
            out.extend(sorted(q for q in p.iterdir() if q.suffix == PUB_SUFFIX and q.is_file()))
        elif p.is_file():
            out.append(p)
        else:
            raise BundleError(f"trusted key {p} does not exist; pass .pub files or directories of them")
    return out


def load_trusted_keys(trusted_keys: Sequence[str | Path]) -> dict[str, Any]:
    """Key id -> loaded public key for every ``.pub`` file named (directories: their ``*.pub``).

    Raises ``BundleError`` when a path is missing, a file is not an Ed25519 public key, or no key is found
    (an empty trust list refuses everything rather than nothing).
    """
    if isinstance(trusted_keys, (str, Path)):
        trusted_keys = [trusted_keys]
    paths = _expand_keys(trusted_keys)
    if not paths:
        raise BundleError(
            f"no trusted public keys (.pub) found in {[str(p) for p in trusted_keys]}; every bundle would be refused"
        )
    keys: dict[str, Any] = {}
    for p in paths:
        k = load_public_key(p)
        keys[key_id(k)] = k
    return keys


def verify_manifest_bytes(
    manifest_bytes: bytes, sig_bytes: bytes | None, trusted_keys: Sequence[str | Path], where: str = "bundle"
) -> str:
    """Check a detached signature over ``manifest_bytes``; returns the signing key id.

    For loaders that read ``manifest.json`` once and parse the very bytes they verified. ``sig_bytes`` is
    None when the bundle has no ``manifest.sig``. Raises ``BundleError`` (one line naming the key id).
    """
    trusted = load_trusted_keys(trusted_keys)
    ids = sorted(trusted)
    if sig_bytes is None:
        raise BundleError(
            f"{where} is unsigned (no {SIGNATURE}) but trusted keys {ids} are required; sign it: siamese sign BUNDLE --key KEY"
        )
    doc = parse_signature(sig_bytes, f"{where}/{SIGNATURE}")
    kid = doc["key_id"]
    if kid not in trusted:
        raise BundleError(f"{where} is signed by key {kid}, which is not among the trusted keys {ids}; refusing it")
    from cryptography.exceptions import InvalidSignature

    try:
        trusted[kid].verify(doc["signature_bytes"], SIGNED_PREFIX + manifest_bytes)
    except InvalidSignature:
        if doc.get("manifest_sha256") != hashlib.sha256(manifest_bytes).hexdigest():
            raise BundleError(
                f"{where}: {MANIFEST} changed after it was signed by key {kid} (signature invalid); refusing it"
            ) from None
        raise BundleError(f"{where}: signature by key {kid} is invalid (forged or corrupt {SIGNATURE}); refusing it") from None
    return kid


def verify_bundle(bundle_dir: str | Path, trusted_keys: Sequence[str | Path]) -> str:
    """Verify ``bundle_dir/manifest.sig`` against ``trusted_keys`` (``.pub`` files or directories); returns the key id.

    Raises ``BundleError`` in one line: unsigned bundle, signed by a key not in the trusted list, manifest
    changed after signing, bad signature file. The file hashes are checked by the loader
    (``read_manifest(verify=True)``), which must parse the same manifest bytes (``verify_manifest_bytes``).
    """
    root = Path(bundle_dir)
    mpath = root / MANIFEST
    if not mpath.is_file():
        raise BundleError(f"{root} has no {MANIFEST}; it is not a bundle (make one with siamese-export)")
    spath = root / SIGNATURE
    sig = spath.read_bytes() if spath.is_file() else None
    return verify_manifest_bytes(mpath.read_bytes(), sig, trusted_keys, where=f"bundle {root}")


def config_keys_dir() -> Path:
    """``$XDG_CONFIG_HOME/siamese/trusted_keys`` (default ``~/.config/siamese/trusted_keys``)."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "siamese" / "trusted_keys"


def trusted_keys_from_env() -> list[Path]:
    """The trusted ``.pub`` files configured outside the code, ``[]`` when none is configured.

    Precedence (the first source that is configured wins; sources are not merged):
    1. ``SIAMESE_TRUSTED_KEYS`` when set and non-empty: ``os.pathsep``-separated ``.pub`` files or
       directories of them;
    2. the directory ``config_keys_dir()`` when it exists.
    A configured source that yields no key, or names a missing path, raises ``BundleError``: a trust list
    that was meant to be enforced never silently turns into "accept anything".
    """
    env = os.environ.get(ENV_VAR, "").strip()
    if env:
        items = [s for s in env.split(os.pathsep) if s.strip()]
        keys = _expand_keys(items)
        if not keys:
            raise BundleError(f"{ENV_VAR}={env!r} holds no .pub files; add the public keys or unset it")
        return keys
    cdir = config_keys_dir()
    if cdir.is_dir():
        keys = _expand_keys([cdir])
        if not keys:
            raise BundleError(f"{cdir} exists but holds no .pub files; add the trusted public keys or remove the directory")
        return keys
    return []


def trust_status() -> dict[str, Any]:
    """The machine's signature set-up, for ``siamese doctor``; never raises.

    Returns ``extra`` (is ``cryptography`` installed), ``source`` (``SIAMESE_TRUSTED_KEYS``, the config
    directory, or None: bundles load unchecked unless the code passes ``trusted_keys``), ``keys`` (``[{"path",
    "key_id"}]``) and ``error`` (one line or None; a configured source that is broken is a problem).
    """
    import importlib.util

    st: dict[str, Any] = {
        "extra": importlib.util.find_spec("cryptography") is not None,
        "source": None,
        "keys": [],
        "error": None,
    }
    if os.environ.get(ENV_VAR, "").strip():
        st["source"] = ENV_VAR
    elif config_keys_dir().is_dir():
        st["source"] = str(config_keys_dir())
    try:
        paths = trusted_keys_from_env()
        st["keys"] = [{"path": str(p), "key_id": key_id(p) if st["extra"] else None} for p in paths]
        if paths and not st["extra"]:
            st["error"] = "trusted keys are configured but cryptography is not installed: pip install 'siamese-sdk[signing]'"
    except (BundleError, InputError) as e:
        st["error"] = str(e)
    return st


def signature_status(bundle_dir: str | Path, trusted_keys: Sequence[str | Path] | None = None) -> dict[str, Any]:
    """The signature state of a bundle, for ``siamese info`` / ``siamese doctor``; never raises.

    ``trusted_keys`` None: the configured ones (``trusted_keys_from_env``), if any. Returns ``signed``
    (bool), ``key_id`` (str or None), ``algorithm``, ``verified`` (True, False, or None: not checked),
    ``checked_against`` (the trusted key ids, or ``"not checked"``), ``error`` (one line or None) and
    ``summary`` (one line to print).
    """
    root = Path(bundle_dir)
    st: dict[str, Any] = {"signed": False, **dict.fromkeys(("key_id", "algorithm", "verified", "error"))}
    st["checked_against"] = "not checked"
    spath = root / SIGNATURE
    if spath.is_file():
        st["signed"] = True
        try:
            doc = parse_signature(spath.read_bytes(), str(spath))
            st["key_id"], st["algorithm"] = doc["key_id"], doc["algorithm"]
        except BundleError as e:
            st["error"], st["verified"] = str(e), False
    if st["error"] is None:
        try:
            keys = list(trusted_keys) if trusted_keys is not None else trusted_keys_from_env()
            if keys:
                st["checked_against"] = sorted(load_trusted_keys(keys))
                verify_bundle(root, keys)
                st["verified"] = True
        except ImportError as e:  # ExtraMissingError: the signature can be shown, not checked
            st["error"] = str(e)
        except BundleError as e:
            st["error"], st["verified"] = str(e), False
    if st["verified"] is True:
        st["summary"] = f"signed by key {st['key_id']} (ed25519), verified against trusted keys {st['checked_against']}"
    elif st["verified"] is False:
        st["summary"] = f"REFUSED: {st['error']}"
    elif st["signed"]:
        st["summary"] = f"signed by key {st['key_id']} (ed25519), not checked" + (
            f" ({st['error']})" if st["error"] else " (no trusted keys configured)"
        )
    else:
        st["summary"] = "unsigned" + (f" ({st['error']})" if st["error"] else "")
    return st
