"""The generated images of the browser parity test (``test_browser_parity.py``): PNGs that take every path of the
preprocessing (filters, sizes, modes, translucency), and one JPEG."""

from __future__ import annotations

import io
import itertools
import json

import numpy as np
from browser_harness import ROOT
from PIL import Image
from siamese_sdk.format.inputs import Preprocess

GOLDEN_IMAGES = sorted((ROOT / "tests" / "data" / "golden" / "images").glob("*.png"))
RESAMPLES = ("bilinear", "bicubic", "box", "lanczos", "nearest")


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
    cases += decoder_cases(sources["rgb45x37"], sources["rgb17x20"])
    geometry = {name: ("stretch", 0) for name, *_ in cases}
    for name, img, resample, channels, resize, fill in resize_cases(rgb):
        cases.append((name, img, resample, channels))
        geometry[name] = (resize, fill)
    for name, img, resample, resize, fill in ink_cases():
        cases.append((name, img, resample, 1))
        geometry[name] = (resize, fill)
    out = []
    for name, img, resample, channels in cases:
        buf = io.BytesIO()
        img.save(buf, format="PNG", **SAVE_OPTIONS.get(name.split("-")[0], {}))
        mean, std = ((0.5,), (0.5,)) if channels == 1 else ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
        resize, fill = geometry[name]
        ink = "normalize-crop" if name.startswith("ink-") else "none"
        spec = Preprocess(size=(24, 30), channels=channels, resample=resample, scale=1 / 255, mean=mean, std=std, resize=resize, fill=fill, ink=ink)
        out.append({"name": name, "bytes": buf.getvalue(), "type": "image/png", "spec": spec})
    return out


def _exif(orientation: int) -> Image.Exif:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif


#: ``Image.save`` options of a case (by the first part of its name)
SAVE_OPTIONS = {
    "P4bit": {"bits": 4, "transparency": 3},
    "LtRNS": {"transparency": 200},
    "RGBtRNS": {"transparency": (255, 255, 255)},
    "P8tRNS": {"transparency": bytes(range(0, 256, 8)) * 8},
    "exif6": {"exif": _exif(6)},
    "exif7": {"exif": _exif(7)},
}


def decoder_cases(rgb: Image.Image, small: Image.Image) -> list[tuple]:
    """What the decoder must read as the SDK does: 16-bit grey (its full range, not clipped), tRNS transparency
    over white, EXIF orientation (on ``small``, which is upscaled either way up: the resampling of a vertical
    downscale steeper than the horizontal one is 1 grey level off Pillow's in ``resample.js``):
    ``(name, image, resample, channels)``."""
    grey = np.asarray(rgb.convert("L"), dtype=np.uint32)
    wide = Image.fromarray((grey * 257 + (np.arange(grey.size).reshape(grey.shape) * 37) % 257).astype(np.uint16))
    assert wide.mode == "I;16"
    key = rgb.convert("L").point(lambda v: 200 if v > 200 else v)
    white = rgb.point(lambda v: 255 if v > 230 else v)
    return [
        ("I16-bilinear-c1", wide, "bilinear", 1),
        ("I16-bicubic-c3", wide, "bicubic", 3),
        ("LtRNS-nearest-c1", key, "nearest", 1),
        ("RGBtRNS-bilinear-c3", white, "bilinear", 3),
        ("P8tRNS-bilinear-c1", rgb.quantize(colors=256), "bilinear", 1),
        ("exif6-bilinear-c1", small.convert("L"), "bilinear", 1),
        ("exif7-box-c3", small, "box", 3),
    ]


def bad_manifests() -> list[dict]:
    """Manifest texts the exporter never writes, and two it may (``ok``): ``[{"name", "text"}]``; both runtimes
    must refuse the first kind (``BundleError``) and read the second."""
    golden = json.loads((ROOT / "tests" / "data" / "golden" / "bundle" / "manifest.json").read_text())

    def edited(path: str, value: str) -> str:
        """The golden manifest with the value at ``path`` (dotted; ``files/NAME`` for a file name) set to JSON ``value``."""
        d = json.loads(json.dumps(golden))
        *parents, last = path.split(".") if not path.startswith("files/") else ("files", path[len("files/") :])
        node = d
        for p in parents:
            node = node[p]
        node[last] = "@@value@@"
        return json.dumps(d).replace('"@@value@@"', value)

    cases = {
        "ok-golden": json.dumps(golden),
        "ok-unknown-key": edited("x_vendor_notes", '{"min_sdk": "0.1"}'),
        "threshold-string": edited("variants.fp32.thresholds.eer", '"0.9"'),
        "threshold-overflow": edited("variants.fp32.thresholds.eer", "1e999"),
        "threshold-negative": edited("variants.fp32.thresholds.eer", "-1"),
        "threshold-nan": edited("variants.fp32.thresholds.eer", "NaN"),
        "normalized-string": edited("normalized", '"false"'),
        "size-fraction": edited("input.preprocess.size", "[28.5, 28]"),
        "scale-zero": edited("input.preprocess.scale", "0"),
        "mean-infinity": edited("input.preprocess.mean", "[Infinity]"),
        "dim-5000-digits": edited("embedding_dim", "9" * 5000),
        "ok-dim-integral-float": edited("embedding_dim", "8.0"),
        "dim-fraction": edited("embedding_dim", "8.5"),
        "validation-deep": edited("validation", "[" * 5000 + "]" * 5000),
        "file-hash-not-hex": edited("files/head.matrix.onnx", '"xyz"'),
        "score-direction-string": edited("score.higher_is_closer", '"no"'),
        "ort-onnx-graph": edited(
            "ort",
            '{"variants": {"fp32": "encoder.fp32.onnx"}, "heads": {"pairwise": "head.pairwise.onnx", '
            '"matrix": "head.matrix.onnx"}, "operators": "head.matrix.onnx"}',
        ),
    }
    return [{"name": k, "text": v} for k, v in cases.items()]


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
    for img in (signature(240, 0), signature(253, 1)):
        buf = io.BytesIO()
        img.save(buf, format="PNG")
        pngs.append(buf.getvalue())
    return [
        {"name": "letterbox", "patch": {"resize": "letterbox", "fill": 255}, "pngs": pngs},
        {"name": "crop", "patch": {"resize": "crop"}, "pngs": pngs},
        {"name": "ink", "patch": {"resize": "letterbox", "fill": 255, "ink": "normalize-crop"}, "pngs": pngs},
    ]


def signature(paper: int, seed: int, size: tuple[int, int] = (90, 40)) -> Image.Image:
    """A grey ``size = (W, H)`` page of level ``paper`` (+- noise) holding an anti-aliased wavy stroke and one speck."""
    from PIL import ImageDraw

    rng = np.random.default_rng(seed)
    w, h = size
    img = Image.new("L", (4 * w, 4 * h), paper)
    x = np.linspace(4 * w * 0.15, 4 * w * 0.85, 30)
    y = 4 * h * (0.5 + 0.25 * np.sin(x / (4 * w / 9)))
    ImageDraw.Draw(img).line(list(zip(x.tolist(), y.tolist(), strict=True)), fill=20, width=7)
    img = img.resize(size, Image.Resampling.LANCZOS)  # grey edges, as a scan
    a = np.clip(np.asarray(img, dtype=np.float32) + rng.normal(0, 1.5, (h, w)), 0, 255).astype(np.uint8)
    a[1, w - 2] = 60  # a speck the 1 % trim leaves outside the ink box
    return Image.fromarray(a, "L")


def ink_cases() -> list[tuple]:
    """``ink normalize-crop`` into the (24, 30) input: ``(name, image, resample, resize, fill)``; grey, white and blank
    pages, ink touching the edge (the margin padded), a source taller than wide."""
    edge = np.asarray(signature(246, 2), dtype=np.uint8).copy()
    edge[:, :5] = 15
    blank = np.full((20, 33), 231, np.uint8)
    return [
        ("ink-grey90x40-letterbox-bilinear", signature(240, 0), "bilinear", "letterbox", 255),
        ("ink-white90x40-letterbox-bicubic", signature(253, 1), "bicubic", "letterbox", 255),
        ("ink-edge90x40-crop-lanczos", Image.fromarray(edge, "L"), "lanczos", "crop", 0),
        ("ink-tall-stretch-box", signature(238, 3, (30, 70)), "box", "stretch", 0),
        ("ink-blank33x20-letterbox-nearest", Image.fromarray(blank, "L"), "nearest", "letterbox", 255),
    ]


def jpeg_case() -> dict:
    """One JPEG (informative: browsers' and Pillow's JPEG decoders differ)."""
    buf = io.BytesIO()
    colour_image().resize((45, 37), Image.Resampling.BICUBIC).save(buf, format="JPEG", quality=90)  # 4:2:0 chroma
    spec = Preprocess(size=(24, 30), channels=3, resample="bilinear", scale=1 / 255, mean=(0.5,) * 3, std=(0.5,) * 3)
    return {"name": "jpeg45x37-bilinear-c3", "bytes": buf.getvalue(), "type": "image/jpeg", "spec": spec}
