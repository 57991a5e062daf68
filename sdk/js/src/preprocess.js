/**
 * Images to encoder inputs, exactly as the Python SDK's `siamese_sdk.format.pixels.to_array`:
 * decode to 8-bit RGBA (no colour-space conversion, no alpha premultiplication, EXIF orientation applied), lay
 * it over white (`(c * a + 255 * (255 - a) + 127) / 255`, floored), convert to Pillow's
 * "L" (grey: `(19595 R + 38470 G + 7471 B + 2^15) >> 16`) or "RGB", make the paper white and crop to the ink
 * when `ink` says so (`ink.js`), bring to `size` as
 * `resize` says (`stretch`, `letterbox` or `crop`; the integer geometry of `fit`), resizing with Pillow's
 * resampling (`resample.js`) when the size differs, then `x * scale`, `(x - mean) / std` in float32,
 * laid out (C, H, W).
 *
 * Decoders: a PNG file (Blob, File or URL; any non-interlaced PNG of 8 or 16 bits, or a palette) is read by
 * `png.js`, which reads it as Pillow does (16-bit grey by its full range, translucent pixels with their stored
 * colour), so the input tensor is bit-equal. Other images are decoded by the browser (`createImageBitmap` and a
 * canvas, which applies EXIF orientation as the SDK does), exact for opaque pixels. JPEG
 * decoders differ between libraries (IDCT, chroma upsampling): expect a few grey levels of difference and an
 * embedding cosine close to, not equal to, 1. Interlaced PNGs and grey below 8 bits go through the browser too.
 */

import { BundleError, InputError, RuntimeUnavailableError } from './errors.js';
import { applyInk } from './ink.js';
import { decodePng, isPng } from './png.js';
import { resize } from './resample.js';

/** `input.preprocess.resize`: how an image's aspect ratio meets the input's [H, W] (docs/bundle-format.md). */
export const RESIZE_MODES = ['stretch', 'letterbox', 'crop'];

/**
 * The manifest's `resize` and `fill` (`stretch` and 0 when absent), checked as the Python reader checks them.
 * @param {{resize?: string, fill?: number}} pp  the manifest's `input.preprocess`
 * @returns {{resize: string, fill: number}}
 */
export function resizeOf(pp) {
  const resize = pp.resize ?? 'stretch';
  const fill = pp.fill ?? 0;
  if (!RESIZE_MODES.includes(resize)) {
    throw new BundleError(`preprocess resize ${JSON.stringify(resize)} unknown to this runtime; use ${RESIZE_MODES.join(', ')} (or upgrade)`);
  }
  if (!Number.isInteger(fill) || fill < 0 || fill > 255) {
    throw new BundleError(`preprocess fill ${JSON.stringify(fill)} invalid; expected a raw pixel value, an int in 0..255`);
  }
  if (fill !== 0 && resize !== 'letterbox') throw new BundleError(`preprocess fill ${fill} applies to resize letterbox only, not ${resize}; drop it`);
  return { resize, fill };
}

/** `a / b` rounded to the nearest integer, halves up (`a >= 0`, `b > 0`; exact for the sizes of images). */
const roundDiv = (a, b) => Math.floor((2 * a + b) / (2 * b));

/**
 * Where a `width x height` image goes in an input of `size = [H, W]`: `[w, h, left, top]`, as the Python
 * SDK's `pixels.fit`. The image is resized to `w x h`; letterbox pastes it at column `left`, row `top` of an
 * `H x W` canvas of the fill value; crop keeps the `H x W` window at column `left`, row `top` of the resized image.
 * @param {number} width
 * @param {number} height
 * @param {[number, number]} size  [H, W]
 * @param {string} mode  one of RESIZE_MODES
 * @returns {[number, number, number, number]}
 */
export function fit(width, height, size, mode) {
  const [outH, outW] = size;
  if (mode === 'stretch') return [outW, outH, 0, 0];
  const wider = width * outH >= outW * height; // the image's aspect ratio is at least the input's
  let w = outW;
  let h = outH;
  if ((mode === 'letterbox') === wider) h = Math.max(1, roundDiv(height * outW, width));
  else w = Math.max(1, roundDiv(width * outH, height));
  return [w, h, Math.floor(Math.abs(outW - w) / 2), Math.floor(Math.abs(outH - h) / 2)];
}

/**
 * Interleaved uint8 bands resized and placed as `resize` says: a `H x W` image of `bands` channels.
 * @returns {Uint8Array}
 */
export function place(bands, width, height, channels, spec) {
  const [outH, outW] = spec.size;
  const { resize: mode, fill } = resizeOf(spec);
  const [w, h, left, top] = fit(width, height, spec.size, mode);
  const resized = resize(bands, width, height, channels, w, h, spec.resample);
  if (w === outW && h === outH) return resized;
  const out = new Uint8Array(outW * outH * channels);
  if (mode === 'letterbox') {
    out.fill(fill);
    for (let y = 0; y < h; y++) out.set(resized.subarray(y * w * channels, (y + 1) * w * channels), ((y + top) * outW + left) * channels);
  } else {
    for (let y = 0; y < outH; y++) {
      const start = ((y + top) * w + left) * channels;
      out.set(resized.subarray(start, start + outW * channels), y * outW * channels);
    }
  }
  return out;
}

/** Pillow's decompression-bomb guard, as in the Python SDK: larger images are refused. */
export const MAX_IMAGE_PIXELS = 64_000_000;

/**
 * @typedef {HTMLImageElement|ImageBitmap|ImageData|Blob|string|URL} ImageLike
 *   an image element, a bitmap, decoded RGBA pixels, an encoded file (Blob / File) or its URL
 */

const BITMAP_OPTIONS = { colorSpaceConversion: 'none', premultiplyAlpha: 'none' };

const describe = (image) => (typeof image === 'string' ? image : image instanceof URL ? image.href : image?.name ?? image?.constructor?.name ?? typeof image);

async function fetchBlob(url) {
  let res;
  try {
    res = await fetch(url);
  } catch (e) {
    throw new InputError(`image ${describe(url)} could not be fetched (${e.message}); check the URL`);
  }
  if (!res.ok) throw new InputError(`image not found: ${describe(url)} (HTTP ${res.status}); check the URL`);
  return res.blob();
}

const tooLarge = (name) =>
  new InputError(`${name} is too large to decode safely (over ${MAX_IMAGE_PIXELS.toLocaleString('en')} pixels); resize it first`);

/** A PNG file decoded by `png.js` (exact colour under any alpha), or null for other files and PNGs it does not read. */
async function decodeOwnPng(blob, name) {
  const bytes = new Uint8Array(await blob.arrayBuffer());
  if (!isPng(bytes)) return null;
  try {
    return await decodePng(bytes, MAX_IMAGE_PIXELS);
  } catch (e) {
    if (e instanceof RangeError) throw tooLarge(name);
    throw new InputError(`${name} could not be decoded (${e.message}); the file is truncated or corrupt`);
  }
}

async function toBitmap(image, name) {
  if (typeof HTMLImageElement !== 'undefined' && image instanceof HTMLImageElement) {
    if (!image.complete || image.naturalWidth === 0) await image.decode();
  } else if (!(image instanceof Blob) && !(typeof ImageBitmap !== 'undefined' && image instanceof ImageBitmap)) {
    throw new InputError(`cannot read an image from ${name}; pass an HTMLImageElement, ImageBitmap, ImageData, Blob/File or URL`);
  }
  try {
    return await createImageBitmap(image, BITMAP_OPTIONS);
  } catch (e) {
    throw new InputError(`${name} could not be decoded (${e.message}); pass a PNG, JPEG or another format the browser reads`);
  }
}

/**
 * Decode an image to 8-bit straight-alpha RGBA.
 * @param {ImageLike} image
 * @returns {Promise<{data: Uint8ClampedArray, width: number, height: number}>}
 */
export async function decode(image) {
  if (typeof ImageData !== 'undefined' && image instanceof ImageData) return image;
  const name = describe(image);
  if (typeof image === 'string' || image instanceof URL) image = await fetchBlob(image);
  if (image instanceof Blob) {
    const own = await decodeOwnPng(image, name); // a PNG png.js reads: Pillow's pixels exactly
    if (own) return own;
  }
  const bitmap = await toBitmap(image, name);
  const { width, height } = bitmap;
  if (width * height > MAX_IMAGE_PIXELS) throw tooLarge(name);
  if (typeof OffscreenCanvas === 'undefined') throw new RuntimeUnavailableError('OffscreenCanvas is unavailable; use a current browser (Chrome 69+, Firefox 105+, Safari 16.4+)');
  const ctx = new OffscreenCanvas(width, height).getContext('2d', { willReadFrequently: true });
  ctx.drawImage(bitmap, 0, 0);
  bitmap.close?.();
  return ctx.getImageData(0, 0, width, height);
}

/** The grey level translucent pixels are laid over (white paper), as the Python SDK's `pixels.BACKGROUND`. */
export const BACKGROUND = 255;

/**
 * RGBA pixels laid over white, then to Pillow's "L" (1 band) or "RGB" (3 bands), interleaved uint8.
 * @param {{data: ArrayLike<number>, width: number, height: number}} rgba
 * @param {1|3} channels
 * @returns {Uint8Array}
 */
export function toBands(rgba, channels) {
  const n = rgba.width * rgba.height;
  const src = rgba.data;
  const out = new Uint8Array(n * channels);
  const over = (c, a) => Math.floor((c * a + BACKGROUND * (255 - a) + 127) / 255);
  for (let i = 0; i < n; i++) {
    const a = src[i * 4 + 3];
    const r = over(src[i * 4], a);
    const g = over(src[i * 4 + 1], a);
    const b = over(src[i * 4 + 2], a);
    if (channels === 1) out[i] = (r * 19595 + g * 38470 + b * 7471 + 0x8000) >>> 16;
    else out.set([r, g, b], i * 3);
  }
  return out;
}

/**
 * Decoded pixels to the encoder's `(C, H, W)` float32 input, as the manifest's `input.preprocess` says.
 * @param {{data: ArrayLike<number>, width: number, height: number}} rgba  straight-alpha RGBA
 * @param {import('./bundle.js').Preprocess} spec
 * @param {Float32Array} [out]  where to write (`C*H*W` values); a new array by default
 * @returns {Float32Array}
 */
export function normalise(rgba, spec, out = undefined) {
  const [height, width] = spec.size;
  const c = spec.channels;
  const grey = applyInk(toBands(rgba, c), rgba.width, rgba.height, spec.ink ?? 'none'); // `ink.js`: before the resize
  const pixels = place(grey.bands, grey.width, grey.height, c, spec);
  const hw = height * width;
  out ??= new Float32Array(c * hw);
  const f = Math.fround;
  const scale = f(spec.scale);
  for (let ch = 0; ch < c; ch++) {
    const mean = f(spec.mean[ch]);
    const std = f(spec.std[ch]);
    for (let i = 0; i < hw; i++) out[ch * hw + i] = f(f(f(pixels[i * c + ch] * scale) - mean) / std);
  }
  return out;
}

/**
 * Images to one `(N, C, H, W)` float32 batch, preprocessed as `spec` says.
 * @param {ImageLike|ImageLike[]} images
 * @param {import('./bundle.js').Preprocess} spec
 * @returns {Promise<{data: Float32Array, dims: [number, number, number, number]}>}
 */
export async function preprocessImages(images, spec) {
  const list = Array.isArray(images) ? images : [images];
  if (list.length === 0) throw new InputError('no images given; pass at least one image');
  const [height, width] = spec.size;
  const per = spec.channels * height * width;
  const data = new Float32Array(list.length * per);
  const decoded = await Promise.all(list.map(decode));
  decoded.forEach((rgba, i) => normalise(rgba, spec, data.subarray(i * per, (i + 1) * per)));
  return { data, dims: [list.length, spec.channels, height, width] };
}
