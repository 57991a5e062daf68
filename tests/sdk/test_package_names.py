"""The names the packages publish: ``import siamese_sdk``'s public names, the CLI's commands, the subpackages."""

from __future__ import annotations

import siamese_sdk
from siamese_sdk import format as fmt
from siamese_sdk import runtime
from siamese_sdk.format import inputs, manifest
from siamese_sdk.runtime import model as runtime_model


def test_package_entry_points_and_names():
    from siamese_sdk import providers
    from siamese_sdk.cli import FriendlyCommand, common, main, report
    from siamese_sdk.gallery import Gallery, store

    assert (FriendlyCommand, report) == (common.FriendlyCommand, common.report) and main.name == "main"
    import siamese_sdk.cli as cli

    for name in ("info", "embed", "verify", "search", "oneshot", "bench", "doctor"):  # the commands
        assert getattr(cli, name) is main.commands[name]
    assert cli.gallery_cmd is main.commands["gallery"]
    assert Gallery is store.Gallery
    for name in providers.__all__:  # every name the runtime, the exporter, the scripts and the tests use
        assert getattr(providers, name) is not None
    assert callable(providers.cuda) and providers.cuda(0) == ("cuda", {"device_id": "0"})


def test_package_names_stay():
    assert siamese_sdk.Manifest is manifest.Manifest and siamese_sdk.read_manifest is manifest.read_manifest
    assert siamese_sdk.SiameseModel is runtime.SiameseModel is runtime_model.SiameseModel and siamese_sdk.load is runtime.load
    assert fmt.write_manifest is manifest.write_manifest and fmt.Preprocess is inputs.Preprocess
    assert dict(manifest.HEADS) == {"pairwise": "head.pairwise.onnx", "matrix": "head.matrix.onnx"}
    assert set(siamese_sdk.__all__) <= set(dir(siamese_sdk)) and siamese_sdk.Gallery is not None
