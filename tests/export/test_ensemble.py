"""siamese-export A.pt B.pt: several checkpoints joined into one encoder graph, and the split check that keeps
the thresholds honest."""

from __future__ import annotations

import json

import numpy as np
import pytest
import siamese_sdk
from click.testing import CliRunner
from siamese_sdk import InputError
from siamese_sdk.cli import report
from siamese_sdk.format.manifest import read_manifest
from siamese_sdk.format.pixels import to_batch

torch = pytest.importorskip("torch")
from siamese_export.cli import main as export_cli  # noqa: E402
from siamese_export.pipeline import ExportOptions, export_bundle  # noqa: E402
from siamese_export.wrappers.ensemble import Ensemble  # noqa: E402
from siamese_trainer import checkpoint  # noqa: E402
from siamese_trainer.checkpoint import build_encoder  # noqa: E402
from siamese_trainer.train import TrainConfig, train  # noqa: E402


def tiny_run(data, out, **overrides):
    """The conftest ``trained_run`` settings, with ``overrides``."""
    settings = dict(epochs=2, p=4, k=4, batches_per_epoch=4, embedding_dim=16, val_fraction=0.34)
    train(TrainConfig(data=str(data), out=str(out), **{**settings, **overrides}), log=lambda s: None, progress=False)
    return out / "model.pt"


@pytest.fixture(scope="module")
def second_member(tiny_data, tmp_path_factory):
    """Another seed on the session run's split: what ``--seed 1 --split-seed 0`` is for."""
    return tiny_run(tiny_data, tmp_path_factory.mktemp("ens") / "seed1", seed=1, split_seed=0)


@pytest.mark.parametrize("unit_parts", [True, False])
def test_ensemble_distance_is_the_members_mean(unit_parts):
    """cosine (unit parts): cosine = mean of the members' cosines; euclidean: squared distance = their mean."""
    torch.manual_seed(0)
    members = [torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, d)) for d in (4, 6, 3)]
    x = torch.randn(5, 1, 3, 4)
    with torch.no_grad():
        e = Ensemble(members, unit_parts)(x)
        per = [m(x) for m in members]
    assert e.shape == (5, 13)
    if unit_parts:
        per = [torch.nn.functional.normalize(p, dim=1) for p in per]
        np.testing.assert_allclose(e.norm(dim=1).numpy(), 1.0, atol=1e-6)
        np.testing.assert_allclose((e[:1] @ e.T).numpy(), np.mean([(p[:1] @ p.T).numpy() for p in per], axis=0), atol=1e-6)
    sq = torch.cdist(e[:1], e).pow(2).numpy()
    np.testing.assert_allclose(sq, np.mean([torch.cdist(p[:1], p).pow(2).numpy() for p in per], axis=0), atol=1e-5)


def test_seed_with_split_seed_keeps_the_split(trained_run, second_member):
    a, b = (json.loads((p / "split.json").read_text()) for p in (trained_run, second_member.parent))
    assert (a["train"], a["val"]) == (b["train"], b["val"])
    wa, wb = (checkpoint.load(p)["state_dict"] for p in (trained_run / "model.pt", second_member))
    assert not all(torch.equal(wa[k], wb[k]) for k in wa)  # the weights do differ


def test_ensemble_bundle_embeds_the_members_side_by_side(bundle, trained_run, second_member, images, tmp_path):
    out = tmp_path / "ens"
    member = second_member.parent  # a run folder is a member as it is the first checkpoint: its best.pt
    r = CliRunner().invoke(export_cli, [str(trained_run / "model.pt"), str(member), "-o", str(out), "--no-int8", "--tta", "none"])
    assert r.exit_code == 0, r.output
    assert "ensemble: 2 checkpoints" in r.output and f"exporting {member / 'best.pt'}" in r.output
    m = read_manifest(out)
    assert m.embedding_dim == 32 and len(m.provenance["ensemble"]) == 2 and "ensemble of 2 checkpoints" in report(m, out)
    assert np.isfinite(m.variants["fp32"].thresholds["eer"])  # calibrated on the ensemble's embeddings
    x = to_batch(images[:6], m.preprocess)
    got = siamese_sdk.load(out, variant="fp32").embed(x)
    first = siamese_sdk.load(bundle, variant="fp32").embed(x)
    ck = checkpoint.load(member / "best.pt")
    with torch.no_grad():
        second = build_encoder(ck["model"], ck["state_dict"])(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(got * np.sqrt(2), np.concatenate([first, second], axis=1), atol=1e-5)


def test_members_must_share_the_split_metric_and_kind(trained_run, tiny_data, text_bundle, tmp_path):
    other = tiny_run(tiny_data, tmp_path / "other", seed=1, split_seed=7)
    assert checkpoint.load(other)["data"] != checkpoint.load(trained_run / "model.pt")["data"]
    quiet = ExportOptions(int8=False, log=lambda s: None)
    with pytest.raises(InputError, match="different data split.*--split-seed"):
        export_bundle(trained_run / "model.pt", tmp_path / "a", ExportOptions(members=(other,), int8=False, log=lambda s: None))
    with pytest.raises(InputError, match="cannot join an ensemble"):
        export_bundle(
            trained_run / "model.pt", tmp_path / "b", ExportOptions(members=(text_bundle.parent / "model.pt",), log=quiet.log)
        )
    cosine = tiny_run(tiny_data, tmp_path / "cos", metric="cosine")
    with pytest.raises(InputError, match="one --metric"):
        export_bundle(trained_run / "model.pt", tmp_path / "c", ExportOptions(members=(cosine,), log=quiet.log))
    assert not any((tmp_path / n).exists() for n in "abc")
    # --validation DIR: the user vouches for the classes, so the split check is lifted
    out = export_bundle(
        trained_run / "model.pt", tmp_path / "d", ExportOptions(members=(other,), validation=tiny_data, int8=False, log=quiet.log)
    )
    assert read_manifest(out).embedding_dim == 32
