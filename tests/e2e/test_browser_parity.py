"""The browser runtime (``sdk/js``, onnxruntime-web WASM in headless Chromium) against the Python SDK.

One browser run (module fixture) pushes a fixed set of PNGs through both runtimes: the six golden images
(``tests/data/golden/images``) and 30 images of 10 classes of the embedded Omniglot subset, all 630 pairs
of them, for the fp32 and int8 variants of the golden bundle. Asserted:

- preprocessing is bit-equal (max abs difference 0) on the bundle's own inputs and on 35 generated PNGs
  that exercise every resample filter up and down, grey and RGB, L / P / RGBA / LA sources, translucent and
  transparent pixels, a 4-bit palette, and letterbox and crop into a non-square input (wider and taller
  sources, a half-pixel rounding tie, the fill value); and the golden bundle with its manifest set to letterbox
  and to crop preprocesses non-square PNGs as the Python SDK does;
- fp32: embeddings agree to cosine >= 0.9999, every decision at the shipped thresholds (all three operating
  points) and every gallery search top-1 is the same;
- int8: onnxruntime-web's WASM build runs the QDQ graph unfused (float kernels between Q/DQ), the SDK on x86
  with fused integer kernels. So the browser's int8 is checked against ONNX Runtime's unfused run of the same
  file (cosine >= 0.9999, every decision and top-1 equal), and against the SDK's int8 on every pair whose score
  is clear of the threshold by ``INT8_MARGIN``;
- the one-line errors of broken loads, and the demo page's decision.

The figures (min cosine, decisions equal / total, embed latencies next to the Python SDK's) are printed;
``docs/results/browser-parity.md`` records a run. Needs Chromium, Node.js and ``npm ci`` in ``sdk/js``
(``.ci/run`` installs them); a machine without them fails, unless ``SIAMESE_SKIP_BROWSER=1``.
"""

from __future__ import annotations

import base64
import io
import itertools
import statistics
import time
from pathlib import Path
from urllib.parse import quote

import numpy as np
import pytest
import siamese_sdk
from browser_harness import ROOT, require_browser, run_in_browser, serve
from PIL import Image
from siamese_sdk.bundle import Preprocess
from siamese_sdk.preprocess import to_array, to_batch

BUNDLE = ROOT / "tests" / "data" / "golden" / "bundle"
GOLDEN_IMAGES = sorted((ROOT / "tests" / "data" / "golden" / "images").glob("*.png"))
VARIANTS = ("fp32", "int8")
OPERATING_POINTS = ("eer", "far_1e-2", "far_1e-3")
RESAMPLES = ("bilinear", "bicubic", "box", "lanczos", "nearest")
MIN_COSINE = 0.9999
#: embed latency: min and median of ``repeats`` samples; one-image samples time ``inner`` calls (the page's clock ticks in 0.1 ms)
TIMING = {"batch": 32, "repeats": 20, "inner": 10}
#: int8 against the Python SDK: decisions must agree where the SDK's score is farther than this from the threshold.
#: The browser runs the QDQ graph unfused (float kernels between Q/DQ), the SDK on x86 with integer kernels
#: (QLinearConv); the scores of the two differ by up to 0.17 on this set (Euclidean, thresholds 0.24 .. 0.92).
INT8_MARGIN = 0.2


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


def colour_image() -> Image.Image:
    """A 28 px RGB image with distinct channels, made from a golden image."""
    grey = np.asarray(Image.open(GOLDEN_IMAGES[0]).convert("L"), dtype=np.uint8)
    return Image.fromarray(np.stack([grey, grey.T, 255 - np.roll(grey, 5, axis=1)], axis=-1), "RGB")


def png_cases() -> list[dict]:
    """Generated sources (sizes other than the target, RGB content, L / P / RGBA modes) x filters x channels."""
    rgb = colour_image()
    sources = {
        "rgb45x37": rgb.resize((45, 37), Image.Resampling.BICUBIC),
        "rgb17x20": rgb.resize((17, 20), Image.Resampling.BICUBIC),
    }
    cases = []
    for (src_name, img), resample, channels in itertools.product(sources.items(), RESAMPLES, (1, 3)):
        cases.append((f"{src_name}-{resample}-c{channels}", img, resample, channels))
    cases.append(("L41x33-bilinear-c1", rgb.convert("L").resize((41, 33), Image.Resampling.BILINEAR), "bilinear", 1))
    cases.append(("P45x37-bicubic-c3", sources["rgb45x37"].convert("P", palette=Image.Palette.ADAPTIVE), "bicubic", 3))
    rgba = sources["rgb45x37"].copy()
    rgba.putalpha(255)
    cases.append(("RGBA45x37-bilinear-c1", rgba, "bilinear", 1))
    # translucent and fully transparent pixels keep their stored colour in Pillow (browsers premultiply them away)
    alpha = np.asarray(sources["rgb45x37"].convert("L"), dtype=np.uint8)
    translucent = sources["rgb45x37"].copy()
    translucent.putalpha(Image.fromarray(np.where(alpha > 128, 0, alpha // 3).astype(np.uint8)))
    cases.append(("RGBAtranslucent-bicubic-c3", translucent, "bicubic", 3))
    cases.append(("RGBAtranslucent-bilinear-c1", translucent, "bilinear", 1))
    cases.append(("LAtranslucent-box-c1", translucent.convert("LA"), "box", 1))
    cases.append(("P4bit-tRNS-nearest-c3", sources["rgb17x20"].quantize(colors=16), "nearest", 3))
    geometry = {name: ("stretch", 0) for name, *_ in cases}
    for name, img, resample, channels, resize, fill in resize_cases(rgb):
        cases.append((name, img, resample, channels))
        geometry[name] = (resize, fill)
    out = []
    for name, img, resample, channels in cases:
        buf = io.BytesIO()
        img.save(buf, format="PNG", **({"bits": 4, "transparency": 3} if name.startswith("P4bit") else {}))
        mean, std = ((0.5,), (0.5,)) if channels == 1 else ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
        resize, fill = geometry[name]
        spec = Preprocess(size=(24, 30), channels=channels, resample=resample, scale=1 / 255, mean=mean, std=std, resize=resize, fill=fill)
        out.append({"name": name, "bytes": buf.getvalue(), "type": "image/png", "spec": spec})
    return out


def resize_cases(rgb: Image.Image) -> list[tuple]:
    """Letterbox and crop into the (24, 30) input: ``(name, image, resample, channels, resize, fill)``."""
    wide, tall = rgb.resize((45, 31), Image.Resampling.BICUBIC), rgb.resize((17, 26), Image.Resampling.BICUBIC)
    tie = rgb.resize((60, 9), Image.Resampling.BICUBIC)  # letterbox height 9 * 30 / 60 = 4.5: rounds up to 5
    return [
        ("wide45x31-letterbox-bicubic-c1", wide, "bicubic", 1, "letterbox", 255),
        ("wide45x31-crop-bilinear-c3", wide, "bilinear", 3, "crop", 0),
        ("tall17x26-letterbox-nearest-c3", tall, "nearest", 3, "letterbox", 37),
        ("tall17x26-crop-lanczos-c1", tall, "lanczos", 1, "crop", 0),
        ("tall17x26-crop-box-c3", tall, "box", 3, "crop", 0),
        ("tie60x9-letterbox-bilinear-c1", tie, "bilinear", 1, "letterbox", 0),
        ("tie60x9-crop-bicubic-c1", tie, "bicubic", 1, "crop", 0),
        ("exact30x24-letterbox-bilinear-c1", rgb.resize((30, 24)), "bilinear", 1, "letterbox", 9),  # no resize, no pad
    ]


def bundle_cases() -> list[dict]:
    """The golden bundle with ``input.preprocess`` set to letterbox (fill 255) and to crop, on non-square PNGs."""
    rgb = colour_image()
    pngs = []
    for size in ((45, 31), (17, 26), (60, 9)):
        buf = io.BytesIO()
        rgb.resize(size, Image.Resampling.BICUBIC).save(buf, format="PNG")
        pngs.append(buf.getvalue())
    return [
        {"name": "letterbox", "patch": {"resize": "letterbox", "fill": 255}, "pngs": pngs},
        {"name": "crop", "patch": {"resize": "crop"}, "pngs": pngs},
    ]


def jpeg_case() -> dict:
    """One JPEG (informative: browsers' and Pillow's JPEG decoders differ)."""
    buf = io.BytesIO()
    colour_image().resize((45, 37), Image.Resampling.BICUBIC).save(buf, format="JPEG", quality=90)  # 4:2:0 chroma
    spec = Preprocess(size=(24, 30), channels=3, resample="bilinear", scale=1 / 255, mean=(0.5,) * 3, std=(0.5,) * 3)
    return {"name": "jpeg45x37-bilinear-c3", "bytes": buf.getvalue(), "type": "image/jpeg", "spec": spec}


def spec_json(spec: Preprocess) -> dict:
    return spec.to_dict()  # the manifest's input.preprocess


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


def python_side(variant: str, images: list[Path], pairs: list[tuple[int, int]], gallery: dict) -> dict:
    """What the Python SDK computes on the parity set with ``variant``: embeddings, scores, decisions, top-1, latency."""
    m = siamese_sdk.load(BUNDLE, variant=variant, threads=1)
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
        "latency": {
            "embed_1_ms": time_ms(lambda: m.embed(one), repeats, inner),
            "embed_batch_ms": time_ms(lambda: m.embed(batch), repeats),
            "encoder_1_ms": time_ms(lambda: m.embed(x_one), repeats, inner),
            "encoder_batch_ms": time_ms(lambda: m.embed(x_batch), repeats),
        },
    }


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
            {"name": c["name"], "png": base64.b64encode(c["bytes"]).decode(), "type": c["type"], "spec": spec_json(c["spec"])}
            for c in cases
        ],
        "bundleCases": [{**b, "pngs": [base64.b64encode(p).decode() for p in b["pngs"]]} for b in bundles],
        "timing": TIMING,
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
    """The golden bundle's manifest set to letterbox / crop: the browser reads the keys and gives Pillow's pixels."""
    assert [b["name"] for b in run["js"]["bundles"]] == ["letterbox", "crop"]
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
    assert errors["operatingPoint"] == 'InputError: operating point "far_1e-9" unknown; expected one of eer, far_1e-2, far_1e-3'
    assert errors["resize"] == 'BundleError: preprocess resize "pad" unknown to this runtime; use stretch, letterbox, crop (or upgrade)'
    assert all("\n" not in e for e in errors.values())


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
