"""siamese-export --tta: the shifted-view average baked into the encoder graph, checked against numpy shifts, and
the ``auto`` gate that ships it only when it lowers the validation EER."""

from __future__ import annotations

import numpy as np
import pytest
import siamese_sdk
from siamese_sdk import InputError
from siamese_sdk.cli import report
from siamese_sdk.format.manifest import read_manifest
from siamese_sdk.format.pixels import to_batch

torch = pytest.importorskip("torch")
from siamese_export.pipeline import ExportOptions, export_bundle  # noqa: E402
from siamese_export.wrappers.tta import SHIFTS, ShiftTTA, choose  # noqa: E402
from siamese_trainer.data.images import copy_embedded_subset  # noqa: E402


def shifted_views(x: np.ndarray, mode: str) -> list[np.ndarray]:
    """The views by hand: view (dy, dx) reads pixel (i + dy, j + dx), clamped to the border."""
    h, w = x.shape[-2:]
    padded = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)), mode="edge")
    return [padded[:, :, 1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w] for dy, dx in SHIFTS[mode]]


def unit(e: np.ndarray) -> np.ndarray:
    return e / np.linalg.norm(e, axis=1, keepdims=True)


@pytest.mark.parametrize("mode,normalize", [("shift5", True), ("shift9", False), ("none", True)])
def test_shift_tta_is_the_mean_over_one_pixel_shifts(mode, normalize):
    torch.manual_seed(0)
    encoder = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(30, 4))
    x = np.random.default_rng(0).normal(size=(3, 1, 6, 5)).astype(np.float32)
    with torch.no_grad():
        got = ShiftTTA(encoder, mode, normalize)(torch.from_numpy(x)).numpy()
        views = [encoder(torch.from_numpy(np.ascontiguousarray(v))).numpy() for v in shifted_views(x, mode)]
    want = np.mean(views, axis=0)
    assert len(views) == {"none": 1, "shift5": 5, "shift9": 9}[mode]
    np.testing.assert_allclose(got, unit(want) if normalize else want, atol=1e-6)
    assert not np.allclose(views[0], want) or mode == "none"  # the shifts do change the embedding


def test_tta_bundle_embeds_the_average_of_the_plain_bundle_over_shifts(bundle, trained_run, images, tmp_path):
    out = export_bundle(trained_run / "model.pt", tmp_path / "tta", ExportOptions(tta="shift5", int8=False, log=lambda s: None))
    m = read_manifest(out)
    assert m.provenance["tta"] == "shift5" and "test-time augmentation shift5" in report(m, out)
    assert read_manifest(bundle).provenance["tta"] == "none"
    plain, tta = siamese_sdk.load(bundle, variant="fp32"), siamese_sdk.load(out, variant="fp32")
    x = to_batch(images[:6], m.preprocess)
    want = np.mean([plain.embed(np.ascontiguousarray(v)) for v in shifted_views(x, "shift5")], axis=0)
    np.testing.assert_allclose(tta.embed(x), unit(want) if m.normalized else want, atol=1e-5)
    assert np.isfinite(m.variants["fp32"].thresholds["eer"])  # calibrated on the averaged embeddings


def test_tta_refused_where_it_does_not_apply(trained_run, text_bundle, tmp_path):
    with pytest.raises(InputError, match="unknown; pass --tta auto or none or shift5 or shift9"):
        export_bundle(trained_run / "model.pt", tmp_path / "a", ExportOptions(tta="flip", log=lambda s: None))
    with pytest.raises(InputError, match="image checkpoints.*drop --tta"):
        export_bundle(text_bundle.parent / "model.pt", tmp_path / "b", ExportOptions(tta="shift9", log=lambda s: None))
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


@pytest.mark.parametrize(
    "eers,want",
    [
        ({"none": 0.100, "shift5": 0.080, "shift9": 0.070}, "shift9"),  # 3 points, 30 %: pays
        ({"none": 0.100, "shift5": 0.070, "shift9": 0.070}, "shift5"),  # a tie goes to fewer views
        ({"none": 0.0427, "shift5": 0.0388, "shift9": 0.0378}, "shift9"),  # the embedded demo's figures: 11.5 %
        ({"none": 0.0272, "shift5": 0.0258, "shift9": 0.0254}, "shift9"),  # Omniglot's: 6.6 %, 0.18 points
        ({"none": 0.100, "shift5": 0.098, "shift9": 0.096}, "none"),  # 0.4 points but 4 %: within the noise
        ({"none": 0.010, "shift5": 0.0095, "shift9": 0.0092}, "none"),  # 8 % but 0.08 points
        ({"none": 0.400, "shift5": 0.390, "shift9": 0.385}, "none"),  # 1.5 points but 3.75 %: not enough
        ({"none": 0.030, "shift5": 0.032, "shift9": 0.031}, "none"),  # worse
    ],
)
def test_auto_gate_ships_a_shift_only_when_it_pays(eers, want):
    mode, why = choose(eers, lambda m: 1.0)
    assert mode == want
    assert ("->" in why) == (want != "none") and f"{100 * eers['none']:.2f} %" in why


def test_auto_gate_wants_the_gain_in_most_resamples_of_the_identities():
    eers = {"none": 0.100, "shift5": 0.080, "shift9": 0.070}
    asked: list[str] = []
    mode, why = choose(eers, lambda m: asked.append(m) or 0.85)
    assert (mode, asked) == ("none", ["shift9"]) and "lower in only 85 % of resamples (< 99 %)" in why


def test_auto_gate_measures_on_enough_identities_and_records_its_figures(trained_run, tmp_path):
    val = copy_embedded_subset(tmp_path / "val", 4, 3, 6)  # 12 identities
    logs: list[str] = []
    out = export_bundle(trained_run / "model.pt", tmp_path / "b", ExportOptions(validation=val, int8=False, log=logs.append))
    m = read_manifest(out)
    eers = m.provenance["tta_validation_eer"]
    assert set(eers) == set(SHIFTS) and all(0 <= v <= 1 for v in eers.values())
    mode = m.provenance["tta"]
    assert mode == "none" or eers[mode] < eers["none"]
    assert any(n.startswith(f"test-time augmentation {mode} (--tta auto): ") for n in m.notes)
    assert any("test-time augmentation gate: none " in line and line.endswith(f"-> {mode}") for line in logs)
    # the gate's torch figure for the mode it shipped is what the SDK then measured on the same pairs (ONNX Runtime)
    assert abs(m.variants["fp32"].metrics["eer"] - eers[mode]) < 0.01


def test_auto_gate_keeps_one_view_for_two_identities_and_for_text(trained_run, text_bundle, tmp_path):
    val = copy_embedded_subset(tmp_path / "val", 1, 2, 4)
    out = export_bundle(trained_run / "model.pt", tmp_path / "b", ExportOptions(validation=val, int8=False, log=lambda s: None))
    m = read_manifest(out)
    assert m.provenance["tta"] == "none" and "tta_validation_eer" not in m.provenance
    assert any("2 validation identities are too few to resample (< 3)" in n for n in m.notes)
    assert "tta" not in read_manifest(text_bundle).provenance


def test_gate_scores_pairs_alike_through_the_matrix_and_in_chunks(monkeypatch):
    """Folders score through one (N, N) matrix, long tables pair by pair: the same distances, the same modes' views."""
    from siamese_export.wrappers import tta
    from siamese_sdk.eval.metrics import all_pairs

    torch.manual_seed(0)
    encoder = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(30, 4)).eval()
    images = np.random.default_rng(0).normal(size=(7, 1, 6, 5)).astype(np.float32)
    vi, vj, _ = all_pairs(np.arange(7) % 3)
    whole = tta.validation_scores(encoder, images, (vi, vj), "cosine", True)
    monkeypatch.setattr(tta, "MATRIX_MAX_IMAGES", 0)
    chunked = tta.validation_scores(encoder, images, (vi, vj), "cosine", True)
    with torch.no_grad():
        nine = ShiftTTA(encoder, "shift9", True)(torch.from_numpy(images)).numpy()
    want = 1 - (nine[vi] * nine[vj]).sum(1)  # cosine distance of the graph's own averaged embeddings
    for mode in SHIFTS:
        np.testing.assert_allclose(whole[mode], chunked[mode], atol=1e-6)
    np.testing.assert_allclose(whole["shift9"], want, atol=1e-5)
