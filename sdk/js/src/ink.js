/**
 * Ink on paper (manifest `input.preprocess.ink`), exactly as the Python SDK's `siamese_sdk.format.ink`: on the
 * grey image, before any resize, the paper is made white and the ink stretched to black (levels from the 90th
 * percentile and the darkest value), then the image is cropped to its ink box (1 % of the ink trimmed at each
 * end) grown by `max(box H, box W) // 16 + 2` px, padded with 255. Integer arithmetic only (docs/bundle-format.md).
 */

import { BundleError } from './errors.js';

/** `input.preprocess.ink` values this runtime reads. */
export const INK_MODES = ['none', 'normalize-crop'];
const MIN_CONTRAST = 32;
const INK_LEVEL = 128;

/**
 * The manifest's `ink` (`none` when absent), checked as the Python reader checks it.
 * @param {{ink?: string, channels: number}} pp
 * @returns {string}
 */
export function inkOf(pp) {
  const ink = pp.ink ?? 'none';
  if (!INK_MODES.includes(ink)) throw new BundleError(`preprocess ink ${JSON.stringify(ink)} unknown to this runtime; use ${INK_MODES.join(', ')} (or upgrade)`);
  if (ink !== 'none' && pp.channels !== 1) {
    throw new BundleError(`preprocess ink ${ink} needs grey inputs (channels 1), got channels ${pp.channels}; re-export with --channels 1`);
  }
  return ink;
}

/** Paper to 255, ink stretched towards 0, in place of a copy: `(H*W)` uint8 grey. */
function normalizeLevels(grey) {
  const n = grey.length;
  const hist = new Array(256).fill(0);
  let dark = 255;
  for (let i = 0; i < n; i++) {
    hist[grey[i]]++;
    if (grey[i] < dark) dark = grey[i];
  }
  const k = Math.floor((9 * (n - 1)) / 10);
  let paper = 0;
  for (let cum = hist[0]; cum <= k; cum += hist[++paper]);
  const c = Math.max(paper - dark, MIN_CONTRAST);
  const black = paper - c;
  const d = paper - Math.floor(c / 8) - black;
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.min(255, Math.max(0, Math.floor((510 * (grey[i] - black) + d) / (2 * d))));
  return out;
}

/** First and last index holding the middle 98 % of a profile's ink count. */
function span(profile) {
  let total = 0;
  for (const v of profile) total += v;
  let first = -1;
  let last = -1;
  let cum = 0;
  for (let i = 0; i < profile.length; i++) {
    cum += profile[i];
    if (first < 0 && cum * 100 > total) first = i;
    if (last < 0 && cum * 100 >= 99 * total) last = i;
  }
  return [first, last];
}

/**
 * A grey image preprocessed as `ink` says: `{bands, width, height}` (the same object for `none`).
 * @param {Uint8Array} bands  `(H*W)` uint8 grey
 * @param {number} width
 * @param {number} height
 * @param {string} ink  one of INK_MODES
 */
export function applyInk(bands, width, height, ink) {
  if (ink === 'none') return { bands, width, height };
  const norm = normalizeLevels(bands);
  const rows = new Array(height).fill(0);
  const cols = new Array(width).fill(0);
  let any = false;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (norm[y * width + x] < INK_LEVEL) {
        rows[y]++;
        cols[x]++;
        any = true;
      }
    }
  }
  if (!any) return { bands: norm, width, height };
  let [top, bottom] = span(rows);
  let [left, right] = span(cols);
  const m = Math.floor(Math.max(bottom - top + 1, right - left + 1) / 16) + 2;
  top -= m;
  left -= m;
  bottom += m + 1;
  right += m + 1;
  const outW = right - left;
  const outH = bottom - top;
  const out = new Uint8Array(outW * outH).fill(255);
  for (let y = Math.max(top, 0); y < Math.min(bottom, height); y++) {
    for (let x = Math.max(left, 0); x < Math.min(right, width); x++) out[(y - top) * outW + (x - left)] = norm[y * width + x];
  }
  return { bands: out, width: outW, height: outH };
}
