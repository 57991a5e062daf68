"""Old module paths keep importing after a module moved: a table of aliases, not a file per alias.

``import siamese_sdk.bundle`` gives the module ``siamese_sdk.format.manifest`` itself (so setting an attribute
on it acts on the reader); an old path whose names now live in several modules gives a module holding all of
them. Each package registers its own table with ``register`` (the trainer and export packages do too).
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import types
from collections.abc import Mapping, Sequence

#: old module -> the module(s) its names live in now.
MOVED: dict[str, tuple[str, ...]] = {}


class _AliasLoader(importlib.abc.Loader):
    def __init__(self, targets: Sequence[str]):
        self.targets = tuple(targets)
        self._spec = None

    def create_module(self, spec):  # noqa: ANN001, ANN201
        modules = [importlib.import_module(t) for t in self.targets]
        if len(modules) == 1:
            self._spec = modules[0].__spec__
            return modules[0]
        merged = types.ModuleType(spec.name, f"Names moved to {', '.join(self.targets)}.")
        for m in modules:
            merged.__dict__.update({k: v for k, v in vars(m).items() if not k.startswith("__")})
        return merged

    def exec_module(self, module: types.ModuleType) -> None:
        if self._spec is not None:  # the import system stamped the alias spec on the real module: undo it
            module.__spec__ = self._spec


class _MovedFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname: str, path=None, target=None):  # noqa: ANN001, ANN201
        targets = MOVED.get(fullname)
        return None if targets is None else importlib.util.spec_from_loader(fullname, _AliasLoader(targets))


def register(table: Mapping[str, Sequence[str]]) -> None:
    """Add ``{old module: [new module, ...]}`` aliases (full dotted names)."""
    MOVED.update({old: tuple(new) for old, new in table.items()})
    if not any(isinstance(f, _MovedFinder) for f in sys.meta_path):
        sys.meta_path.append(_MovedFinder())


register(
    {
        "siamese_sdk.bundle": ["siamese_sdk.format.manifest"],
        "siamese_sdk.inputs": ["siamese_sdk.format.inputs"],
        "siamese_sdk.branches": ["siamese_sdk.format.entries"],
        "siamese_sdk.model": ["siamese_sdk.runtime.model"],
        "siamese_sdk.preprocess": ["siamese_sdk.format.pixels", "siamese_sdk.format.inputs", "siamese_sdk.tools.files"],
        "siamese_sdk.metrics": ["siamese_sdk.eval.metrics"],
        "siamese_sdk.oneshot": ["siamese_sdk.eval.oneshot"],
        "siamese_sdk.bench": ["siamese_sdk.tools.bench"],
        "siamese_sdk.doctor": ["siamese_sdk.tools.doctor"],
        "siamese_sdk.stream": ["siamese_sdk.tools.stream", "siamese_sdk.tools.files"],
        "siamese_sdk.imagefolder": ["siamese_sdk.tools.imagefolder"],
    }
)
