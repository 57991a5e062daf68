"""The runtime's suite runs on checked-in data, without torch: the fixtures the whole test tree shares are
replaced here by torch-free ones.

- ``bundle``: a session copy of ``tests/data/golden/bundle`` (the image export of ``tests/data/golden/image/model.pt``,
  fp32 + int8, both heads; ``scripts/make_golden.py`` makes it), so a test may write beside it;
- ``tiny_data``: 12 real classes x 8 images (28 px, ``Alphabet/characterNN/*.png``) read straight from the trainer's
  packed Omniglot subset with ``zipfile`` (the same files ``siamese_trainer.embedded`` unpacks);
- ``model``, ``images``, ``bundle_copy`` (the shared ones in ``tests/conftest.py``) then use these.

Train -> export -> SDK coverage lives in ``tests/e2e``. While a test of this folder runs, importing ``torch``
raises ``ImportError`` (``TorchBlocker``), so a fixture or test that needs them fails
(or, with ``pytest.importorskip``, skips). That holds when torch is not loaded yet in this process: CI runs this
folder in a pytest process of its own (``scripts/test.sh``); ``test_no_torch.py`` checks the blocker.
"""

from __future__ import annotations

import importlib.abc
import shutil
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
TESTS = HERE.parent
GOLDEN = TESTS / "data" / "golden"
PACK = TESTS.parent / "trainer" / "siamese_trainer" / "datasets" / "omniglot_mini" / "images.zip"
#: what the runtime never needs (``onnx`` stays: a few tests use it as a tool to craft models, and skip without it)
BLOCKED = ("torch",)


class TorchBlocker(importlib.abc.MetaPathFinder):
    """Refuses ``BLOCKED`` modules (and their submodules) while ``active``."""

    active = False

    def find_spec(self, fullname, path=None, target=None):  # noqa: ANN001, ANN201
        if self.active and fullname.split(".")[0] in BLOCKED:
            raise ImportError(f"tests/sdk runs without torch: {fullname} imported (use a checked-in bundle; train/export belong in tests/e2e)")
        return None


BLOCKER = TorchBlocker()
#: whether the blocker can act here: nothing of ``BLOCKED`` was imported before this folder's tests
EFFECTIVE = not any(name in sys.modules for name in BLOCKED)
sys.meta_path.insert(0, BLOCKER)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    # a conftest's hooks see every item of the session: block only around this folder's (fixtures included)
    BLOCKER.active = Path(item.path).is_relative_to(HERE)
    try:
        yield
    finally:
        BLOCKER.active = False


@pytest.fixture
def torch_blocker() -> tuple[TorchBlocker, bool]:
    """``(the blocker, whether it can act here: nothing of ``BLOCKED`` imported yet in this process)``."""
    return BLOCKER, EFFECTIVE and not any(name in sys.modules for name in BLOCKED)


@pytest.fixture(scope="session")
def bundle(tmp_path_factory) -> Path:
    """The checked-in golden image bundle (fp32 + int8, both heads), copied once per session."""
    return Path(shutil.copytree(GOLDEN / "bundle", tmp_path_factory.mktemp("golden") / "bundle"))


def copy_omniglot(dest: Path, alphabets: int = 4, characters: int = 3, per_class: int = 8) -> Path:
    """The first ``alphabets`` x ``characters`` classes of the packed Omniglot subset, ``per_class`` images each."""
    with zipfile.ZipFile(PACK) as z:
        names = sorted(n for n in z.namelist() if n.endswith(".png"))
        tree: dict[str, dict[str, list[str]]] = {}
        for n in names:
            alpha, char, _ = n.split("/")[-3:]
            tree.setdefault(alpha, {}).setdefault(char, []).append(n)
        for alpha in sorted(tree)[:alphabets]:
            for char in sorted(tree[alpha])[:characters]:
                out = dest / alpha / char
                out.mkdir(parents=True)
                for n in tree[alpha][char][:per_class]:
                    (out / n.rsplit("/", 1)[1]).write_bytes(z.read(n))
    return dest


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory) -> Path:
    """12 real classes x 8 images, 28 px grayscale, Omniglot layout (no torch, no trainer import)."""
    return copy_omniglot(tmp_path_factory.mktemp("data") / "omniglot")


def _trains(name: str):  # noqa: ANN202
    @pytest.fixture(scope="session", name=name)
    def refused() -> None:
        raise pytest.UsageError(f"tests/sdk has no {name} (it trains): use a checked-in bundle, or put the test in tests/e2e")

    return refused


#: the shared fixtures that train or export (``tests/conftest.py``, ``tests/kinds.py``): refused here in one line
for _name in ("trained_run", "text_bundle", "dialog_bundle", "pseudo_run", "signet_lrn", "signet_batch", "backbone_run", "learned_run"):
    globals()[f"_{_name}"] = _trains(_name)
