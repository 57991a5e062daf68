"""The embedded Omniglot subset: one packed file in the package, unpacked once into the user cache.

The package ships ``datasets/omniglot_mini/images.zip`` (the PNG files, stored uncompressed, in the image
folder layout ``Alphabet/characterNN/XXXX_YY.png``) with the data set's ``LICENSE`` and ``README.md``
beside it: one file instead of 6,000. ``embedded_root()`` unpacks it on first use into
``<user cache>/datasets/omniglot_mini-<sha256 of the pack>`` (``siamese_sdk.cachedir``; ``SIAMESE_SDK_CACHE``
moves it) and returns that folder, so training, export and every image-folder reader see an ordinary
folder with the same bytes (same pixels, same order) as before. A new pack unpacks to a new folder.

Imports no torch: ``siamese-train --examples DIR`` works without the ``train`` extra.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
import zipfile
from importlib import resources
from pathlib import Path

from siamese_sdk.cachedir import user_cache_dir
from siamese_sdk.errors import InputError

NAME = "omniglot_mini"
PACK = "images.zip"
#: shipped beside the pack and copied into the unpacked folder
TEXT_FILES = ("LICENSE", "README.md")
#: the two classes (validation classes of the default split, unseen in training) and images ``--examples`` copies:
#: characters whose three drawings the default demo model (scripts/demo.sh) reads SAME with a clear margin
#: (largest distance 0.36 against the EER threshold 1.02); the three drawings of Latin/character01, the earlier
#: choice, read 1.08-1.43 apart (DIFFERENT)
EXAMPLE_CLASSES = {"a": "Japanese_(hiragana)/character10", "b": "Ojibwe_(Canadian_Aboriginal_Syllabics)/character06"}
EXAMPLES_PER_CLASS = 3


def package_dir() -> Path:
    """The data set's folder inside the installed package (the pack, ``LICENSE``, ``README.md``)."""
    return Path(str(resources.files("siamese_trainer") / "datasets" / NAME))


def pack_path() -> Path:
    """The packed images (``images.zip``)."""
    return package_dir() / PACK


def _digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def embedded_root() -> Path:
    """Folder of the shipped Omniglot subset (30 alphabets x 10 characters x 20 drawers, 28 px), unpacked on first use.

    Safe under concurrency: each process unpacks into its own temp folder and renames it into place; the
    first rename wins and the others use its folder. Raises ``InputError`` when the cache is not writable.
    """
    pack = pack_path()
    if not pack.is_file():
        raise InputError(f"the embedded data set is missing from the installed package ({pack}); reinstall siamese-sdk")
    try:
        dest = user_cache_dir("datasets") / f"{NAME}-{_digest(pack)[:16]}"
        if dest.is_dir():
            return dest
        tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.tmp-", dir=dest.parent))
        try:
            with zipfile.ZipFile(pack) as z:
                z.extractall(tmp)
            for name in TEXT_FILES:
                shutil.copy(package_dir() / name, tmp / name)
            os.chmod(tmp, 0o755)  # mkdtemp makes it 0700
            with contextlib.suppress(OSError):  # another process renamed its copy first: use that one
                os.rename(tmp, dest)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    except OSError as e:
        raise InputError(
            f"cannot unpack the embedded data set into the user cache ({e.strerror or e}: {e.filename or ''}); "
            "set SIAMESE_SDK_CACHE to a writable folder"
        ) from None
    if not dest.is_dir():
        raise InputError(f"cannot unpack the embedded data set into {dest}; set SIAMESE_SDK_CACHE to a writable folder")
    return dest


def copy_examples(dest: str | os.PathLike) -> list[Path]:
    """Copy ``EXAMPLES_PER_CLASS`` images of each of two embedded classes into ``dest`` as ``a1.png``, ``a2.png``,
    ..., ``b1.png``, ... (plus the data set's ``LICENSE``), straight from the pack; returns the image paths."""
    dest = Path(dest)
    if dest.exists() and not dest.is_dir():
        raise InputError(f"--examples {dest} is a file; pass a folder (it is created if missing)")
    taken = [dest / f"{tag}{i}.png" for tag in EXAMPLE_CLASSES for i in range(1, EXAMPLES_PER_CLASS + 1)]
    existing = [p for p in taken if p.exists()]
    if existing:
        raise InputError(f"{existing[0]} exists; pass an empty or new folder to --examples")
    dest.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(pack_path()) as z:
        names = sorted(z.namelist())
        for tag, cls in EXAMPLE_CLASSES.items():
            members = [n for n in names if n.rpartition("/")[0] == cls][:EXAMPLES_PER_CLASS]
            if len(members) < EXAMPLES_PER_CLASS:
                raise InputError(f"the embedded pack {pack_path()} lacks class {cls}; reinstall siamese-sdk")
            for i, member in enumerate(members, start=1):
                (dest / f"{tag}{i}.png").write_bytes(z.read(member))
    shutil.copy(package_dir() / "LICENSE", dest / "LICENSE.omniglot")
    return taken
