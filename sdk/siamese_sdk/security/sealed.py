"""Sealed files: a whole file's bytes authenticated (HMAC-SHA256) or encrypted (AES-256-GCM) under a key.

Used for galleries (``Gallery.save(path, key=...)``): a wrong key or any changed byte is refused. Layout
(all integers single bytes)::

    MAGIC "SIAMSEAL" (8) | version = 1 | mode | kdf | log2_n | r | p | salt (16)      <- header, 30 bytes
    mode 0 (authenticate): data | HMAC-SHA256(subkey, header || data) (32)
    mode 1 (encrypt):      nonce (12) | AES-256-GCM(subkey, nonce, data, aad = header) (len(data) + 16)

Keys: 32 raw bytes (``kdf`` 0; ``log2_n``, ``r``, ``p`` are 0), or a passphrase ``str`` (``kdf`` 1): UTF-8 of
its NFC form, stretched with scrypt (``hashlib.scrypt``, N = 2**log2_n, r, p from the header, 32 bytes;
sealing uses N = 2**15, r = 8, p = 1: 32 MiB, about 0.1 s). Either way the per-file subkey is
HKDF-SHA256(master, salt, info = ``b"siamese-seal-v1/" + mode``), so every file gets a fresh key (the
random salt), the two modes never share a key, and a changed header byte fails like a changed data byte.
Authenticate-only needs the standard library only; encryption needs ``cryptography`` (the ``signing`` extra).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import struct
import unicodedata
from pathlib import Path
from typing import Any

from ..errors import BundleError, InputError, require_extra

MAGIC = b"SIAMSEAL"
VERSION = 1
MODE_HMAC, MODE_AESGCM = 0, 1
MODES = {MODE_HMAC: "hmac-sha256", MODE_AESGCM: "aes-256-gcm"}
KDF_RAW, KDF_SCRYPT = 0, 1
KDFS = {KDF_RAW: "raw", KDF_SCRYPT: "scrypt"}
#: scrypt parameters for new files (log2 N, r, p): 128 * r * N = 32 MiB of memory.
SCRYPT_PARAMS = (15, 8, 1)
#: the most memory a file's scrypt parameters may ask for when unsealing (a crafted header is no DoS).
SCRYPT_MAX_MEM = 256 << 20
KEY_BYTES = 32
SALT_BYTES = 16
NONCE_BYTES = 12
TAG_BYTES_HMAC = 32
TAG_BYTES_GCM = 16
_HEADER = struct.Struct(f"<8sBBBBBB{SALT_BYTES}s")
HEADER_BYTES = _HEADER.size  # 30


def generate_key() -> bytes:
    """A new random 32-byte key (store it like a password: a keystore, an env secret, a file 0600)."""
    import secrets

    return secrets.token_bytes(KEY_BYTES)


def is_sealed(blob_head: bytes) -> bool:
    """True when the first bytes of a file (8 are enough) are a sealed file's magic (a plain gallery is a zip: ``PK``)."""
    return bytes(blob_head[: len(MAGIC)]) == MAGIC


def sealed_info(blob_head: bytes) -> dict[str, Any]:
    """``{"sealed", "version", "mode", "kdf"}`` of a file from its first 30 bytes, for ``siamese info``; never raises."""
    if not is_sealed(blob_head):
        return {"sealed": False}
    if len(blob_head) < HEADER_BYTES:
        return {"sealed": True, "error": f"truncated header ({len(blob_head)} of {HEADER_BYTES} bytes)"}
    _, version, mode, kdf, *_ = _HEADER.unpack_from(bytes(blob_head[:HEADER_BYTES]))
    return {
        "sealed": True,
        "version": version,
        "mode": MODES.get(mode, f"unknown ({mode})"),
        "kdf": KDFS.get(kdf, f"unknown ({kdf})"),
    }


def _hkdf(master: bytes, salt: bytes, info: bytes) -> bytes:
    """HKDF-SHA256 (RFC 5869) for one 32-byte output block."""
    prk = hmac.new(salt, master, hashlib.sha256).digest()
    return hmac.new(prk, info + b"\x01", hashlib.sha256).digest()


def _master(key: bytes | str, kdf: int, salt: bytes, log2_n: int, r: int, p: int) -> bytes:
    if kdf == KDF_RAW:
        return bytes(key)  # type: ignore[arg-type]
    pw = unicodedata.normalize("NFC", key).encode("utf-8")  # type: ignore[arg-type]
    n = 1 << log2_n
    return hashlib.scrypt(pw, salt=salt, n=n, r=r, p=p, dklen=KEY_BYTES, maxmem=SCRYPT_MAX_MEM + (1 << 20))


def _key_kind(key: Any) -> int:
    """KDF_RAW for 32 bytes, KDF_SCRYPT for a non-empty str; ``InputError`` for anything else."""
    if isinstance(key, (bytes, bytearray, memoryview)):
        if len(key) != KEY_BYTES:
            raise InputError(f"a raw key is {KEY_BYTES} bytes, got {len(key)}; use generate_key() or pass a passphrase str")
        return KDF_RAW
    if isinstance(key, str):
        if not key:
            raise InputError("the passphrase is empty; pass a non-empty str or 32 raw key bytes")
        return KDF_SCRYPT
    raise InputError(f"key must be 32 bytes or a passphrase str, got {type(key).__name__}")


def _subkey(key: bytes | str, header: bytes) -> bytes:
    _, _, mode, kdf, log2_n, r, p, salt = _HEADER.unpack(header)
    return _hkdf(_master(key, kdf, salt, log2_n, r, p), salt, b"siamese-seal-v1/" + MODES[mode].encode())


def seal(data: bytes, key: bytes | str, encrypt: bool = False) -> bytes:
    """The sealed form of ``data``: authenticated (``encrypt=False``, HMAC-SHA256) or encrypted and authenticated
    (``encrypt=True``, AES-256-GCM; needs ``cryptography``). ``key``: 32 raw bytes or a passphrase str.

    Output size: ``len(data) + 62`` (authenticate) or ``len(data) + 58`` (encrypt) bytes.
    """
    kdf = _key_kind(key)
    mode = MODE_AESGCM if encrypt else MODE_HMAC
    if encrypt:
        require_extra("cryptography", "signing")
    log2_n, r, p = SCRYPT_PARAMS if kdf == KDF_SCRYPT else (0, 0, 0)
    header = _HEADER.pack(MAGIC, VERSION, mode, kdf, log2_n, r, p, os.urandom(SALT_BYTES))
    sub = _subkey(key, header)
    if mode == MODE_HMAC:
        mac = hmac.new(sub, header, hashlib.sha256)
        mac.update(data)  # (no header + data copy of a large gallery)
        return b"".join((header, data, mac.digest()))
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    nonce = os.urandom(NONCE_BYTES)
    return b"".join((header, nonce, AESGCM(sub).encrypt(nonce, bytes(data), header)))


def unseal(blob: bytes, key: bytes | str, what: str = "sealed file") -> bytes:
    """The original bytes of a ``seal`` output; ``what`` names the file in messages.

    Raises ``BundleError`` (one line) for a file that is not sealed, truncated, from a newer version, or that
    fails authentication (wrong key, or any byte changed); ``InputError`` for a key of the wrong kind
    (raw bytes for a passphrase-sealed file or the reverse, wrong length, empty passphrase).
    """
    if not is_sealed(blob):
        raise BundleError(f"{what} is not sealed (no {MAGIC.decode()} header); it was saved without a key")
    if len(blob) < HEADER_BYTES:
        raise BundleError(f"{what} is truncated (shorter than its {HEADER_BYTES}-byte header); restore it from a backup")
    view = memoryview(blob)
    header = bytes(view[:HEADER_BYTES])
    _, version, mode, kdf, log2_n, r, p, _salt = _HEADER.unpack(header)
    if version != VERSION:
        raise BundleError(
            f"{what} has seal format version {version}; this siamese-sdk reads {VERSION}: upgrade: pip install -U siamese-sdk"
        )
    if mode not in MODES or kdf not in KDFS:
        raise BundleError(
            f"{what} has an unknown seal mode {mode} or key derivation {kdf}; it is corrupt or from a newer siamese-sdk"
        )
    if kdf == KDF_SCRYPT and not (1 <= log2_n <= 24 and r >= 1 and p >= 1 and 128 * r * p * (1 << log2_n) <= SCRYPT_MAX_MEM):
        raise BundleError(
            f"{what} asks for scrypt N=2^{log2_n} r={r} p={p}, beyond the {SCRYPT_MAX_MEM >> 20} MiB this reader allows; it is corrupt"
        )
    kind = _key_kind(key)
    if kind != kdf:
        want = "a passphrase (str)" if kdf == KDF_SCRYPT else f"the {KEY_BYTES}-byte raw key"
        raise InputError(f"{what} was sealed with {want}; pass that as key")
    body = view[HEADER_BYTES:]
    refused = f"{what} failed authentication: wrong key, or the file was changed after it was saved; refusing it"
    sub = _subkey(key, header)
    if mode == MODE_HMAC:
        if len(body) < TAG_BYTES_HMAC:
            raise BundleError(f"{what} is truncated (no authentication tag); restore it from a backup")
        data, tag = body[:-TAG_BYTES_HMAC], bytes(body[-TAG_BYTES_HMAC:])
        mac = hmac.new(sub, header, hashlib.sha256)
        mac.update(data)
        if not hmac.compare_digest(tag, mac.digest()):
            raise BundleError(refused)
        return bytes(data)
    require_extra("cryptography", "signing")
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    if len(body) < NONCE_BYTES + TAG_BYTES_GCM:
        raise BundleError(f"{what} is truncated (no nonce or tag); restore it from a backup")
    try:
        return AESGCM(sub).decrypt(bytes(body[:NONCE_BYTES]), bytes(body[NONCE_BYTES:]), header)
    except InvalidTag:
        raise BundleError(refused) from None


def read_sealed(path: str | os.PathLike, key: bytes | str | None, what: str | None = None) -> bytes | None:
    """For a loader: the unsealed bytes of ``path``, or None for a plain file read without a key.

    Refuses (``BundleError``) a sealed file without ``key`` and a plain file with one (a key promises an
    authentic file; a plain one cannot be), and everything ``unseal`` refuses. ``what`` names the file in
    messages (default: ``file PATH``).
    """
    path = Path(path)
    what = what or f"file {path}"
    with open(path, "rb") as f:
        head = f.read(len(MAGIC))
        if key is None:
            if is_sealed(head):
                raise BundleError(f"{what} is sealed; pass its key (key=...) to load it")
            return None
        if not is_sealed(head):
            raise BundleError(f"{what} is not sealed, but a key was given: it could have been edited by anyone; refusing it")
        return unseal(head + f.read(), key, what)
