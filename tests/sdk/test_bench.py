"""siamese bench: the report's keys, ratios, FAR/FRR at shipped thresholds, Markdown, plots, torch comparison."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from siamese_sdk.cli import main as siamese
from siamese_sdk.eval import metrics
from siamese_sdk.format.manifest import read_manifest
from siamese_sdk.tools import bench, bench_report

GOLDEN = Path(__file__).resolve().parents[1] / "data" / "golden"
#: whether torch is installed (looked up, not imported: the comparison runs in a child process)
TORCH = importlib.util.find_spec("torch") is not None


@pytest.fixture(scope="module")
def report(bundle, tiny_data, tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    args = [
        "bench",
        str(bundle),
        "--data",
        str(tiny_data),
        "--runs",
        "5",
        "--batch",
        "1,4",
        "--threads",
        "1",
        "--json",
        str(out / "b.json"),
        "--markdown",
        str(out / "b.md"),
    ]
    if TORCH:  # torch eager runs in a process of its own: the checked-in checkpoint the golden bundle came from
        args += ["--torch", str(GOLDEN / "image" / "model.pt")]
    r = CliRunner().invoke(siamese, args)
    assert r.exit_code == 0, r.output
    return json.loads((out / "b.json").read_text()), (out / "b.md").read_text()


def test_report_keys(report, bundle):
    rep, md = report
    m = read_manifest(bundle)
    assert set(rep["variants"]) == set(m.variants)
    for name, v in rep["variants"].items():
        for key in (
            "latency_ms_b1_p50",
            "latency_ms_b1_p95",
            "latency_ms_b1_p99",
            "throughput_b64_per_s",
            "size_bytes",
            "auc",
            "eer",
            "cold_start_ms",
            "peak_rss_mb",
            "tar_at_far_1e-2",
            "tar_at_far_1e-3",
        ):
            assert np.isfinite(v[key]) and v[key] >= 0, key
        assert v["latency_ms_b1_p50"] <= v["latency_ms_b1_p99"]
        # the parent's clock covers the child's own steps plus interpreter start-up; the exit is timed apart
        # the split is timed in other processes than the total: on a busy machine they need not add up, so no sum check
        assert min(v["cold_start_ms"], v["import_ms"], v["load_ms"], v["first_embed_ms"], v["exit_ms"]) > 0
        assert set(v["throughput_per_s"]) == {"1", "4", "64"}
        assert v["size_bytes"] == (bundle / m.variants[name].file).stat().st_size
        assert set(v["at_shipped_thresholds"]) == {"eer", "far_1e-2", "far_1e-3", "max_accuracy"}
    if TORCH:
        assert rep["torch_eager"]["throughput_b64_per_s"] > 0
        assert rep["ratios"]["fp32_over_torch_throughput_b64"] == pytest.approx(
            rep["variants"]["fp32"]["throughput_b64_per_s"] / rep["torch_eager"]["throughput_b64_per_s"]
        )
    assert "| fp32 |" in md and "ratio" in md


def test_far_frr_at_shipped_thresholds_hand_checked(bundle, tiny_data):
    """Recompute FAR/FRR at the manifest thresholds directly from scores."""
    import siamese_sdk

    model = siamese_sdk.load(bundle, variant="fp32")
    acc, scores, same = bench.accuracy(model, tiny_data)
    for op, t in model.manifest.variants["fp32"].thresholds.items():
        assert acc["at_shipped_thresholds"][op]["far"] == pytest.approx(np.mean(scores[~same] <= t))
        assert acc["at_shipped_thresholds"][op]["frr"] == pytest.approx(np.mean(scores[same] > t))
    assert acc["auc"] == pytest.approx(metrics.roc_auc(scores, same))


def test_plots_written(bundle, tiny_data, tmp_path):
    pytest.importorskip("matplotlib")
    r = CliRunner().invoke(
        siamese, ["bench", str(bundle), "--data", str(tiny_data), "--runs", "5", "--variant", "fp32", "--plots", str(tmp_path)]
    )
    assert r.exit_code == 0, r.output
    pngs = sorted(p.name for p in tmp_path.glob("*.png"))
    assert pngs == ["hist_fp32.png", "roc_det.png"]
    assert all((tmp_path / p).read_bytes()[:4] == b"\x89PNG" for p in pngs)


@pytest.mark.parametrize(
    "args, expect",
    [(["--batch", "a,b"], "comma list"), (["--batch", "0"], "positive"), (["--plots", "x"], "--plots needs --data")],
)
def test_bad_flags(bundle, args, expect):
    r = CliRunner().invoke(siamese, ["bench", str(bundle), *args])
    assert r.exit_code == 1 and expect in r.output and "Traceback" not in r.output


def test_per_provider_times_each_provider_alone(bundle):
    rep, _ = bench.run(bundle, ["fp32"], ["cpu"], threads=1, batches=(1,), runs=5, per_provider=True)
    entry = rep["per_provider"]["cpu"]["fp32"]
    assert set(entry) == {"latency_ms_b1_p50", "throughput_b64_per_s"} and all(v > 0 for v in entry.values())
    assert "| cpu | fp32 |" in bench_report.markdown(rep)
