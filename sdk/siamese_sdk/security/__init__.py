"""Bundle signatures, sealed (authenticated / encrypted) files and checks of the paths a bundle makes the runtime read.

- ``signing``: Ed25519 key pairs, ``manifest.sig`` beside ``manifest.json``, trusted keys from the code, the
  ``SIAMESE_TRUSTED_KEYS`` environment variable or ``~/.config/siamese/trusted_keys/`` (needs the
  ``signing`` extra: ``cryptography``).
- ``sealed``: ``seal``/``unseal`` a whole file's bytes (galleries): HMAC-SHA256 (standard library) or
  AES-256-GCM (``cryptography``); raw 32-byte keys or scrypt passphrases.
- ``onnx_refs``: external-data ``location``s of an ONNX file (read without ``onnx``) and manifest path fields,
  refused when absolute, outside the bundle, through a symlink, or not hashed.

Nothing here imports ``cryptography`` at import time. The threat model is ``docs/security.md``.
"""

from __future__ import annotations

from .onnx_refs import check_bundle_files, check_external_data, check_manifest_paths, external_data_locations, manifest_paths
from .sealed import generate_key, is_sealed, read_sealed, seal, sealed_info, unseal
from .signing import (
    ENV_VAR,
    SIGNATURE,
    key_id,
    keygen,
    load_trusted_keys,
    sign_bundle,
    signature_status,
    trust_status,
    trusted_keys_from_env,
    verify_bundle,
    verify_manifest_bytes,
)

__all__ = [
    "ENV_VAR",
    "SIGNATURE",
    "check_bundle_files",
    "check_external_data",
    "check_manifest_paths",
    "external_data_locations",
    "generate_key",
    "is_sealed",
    "key_id",
    "keygen",
    "load_trusted_keys",
    "manifest_paths",
    "read_sealed",
    "seal",
    "sealed_info",
    "sign_bundle",
    "signature_status",
    "trust_status",
    "trusted_keys_from_env",
    "unseal",
    "verify_bundle",
    "verify_manifest_bytes",
]
