"""The browser runtime (``sdk/js``, onnxruntime-web WASM in headless Chromium) against the Python SDK.

One browser run (module fixture) pushes a fixed set of PNGs through both runtimes: the six golden images
(``tests/data/golden/images``) and 30 images of 10 classes of the embedded Omniglot subset, all 630 pairs
of them, for the fp32 and int8 variants of the golden bundle. Asserted:

- preprocessing is bit-equal (max abs difference 0) on the bundle's own inputs and on 40 generated PNGs
  that exercise every resample filter up and down, grey and RGB, L / P / RGBA / LA sources, translucent and
  transparent pixels, a 4-bit palette, letterbox and crop into a non-square input (wider and taller
  sources, a half-pixel rounding tie, the fill value), and ``ink normalize-crop`` (grey, white and blank pages,
  ink at the edge); and the golden bundle with its manifest set to letterbox, to crop and to ink
  preprocesses non-square PNGs and signatures as the Python SDK does;
- fp32: embeddings agree to cosine >= 0.9999, every decision at the shipped thresholds (all four operating
  points) and every gallery search top-1 is the same;
- int8 (8-bit weights, the golden bundle): onnxruntime-web's WASM build runs the QDQ graph unfused (float
  kernels between Q/DQ), the SDK on x86 with fused integer kernels, which on CPUs without VNNI saturate 8-bit
  weight products (``siamese_export.onnx.quantize``). So the browser's int8 is checked against ONNX Runtime's
  unfused run of the same file (cosine >= 0.9999, every decision and top-1 equal), and against the SDK's int8 on
  every pair whose score is clear of the threshold by ``INT8_MARGIN`` (all pairs where the CPU has VNNI);
- a bundle exported here from the golden checkpoint with ``--profile cpu,mobile --int8-weight-bits 7``: its
  int8 (7-bit weights) equal to the SDK's on every decision on any CPU; its ORT-format copies (manifest ``ort``)
  run in the browser (``modelFormat: 'ort'``) equal to the SDK's ``model_format="ort"``; ``threshold_support``
  read as the SDK reads it; the ``modelFormat`` choices and errors;
- the one-line errors of broken loads, and the demo page's decision.

The figures (min cosine, decisions equal / total, embed latencies next to the Python SDK's) are printed;
``docs/results/browser-parity.md`` records a run. Needs Chromium, Node.js and ``npm ci`` in ``sdk/js``
(``.ci/run`` installs them); a machine without them fails, unless ``SIAMESE_SKIP_BROWSER=1``.
"""

from __future__ import annotations

import base64
import itertools
import json
import shutil
import statistics
import time
from pathlib import Path
from urllib.parse import quote

import numpy as np
import pytest
import siamese_sdk
from browser_harness import ROOT, require_browser, run_in_browser, serve
from parity_cases import GOLDEN_IMAGES, bad_manifests, bundle_cases, jpeg_case, png_cases
from siamese_sdk.format.inputs import Preprocess
from siamese_sdk.format.manifest import OPERATING_POINTS
from siamese_sdk.format.pixels import to_array, to_batch

BUNDLE = ROOT / "tests" / "data" / "golden" / "bundle"
VARIANTS = ("fp32", "int8")
MIN_COSINE = 0.9999
#: embed latency: min and median of ``repeats`` samples; one-image samples time ``inner`` calls (the page's clock ticks in 0.1 ms)
TIMING = {"batch": 32, "repeats": 20, "inner": 10}
#: int8 against the Python SDK: decisions must agree where the SDK's score is farther than this from the threshold.
#: The browser runs the QDQ graph unfused (float kernels between Q/DQ), the SDK on x86 with integer kernels
#: (QLinearConv); the scores of the two differ by up to 0.17 on this set (Euclidean, thresholds 0.24 .. 0.92).
INT8_MARGIN = 0.2
#: the exported bundle with ORT-format copies and 7-bit int8 weights
CHECKPOINT = ROOT / "tests" / "data" / "golden" / "image" / "model.pt"
FORMATS = ("onnx", "ort")


def parity_set() -> tuple[list[Path], list[str]]:
    """The images and their class labels: the golden six, then 3 images of each of 10 embedded classes."""
    from siamese_trainer.embedded import embedded_root  # the packed subset, unpacked once into the user cache

    images = list(GOLDEN_IMAGES)
    labels = [p.stem[0] for p in GOLDEN_IMAGES]
    for alphabet in sorted(d for d in embedded_root().iterdir() if d.is_dir())[::3][:10]:
        character = sorted(alphabet.iterdir())[0]
        for p in sorted(character.glob("*.png"))[:3]:
            images.append(p)
            labels.append(f"{alphabet.name}/{character.name}")
    return images, labels


#: the static site the browser sees: the repository under /repo/ and the embedded images under /embedded/
MOUNTS = {"repo": ROOT}


def url_of(path: Path) -> str:
    for name, root in MOUNTS.items():
        if path.is_relative_to(root):
            return f"/{name}/" + quote(path.relative_to(root).as_posix())
    raise ValueError(f"{path} is outside the served folders {list(MOUNTS.values())}")


def site(tmp: Path) -> Path:
    """A folder of links to ``MOUNTS`` (the embedded images live in the user cache, outside the repository)."""
    from siamese_trainer.embedded import embedded_root

    MOUNTS["embedded"] = embedded_root()
    for name, root in MOUNTS.items():
        (tmp / name).symlink_to(root, target_is_directory=True)
    return tmp


def time_ms(fn, repeats: int, inner: int = 1) -> tuple[float, float]:
    """``(min, median)`` milliseconds of one ``fn()`` call over ``repeats`` samples of ``inner`` calls."""
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(inner):
            fn()
        times.append((time.perf_counter() - t0) * 1000 / inner)
    return min(times), statistics.median(times)


def unfused_int8(x: np.ndarray) -> np.ndarray:
    """The int8 encoder as the browser runs it: ONNX Runtime without the QDQ fusions (basic optimisations only)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    opts.intra_op_num_threads = 1
    session = ort.InferenceSession(str(BUNDLE / "encoder.int8.onnx"), opts, providers=["CPUExecutionProvider"])
    return session.run(None, {"images": x})[0]


def python_side(
    variant: str,
    images: list[Path],
    pairs: list[tuple[int, int]],
    gallery: dict,
    bundle: Path = BUNDLE,
    model_format: str = "onnx",
) -> dict:
    """What the Python SDK computes on the parity set with ``variant``: embeddings, scores, decisions, top-1, latency."""
    m = siamese_sdk.load(bundle, variant=variant, threads=1, model_format=model_format)
    x = m.preprocess([str(p) for p in images])
    left, right = [i for i, _ in pairs], [j for _, j in pairs]
    emb = m.embed(x)
    g = siamese_sdk.Gallery.for_model(m)
    g.add(emb[gallery["rows"]], gallery["ids"])
    one, batch = [str(images[0])], [str(images[i % 8]) for i in range(TIMING["batch"])]
    x_one, x_batch = m.preprocess(one), m.preprocess(batch)
    repeats, inner = TIMING["repeats"], TIMING["inner"]
    return {
        "embeddings": emb,
        "scores": m.distance(emb[left], emb[right]),
        "thresholds": {op: m.threshold(op) for op in OPERATING_POINTS},
        "decisions": {op: m.verify(x[left], x[right], operating_point=op).same for op in OPERATING_POINTS},
        "top1": [str(i) for i in g.search(emb[gallery["queries"]], k=1)[0][:, 0]],
        "support": m.manifest.variants[variant].support,
        "latency": {
            "embed_1_ms": time_ms(lambda: m.embed(one), repeats, inner),
            "embed_batch_ms": time_ms(lambda: m.embed(batch), repeats),
            "encoder_1_ms": time_ms(lambda: m.embed(x_one), repeats, inner),
            "encoder_batch_ms": time_ms(lambda: m.embed(x_batch), repeats),
        },
    }


def export_mobile(out: Path) -> Path:
    """The golden checkpoint exported with ORT-format copies (``--profile cpu,mobile``) and 7-bit int8 weights."""
    from siamese_export.options import ExportOptions
    from siamese_export.pipeline import export_bundle

    opts = ExportOptions(profiles=("cpu", "mobile"), int8_weight_bits=7, log=lambda _: None)
    return export_bundle(CHECKPOINT, out / "bundle", opts)


def unfused_side(images: list[Path], pairs: list[tuple[int, int]], gallery: dict) -> dict:
    """The int8 graph run unfused by ONNX Runtime (as the browser runs it), scored and searched by the SDK's heads."""
    m = siamese_sdk.load(BUNDLE, variant="int8", threads=1)
    emb = unfused_int8(m.preprocess([str(p) for p in images]))
    scores = m.distance(emb[[i for i, _ in pairs]], emb[[j for _, j in pairs]])
    g = siamese_sdk.Gallery.for_model(m)
    g.add(emb[gallery["rows"]], gallery["ids"])
    hic = m.manifest.higher_is_closer
    return {
        "embeddings": emb,
        "decisions": {op: (scores >= m.threshold(op)) if hic else (scores <= m.threshold(op)) for op in OPERATING_POINTS},
        "top1": [str(i) for i in g.search(emb[gallery["queries"]], k=1)[0][:, 0]],
    }


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> dict:
    """Both runtimes on the parity set: ``{"js": the page's result, "py": {variant: python_side}, "cases": {name: Pillow's
    input}, "pairs", "browser_s"}``."""
    require_browser()
    MOUNTS["mobile"] = export_mobile(tmp_path_factory.mktemp("mobile"))
    served = site(tmp_path_factory.mktemp("site"))
    images, labels = parity_set()
    pairs = list(itertools.combinations(range(len(images)), 2))
    first = {lab: i for i, lab in reversed(list(enumerate(labels)))}  # each class's first image is enrolled
    rows = sorted(first.values())
    gallery = {"ids": [labels[i] for i in rows], "rows": rows, "queries": [i for i in range(len(images)) if i not in rows]}
    cases = [*png_cases(), jpeg_case()]
    bundles = bundle_cases()
    pixel_images = [*GOLDEN_IMAGES[:4], images[6], images[9]]
    job = {
        "bundle": url_of(BUNDLE) + "/",
        "images": [url_of(p) for p in images],
        "pairs": pairs,
        "variants": list(VARIANTS),
        "gallery": gallery,
        "pixelImages": [url_of(p) for p in pixel_images],
        "preprocessCases": [
            {"name": c["name"], "png": base64.b64encode(c["bytes"]).decode(), "type": c["type"], "spec": c["spec"].to_dict()}
            for c in cases
        ],
        "bundleCases": [{**b, "pngs": [base64.b64encode(p).decode() for p in b["pngs"]]} for b in bundles],
        "timing": TIMING,
        "badManifests": bad_manifests(),
        "mobile": {"bundle": url_of(MOUNTS["mobile"]) + "/", "variants": list(VARIANTS)},
    }
    with serve(served) as base:
        t0 = time.perf_counter()
        demo = {"url": base + "repo/sdk/js/demo/index.html", "images": [str(GOLDEN_IMAGES[0]), str(GOLDEN_IMAGES[1])]}
        js = run_in_browser(base + "repo/sdk/js/test/harness.html", job, demo)
        browser_s = time.perf_counter() - t0
    tmp = tmp_path_factory.mktemp("cases")
    expected_cases = {}
    for c in cases:
        path = tmp / (c["name"] + (".jpg" if c["type"] == "image/jpeg" else ".png"))
        path.write_bytes(c["bytes"])
        expected_cases[c["name"]] = to_array(path, c["spec"])
    py = {variant: python_side(variant, images, pairs, gallery) for variant in VARIANTS}
    py["int8-unfused"] = unfused_side(images, pairs, gallery)
    py["mobile"] = {
        f"{v}.{fmt}": python_side(v, images, pairs, gallery, MOUNTS["mobile"], fmt) for v in VARIANTS for fmt in FORMATS
    }
    py["pixels"] = siamese_sdk.load(BUNDLE, variant="fp32").preprocess([str(p) for p in pixel_images])
    golden = siamese_sdk.read_manifest(BUNDLE).preprocess.to_dict()
    for b in bundles:
        paths = [tmp / f"{b['name']}-{i}.png" for i in range(len(b["pngs"]))]
        for path, png in zip(paths, b["pngs"], strict=True):
            path.write_bytes(png)
        expected_cases["bundle-" + b["name"]] = to_batch(paths, Preprocess.from_dict({**golden, **b["patch"]}))
        expected_cases["bundle-stretch"] = to_batch(paths, Preprocess.from_dict(golden))
    return {"js": js, "py": py, "cases": expected_cases, "pairs": pairs, "browser_s": browser_s}


def cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def test_preprocessing_is_pixel_equal(run):
    """The bundle's own input tensor on golden and embedded PNGs: bit-equal."""
    want = run["py"]["pixels"]
    got = np.asarray(run["js"]["pixels"], dtype=np.float32).reshape(want.shape)
    assert np.array_equal(got, want), f"max abs diff {np.abs(got - want).max()}"


def test_resample_filters_match_pillow(run):
    """Every filter, up and down, grey and RGB, L / P / RGBA sources: bit-equal to Pillow's; JPEG is reported only."""
    diffs = {}
    for case in run["js"]["cases"]:
        want = run["cases"][case["name"]]
        got = np.asarray(case["data"], dtype=np.float32).reshape(want.shape)
        diffs[case["name"]] = float(np.abs(got - want).max())
    assert {k: v for k, v in diffs.items() if v != 0 and not k.startswith("jpeg")} == {}


def test_letterbox_and_crop_bundles_preprocess_like_the_sdk(run):
    """The golden bundle's manifest set to letterbox / crop / ink normalize-crop: the browser reads the keys and gives
    Pillow's pixels."""
    assert [b["name"] for b in run["js"]["bundles"]] == ["letterbox", "crop", "ink"]
    for b in run["js"]["bundles"]:
        want = run["cases"]["bundle-" + b["name"]]
        got = np.asarray(b["data"], dtype=np.float32).reshape(want.shape)
        assert np.array_equal(got, want), f"{b['name']}: max abs diff {np.abs(got - want).max()}"
        assert not np.array_equal(want, run["cases"]["bundle-stretch"])  # the keys took effect


def assert_same_decisions(run: dict, js: dict, ref: dict, name: str, keep: dict | None = None) -> None:
    """Every decision equal (``keep``: only where ``keep[op]`` is true), at every operating point."""
    for op in OPERATING_POINTS:
        differ = np.asarray(js["decisions"][op]) != np.asarray(ref["decisions"][op])
        if keep is not None:
            differ &= keep[op]
        flipped = np.flatnonzero(differ)
        assert flipped.size == 0, f"{name} {op}: {flipped.size} decisions differ, pairs {[run['pairs'][i] for i in flipped[:5]]}"


def test_fp32_embeddings_decisions_and_search_equal(run):
    js, py = run["js"]["variants"]["fp32"], run["py"]["fp32"]
    assert js["variant"] == "fp32" and js["thresholds"] == py["thresholds"]
    cos = cosine(np.asarray(js["embeddings"], dtype=np.float32), py["embeddings"])
    assert cos.min() >= MIN_COSINE, f"min cosine {cos.min()}"
    assert_same_decisions(run, js, py, "fp32")
    assert js["top1"] == py["top1"]


def test_int8_computes_the_quantised_graph(run):
    """The browser's int8 is the QDQ graph's own arithmetic: equal to ONNX Runtime's unfused run, every decision."""
    js, ref = run["js"]["variants"]["int8"], run["py"]["int8-unfused"]
    assert js["variant"] == "int8"
    cos = cosine(np.asarray(js["embeddings"], dtype=np.float32), ref["embeddings"])
    assert cos.min() >= MIN_COSINE, f"min cosine {cos.min()}"
    assert_same_decisions(run, js, ref, "int8 (unfused)")
    assert js["top1"] == ref["top1"]


def test_int8_decisions_agree_with_the_sdk_outside_the_margin(run):
    """Against the Python SDK's int8 (integer kernels): equal wherever its score is clear of the threshold."""
    js, py = run["js"]["variants"]["int8"], run["py"]["int8"]
    assert js["thresholds"] == py["thresholds"]
    clear = {op: np.abs(py["scores"] - t) > INT8_MARGIN for op, t in py["thresholds"].items()}
    assert_same_decisions(run, js, py, "int8", keep=clear)


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("fmt", FORMATS)
def test_exported_bundle_equal_to_the_sdk(run, variant, fmt):
    """The exported bundle from ``.onnx`` and from its ORT-format copies: the files asked for, embeddings within
    ``MIN_COSINE`` and every decision and top-1 equal to the SDK's same files, int8 (7-bit weights) included."""
    key = f"{variant}.{fmt}"
    js, py = run["js"]["mobile"]["runs"][key], run["py"]["mobile"][key]
    assert (js["variant"], js["modelFormat"]) == (variant, fmt)
    assert js["thresholds"] == py["thresholds"]
    cos = cosine(np.asarray(js["embeddings"], dtype=np.float32), py["embeddings"])
    assert cos.min() >= MIN_COSINE, f"{key} min cosine {cos.min()}"
    assert_same_decisions(run, js, py, key)
    assert js["top1"] == py["top1"]


@pytest.mark.parametrize("variant", VARIANTS)
def test_threshold_support_as_the_sdk_reads_it(run, variant):
    """``model.thresholdSupport(op)`` and ``verify(...).support`` hold the manifest's ``threshold_support``."""
    js, py = run["js"]["mobile"]["runs"][f"{variant}.onnx"], run["py"]["mobile"][f"{variant}.onnx"]
    assert set(py["support"]) == set(OPERATING_POINTS)
    for op in OPERATING_POINTS:
        assert js["support"][op]["model"] == py["support"][op]
        assert js["support"][op]["verification"] == py["support"][op]
    golden = siamese_sdk.read_manifest(BUNDLE).variants["fp32"].support["eer"]
    assert json.loads(run["js"]["mobile"]["choices"]["goldenSupport"].removeprefix("ok: ")) == golden
    assert run["js"]["mobile"]["choices"]["oldSupport"] == "ok: null"  # a bundle from before the key


def test_model_format_choices_and_errors(run):
    c = run["js"]["mobile"]["choices"]
    assert c["autoMobile"] == "ok: int8.ort"
    assert c["autoGolden"] == "ok: int8.onnx"  # no ORT-format copies: the .onnx files
    assert c["ortGolden"] == (
        'BundleError: this bundle has no ORT-format file for "int8" (ORT-format variants: []); '
        "export with --profile mobile or use modelFormat 'onnx'"
    )
    tampered = "BundleError: bundle file encoder.int8.ort does not match its sha256 in the manifest (changed or tampered); re-export the bundle"
    assert c["tamperedOrt"] == c["tamperedOrtAuto"] == tampered  # never a fallback past a bad hash
    assert c["badFormat"] == 'InputError: modelFormat "tflite" unknown; expected one of onnx, ort, auto'


def test_errors_are_one_line_with_the_fix(run):
    errors = run["js"]["errors"]
    assert errors["files"] == "ok: fp32"  # the same bundle from in-memory files
    assert errors["tampered"] == (
        "BundleError: bundle file encoder.fp32.onnx does not match its sha256 in the manifest (changed or tampered); re-export the bundle"
    )
    assert (
        errors["unlisted"]
        == 'BundleError: the bundle holds files the manifest does not list: ["notes.txt"]; remove them or re-export'
    )
    assert errors["noManifest"].startswith("BundleError: ") and "has no manifest.json (HTTP 404)" in errors["noManifest"]
    assert errors["variant"] == "BundleError: variant \"fp16\" not in this bundle; available: fp32, int8 or 'auto'"
    assert errors["operatingPoint"] == 'InputError: operating point "far_1e-9" unknown; expected one of eer, far_1e-2, far_1e-3, max_accuracy'
    assert errors["resize"] == 'BundleError: preprocess resize "pad" unknown to this runtime; use stretch, letterbox, crop (or upgrade)'
    assert errors["ink"] == 'BundleError: preprocess ink "binarize" unknown to this runtime; use none, normalize-crop (or upgrade)'
    assert all("\n" not in e for e in errors.values())


def _sdk_reads(text: str, tmp: Path) -> str:
    """``ok: DIM`` or ``ErrorClass`` of the Python reader on a golden bundle whose manifest is ``text``."""
    root = tmp / "b"
    shutil.rmtree(root, ignore_errors=True)
    shutil.copytree(BUNDLE, root)
    (root / "manifest.json").write_text(text)
    try:
        return f"ok: {siamese_sdk.read_manifest(root).embedding_dim}"
    except siamese_sdk.SiameseError as e:
        assert "\n" not in str(e)
        return type(e).__name__


def test_bad_manifests_get_the_same_answers(run, tmp_path):
    """Manifest values the exporter never writes (NaN/overflowing/string thresholds, string booleans, fractional
    sizes, a zero scale, deep nesting, an ORT entry naming an ONNX graph...): both runtimes refuse each with a
    one-line BundleError, and both read the golden manifest and one with an unknown optional key."""
    errors = run["js"]["errors"]
    for case in bad_manifests():
        js = errors[f"manifest:{case['name']}"]
        js_kind = js if js.startswith("ok: ") else js.split(":")[0]
        assert js_kind == _sdk_reads(case["text"], tmp_path), (case["name"], js)
        assert js.startswith("ok: ") == case["name"].startswith("ok-") and "\n" not in js, (case["name"], js)


def test_demo_page_shows_the_sdk_decision(run):
    m = siamese_sdk.load(BUNDLE, variant="fp32")
    v = m.verify([str(GOLDEN_IMAGES[0])], [str(GOLDEN_IMAGES[1])])
    decision = "same" if v.same[0] else "different"
    assert run["js"]["demo"]["status"].startswith("fp32, euclidean (lower = closer), grey 28×28, hashes checked")
    assert run["js"]["demo"]["result"].startswith(f"{decision} — distance {v.scores[0]:.4f}, threshold {v.threshold:.4f} (eer;")


def test_report_figures(run, capsys):
    """Print the parity figures and latencies (docs/results/browser-parity.md records a run)."""
    lines = [f"browser: {run['js']['userAgent']}; one browser run {run['browser_s']:.1f} s"]
    for variant in (*VARIANTS, "int8-unfused"):
        js, py = run["js"]["variants"][variant.split("-")[0]], run["py"][variant]
        e_js = np.asarray(js["embeddings"], dtype=np.float32)
        if variant == "int8-unfused":
            cos = cosine(e_js, py["embeddings"])
            equal = sum(int(np.sum(np.asarray(js["decisions"][op]) == py["decisions"][op])) for op in OPERATING_POINTS)
            top1 = sum(a == b for a, b in zip(js["top1"], py["top1"], strict=True))
            lines.append(
                f"int8 vs ONNX Runtime unfused: min cosine {cos.min():.7f}, decisions equal {equal}/{len(run['pairs']) * 3}, "
                f"gallery top-1 equal {top1}/{len(py['top1'])}"
            )
            continue
        cos = cosine(e_js, py["embeddings"])
        score_diff = np.abs(np.asarray(js["scores"], dtype=np.float32) - py["scores"]).max()
        equal = sum(int(np.sum(np.asarray(js["decisions"][op]) == py["decisions"][op])) for op in OPERATING_POINTS)
        total = len(run["pairs"]) * len(OPERATING_POINTS)
        top1 = sum(a == b for a, b in zip(js["top1"], py["top1"], strict=True))
        near = sum(int(np.sum(np.abs(py["scores"] - t) <= INT8_MARGIN)) for t in py["thresholds"].values())
        lines.append(
            f"{variant} vs SDK: min cosine {cos.min():.7f}, max |score diff| {score_diff:.2e}, decisions equal {equal}/{total}, "
            f"gallery top-1 equal {top1}/{len(py['top1'])}"
            + (f"; decisions within {INT8_MARGIN} of a threshold (not asserted): {near}" if variant == "int8" else "")
        )
        for key in ("embed_1_ms", "embed_batch_ms", "encoder_1_ms", "encoder_batch_ms"):
            (js_min, js_med), (py_min, py_med) = js["latency"][key], py["latency"][key]
            lines.append(
                f"  {variant} {key:<17} ms min/median: JS {js_min:7.3f} / {js_med:7.3f}   Python {py_min:7.3f} / {py_med:7.3f}"
            )
    mobile = MOUNTS["mobile"]
    for key, js in run["js"]["mobile"]["runs"].items():
        py = run["py"]["mobile"][key]
        cos = cosine(np.asarray(js["embeddings"], dtype=np.float32), py["embeddings"])
        equal = sum(int(np.sum(np.asarray(js["decisions"][op]) == py["decisions"][op])) for op in OPERATING_POINTS)
        variant, fmt = key.split(".")
        entry = siamese_sdk.read_manifest(mobile)
        file = entry.graph_file(variant, fmt)
        lines.append(
            f"exported {key} ({file}, {(mobile / file).stat().st_size} bytes) vs SDK {fmt}: min cosine {cos.min():.7f}, "
            f"decisions equal {equal}/{len(run['pairs']) * 3}; browser load {js['loadMs']:.0f} ms"
        )
        for k in ("embed_1_ms", "embed_batch_ms"):
            (js_min, js_med), (py_min, py_med) = js["latency"][k], py["latency"][k]
            lines.append(
                f"  {key} {k:<15} ms min/median: JS {js_min:7.3f} / {js_med:7.3f}   Python {py_min:7.3f} / {py_med:7.3f}"
            )
    for case in run["js"]["cases"]:
        if case["name"].startswith("jpeg"):
            want = run["cases"][case["name"]]
            diff = np.abs(np.asarray(case["data"], dtype=np.float32).reshape(want.shape) - want)
            lines.append(
                f"JPEG (informative, not asserted) {case['name']}: input max |diff| {diff.max():.4f} ({diff.max() * 0.5 * 255:.1f} grey levels), "
                f"{np.mean(diff > 0) * 100:.1f}% of values differ"
            )
    with capsys.disabled():
        print("\n" + "\n".join(lines))
