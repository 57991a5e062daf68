"""The old module paths of the runtime's tools keep working: each old name is the moved object itself."""

from __future__ import annotations

import importlib

import pytest

MOVED = {
    "siamese_sdk.metrics": "siamese_sdk.eval.metrics",
    "siamese_sdk.oneshot": "siamese_sdk.eval.oneshot",
    "siamese_sdk.bench": "siamese_sdk.tools.bench",
    "siamese_sdk.doctor": "siamese_sdk.tools.doctor",
    "siamese_sdk.stream": "siamese_sdk.tools.stream",
    "siamese_sdk.imagefolder": "siamese_sdk.tools.imagefolder",
}
#: names added with the move (the old modules never had them)
NEW = {"used_images", "embed_used"}


@pytest.mark.parametrize("old, new", sorted(MOVED.items()))
def test_old_module_re_exports_every_public_name(old, new):
    a, b = importlib.import_module(old), importlib.import_module(new)
    public = {
        n
        for n, v in vars(b).items()
        if not n.startswith("_")
        and n not in NEW
        and (getattr(v, "__module__", None) == new or (n.isupper() and n != "TYPE_CHECKING"))
    }
    missing = sorted(n for n in public if getattr(a, n, None) is not getattr(b, n))
    assert not missing, f"{old} lacks {missing}"


def test_package_entry_points_and_names():
    from siamese_sdk import providers
    from siamese_sdk.cli import FriendlyCommand, common, main, report
    from siamese_sdk.gallery import Gallery, store
    from siamese_sdk.stream import iter_images
    from siamese_sdk.tools import files

    assert (FriendlyCommand, report) == (common.FriendlyCommand, common.report) and main.name == "main"
    import siamese_sdk.cli as cli

    for name in ("info", "embed", "verify", "search", "oneshot", "bench", "doctor"):  # the commands, as before
        assert getattr(cli, name) is main.commands[name]
    assert cli.gallery_cmd is main.commands["gallery"]
    assert Gallery is store.Gallery and iter_images is files.iter_images
    for name in providers.__all__:  # every name the runtime, the exporter, the scripts and the tests use
        assert getattr(providers, name) is not None
    assert callable(providers.cuda) and providers.cuda(0) == ("cuda", {"device_id": "0"})
