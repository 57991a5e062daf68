/**
 * Pillow's image resize (`Image.resize`, libImaging/Resample.c and the nearest path of Geometry.c),
 * reproduced on 8-bit pixel planes so that the browser gets the very pixels the Python SDK gets.
 *
 * Convolution filters (bilinear, bicubic, box, lanczos) run Pillow's two passes: horizontal, then vertical,
 * each rounding to uint8. The kernel support grows with the downscale factor (antialiasing), coefficients
 * are normalised per output pixel and turned into 22-bit fixed point, and each output is the clipped
 * `(sum + 2^21) >> 22`. `nearest` samples `floor(x0 + (x + 0.5) * scale)` with Pillow's accumulation.
 */

import { InputError } from './errors.js';

const PRECISION_BITS = 32 - 8 - 2;
const ONE = 2 ** PRECISION_BITS;
const HALF = 2 ** (PRECISION_BITS - 1);

/** Pillow's filters: weight function and support (in input pixels at scale 1). */
export const FILTERS = {
  box: { support: 0.5, f: (x) => (x > -0.5 && x <= 0.5 ? 1.0 : 0.0) },
  bilinear: {
    support: 1.0,
    f: (x) => {
      x = Math.abs(x);
      return x < 1.0 ? 1.0 - x : 0.0;
    },
  },
  bicubic: {
    support: 2.0,
    f: (x) => {
      const a = -0.5;
      x = Math.abs(x);
      if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
      if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
      return 0.0;
    },
  },
  lanczos: {
    support: 3.0,
    f: (x) => {
      const sinc = (t) => (t === 0.0 ? 1.0 : Math.sin(t * Math.PI) / (t * Math.PI));
      return x >= -3.0 && x < 3.0 ? sinc(x) * sinc(x / 3) : 0.0;
    },
  },
};

/**
 * Fixed-point coefficients of one axis (Pillow's precompute_coeffs + normalize_coeffs_8bpc).
 * @returns {{ksize: number, bounds: Int32Array, kk: Int32Array}}  per output index: first input index
 *   `bounds[2i]`, count `bounds[2i+1]`, weights `kk[i*ksize ...]`
 */
function coefficients(inSize, outSize, filter) {
  const scale = inSize / outSize;
  const filterscale = Math.max(scale, 1.0);
  const support = filter.support * filterscale;
  const ksize = Math.ceil(support) * 2 + 1;
  const bounds = new Int32Array(outSize * 2);
  const kk = new Int32Array(outSize * ksize);
  const w = new Float64Array(ksize);
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    const ss = 1.0 / filterscale;
    const xmin = Math.max(Math.trunc(center - support + 0.5), 0);
    const xmax = Math.min(Math.trunc(center + support + 0.5), inSize) - xmin;
    let ww = 0.0;
    for (let x = 0; x < xmax; x++) {
      w[x] = filter.f((x + xmin - center + 0.5) * ss);
      ww += w[x];
    }
    for (let x = 0; x < xmax; x++) {
      const k = ww !== 0.0 ? w[x] / ww : w[x];
      kk[xx * ksize + x] = k < 0 ? Math.trunc(-0.5 + k * ONE) : Math.trunc(0.5 + k * ONE);
    }
    bounds[xx * 2] = xmin;
    bounds[xx * 2 + 1] = xmax;
  }
  return { ksize, bounds, kk };
}

const clip8 = (ss) => Math.min(255, Math.max(0, Math.floor(ss / ONE)));

/** One convolution pass along x (`horizontal`) or y over an interleaved uint8 image. */
function pass(src, w, h, bands, outW, outH, coeffs, horizontal) {
  const { ksize, bounds, kk } = coeffs;
  const out = new Uint8Array(outW * outH * bands);
  for (let y = 0; y < outH; y++) {
    for (let x = 0; x < outW; x++) {
      const i = horizontal ? x : y;
      const first = bounds[i * 2];
      const count = bounds[i * 2 + 1];
      for (let c = 0; c < bands; c++) {
        let ss = HALF;
        for (let t = 0; t < count; t++) {
          const sx = horizontal ? first + t : x;
          const sy = horizontal ? y : first + t;
          ss += src[(sy * w + sx) * bands + c] * kk[i * ksize + t];
        }
        out[(y * outW + x) * bands + c] = clip8(ss);
      }
    }
  }
  return out;
}

/** Pillow's nearest-neighbour resize (an affine scale with `COORD(v) = (int)v`, positions accumulated). */
function nearest(src, w, h, bands, outW, outH) {
  const axis = (inSize, outSize) => {
    const a = inSize / outSize;
    const tab = new Int32Array(outSize);
    let o = a * 0.5;
    for (let i = 0; i < outSize; i++, o += a) tab[i] = Math.min(Math.trunc(o), inSize - 1);
    return tab;
  };
  const xs = axis(w, outW);
  const ys = axis(h, outH);
  const out = new Uint8Array(outW * outH * bands);
  for (let y = 0; y < outH; y++) {
    for (let x = 0; x < outW; x++) {
      for (let c = 0; c < bands; c++) out[(y * outW + x) * bands + c] = src[(ys[y] * w + xs[x]) * bands + c];
    }
  }
  return out;
}

/**
 * Resize an interleaved uint8 image as Pillow's `Image.resize((outW, outH), resample)` does.
 * @param {Uint8Array} src  `h * w * bands` values, row-major, channels interleaved
 * @param {number} w  input width
 * @param {number} h  input height
 * @param {number} bands  channels (1 or 3)
 * @param {number} outW
 * @param {number} outH
 * @param {string} resample  bilinear, bicubic, box, lanczos or nearest
 * @returns {Uint8Array}  `outH * outW * bands` values
 */
export function resize(src, w, h, bands, outW, outH, resample) {
  if (w === outW && h === outH) return src;
  if (resample === 'nearest') return nearest(src, w, h, bands, outW, outH);
  const filter = FILTERS[resample];
  if (!filter) throw new InputError(`resample ${JSON.stringify(resample)} unknown; use bilinear, bicubic, nearest, box or lanczos`);
  let img = src;
  let curW = w;
  if (outW !== w) {
    img = pass(img, w, h, bands, outW, h, coefficients(w, outW, filter), true);
    curW = outW;
  }
  if (outH !== h) img = pass(img, curW, h, bands, curW, outH, coefficients(h, outH, filter), false);
  return img;
}
