/**
 * A small PNG decoder for the pixels the Python SDK's decoder (`siamese_sdk.format.pixels`) sees. Browsers decode
 * into premultiplied storage, so a translucent pixel comes back with rounded colour, and they reduce 16-bit
 * samples their own way. This reads every non-interlaced PNG of 8 or 16 bits per sample, palette images of 1 to 8
 * bits (with `tRNS` alpha) and 8-bit grey / RGB with a `tRNS` colour key, into straight 8-bit RGBA, as Pillow
 * reads them: 16-bit grey scaled by its full range (`(v * 255 + 32767) / 65535`, floored: not clipped), 16-bit
 * colour and alpha by their high byte. EXIF orientation (`eXIf`) is applied. Anything else (interlaced, grey below
 * 8 bits) returns null and goes through the browser's decoder. zlib inflation is the browser's
 * (`DecompressionStream`).
 */

const SIGNATURE = [137, 80, 78, 71, 13, 10, 26, 10];
const CHANNELS = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };

/** Whether `bytes` start with the PNG signature. */
export const isPng = (bytes) => bytes.length > 8 && SIGNATURE.every((b, i) => bytes[i] === b);

async function inflate(chunks) {
  const stream = new Blob(chunks).stream().pipeThrough(new DecompressionStream('deflate'));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

function paeth(a, b, c) {
  const p = a + b - c;
  const pa = Math.abs(p - a);
  const pb = Math.abs(p - b);
  const pc = Math.abs(p - c);
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

/** Undo the per-row filters in place; returns the raw rows (`height * stride` bytes). */
function unfilter(data, height, stride, bpp) {
  const out = new Uint8Array(height * stride);
  for (let y = 0; y < height; y++) {
    const type = data[y * (stride + 1)];
    const src = y * (stride + 1) + 1;
    const row = y * stride;
    for (let x = 0; x < stride; x++) {
      const a = x >= bpp ? out[row + x - bpp] : 0;
      const b = y > 0 ? out[row - stride + x] : 0;
      const c = x >= bpp && y > 0 ? out[row - stride + x - bpp] : 0;
      const raw = data[src + x];
      const pred = type === 0 ? 0 : type === 1 ? a : type === 2 ? b : type === 3 ? (a + b) >> 1 : type === 4 ? paeth(a, b, c) : NaN;
      if (Number.isNaN(pred)) throw new Error(`row ${y} has unknown filter type ${type}`);
      out[row + x] = (raw + pred) & 255;
    }
  }
  return out;
}

/**
 * Decode a PNG to straight-alpha 8-bit RGBA, turned upright by its EXIF orientation, or return null when this
 * decoder does not read it (grey below 8 bits, interlaced). Throws on a truncated or malformed file.
 * @param {Uint8Array} bytes
 * @param {number} [maxPixels]  larger images throw a RangeError before anything is inflated
 * @returns {Promise<{data: Uint8ClampedArray, width: number, height: number}|null>}
 */
export async function decodePng(bytes, maxPixels = Infinity) {
  const png = await readPng(bytes, maxPixels);
  return png && orient(png, png.orientation);
}

/** The EXIF orientation tag (1..8) of an `eXIf` chunk's TIFF body, 1 when absent or unreadable. */
function exifOrientation(body) {
  if (body.length < 8) return 1;
  const little = body[0] === 0x49;
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  const u16 = (o) => view.getUint16(o, little);
  const ifd = view.getUint32(4, little);
  if (ifd + 2 > body.length) return 1;
  for (let i = 0, n = u16(ifd); i < n && ifd + 2 + 12 * (i + 1) <= body.length; i++) {
    const entry = ifd + 2 + 12 * i;
    if (u16(entry) === 0x0112) {
      const v = u16(entry + 8);
      return v >= 1 && v <= 8 ? v : 1;
    }
  }
  return 1;
}

/** RGBA pixels turned upright as EXIF orientation `o` says (Pillow's `ImageOps.exif_transpose`). */
export function orient(img, o) {
  const { width: w, height: h, data } = img;
  if (!o || o === 1) return { data, width: w, height: h };
  const swap = o >= 5;
  const [W, H] = swap ? [h, w] : [w, h];
  const out = new Uint8ClampedArray(W * H * 4);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      // the source pixel shown at (x, y) after the transform
      const [sx, sy] = [
        null,
        [x, y],
        [w - 1 - x, y],
        [w - 1 - x, h - 1 - y],
        [x, h - 1 - y],
        [y, x],
        [y, h - 1 - x],
        [w - 1 - y, h - 1 - x],
        [w - 1 - y, x],
      ][o];
      out.set(data.subarray((sy * w + sx) * 4, (sy * w + sx) * 4 + 4), (y * W + x) * 4);
    }
  }
  return { data: out, width: W, height: H };
}

async function readPng(bytes, maxPixels) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let width = 0;
  let height = 0;
  let depth = 0;
  let type = -1;
  let interlace = 0;
  let palette = null;
  let trns = null;
  let orientation = 1;
  const idat = [];
  for (let pos = 8; pos + 8 <= bytes.length; ) {
    const length = view.getUint32(pos);
    const name = String.fromCharCode(...bytes.subarray(pos + 4, pos + 8));
    const body = bytes.subarray(pos + 8, pos + 8 + length);
    if (body.length !== length) throw new Error(`chunk ${name} is truncated`);
    if (name === 'IHDR') {
      [width, height, depth, type, interlace] = [view.getUint32(pos + 8), view.getUint32(pos + 12), body[8], body[9], body[12]];
    } else if (name === 'PLTE') palette = body;
    else if (name === 'IDAT') idat.push(body);
    else if (name === 'tRNS') trns = body;
    else if (name === 'eXIf') orientation = exifOrientation(body);
    else if (name === 'IEND') break;
    pos += 12 + length;
  }
  if (!(type in CHANNELS) || width < 1 || height < 1 || !idat.length) throw new Error('no image header or data');
  if (interlace !== 0 || (type === 3 ? ![1, 2, 4, 8].includes(depth) : depth !== 8 && depth !== 16)) return null;
  if (type === 3 && !palette) throw new Error('palette image without a palette');
  if (width * height > maxPixels) throw new RangeError(`${width} x ${height} pixels`);
  const bitsPerPixel = depth * CHANNELS[type];
  const stride = Math.ceil((width * bitsPerPixel) / 8);
  const inflated = await inflate(idat);
  if (inflated.length < height * (stride + 1)) throw new Error('image data is truncated');
  const raw = unfilter(inflated, height, stride, Math.max(1, bitsPerPixel >> 3));
  const out = new Uint8ClampedArray(width * height * 4);
  const n = CHANNELS[type];
  const wide = depth === 16;
  // one sample: 8-bit as is; 16-bit grey scaled by its range, other 16-bit samples by their high byte (as Pillow)
  const sample = (p, k, grey) => {
    if (!wide) return raw[p + k];
    const v = (raw[p + 2 * k] << 8) | raw[p + 2 * k + 1];
    return grey ? Math.floor((v * 255 + 32767) / 65535) : v >> 8;
  };
  // a tRNS colour key (8-bit grey or RGB): that exact colour is transparent
  const key = !wide && trns && (type === 0 || type === 2) ? Array.from({ length: type === 0 ? 1 : 3 }, (_, i) => (trns[2 * i] << 8) | trns[2 * i + 1]) : null;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const o = (y * width + x) * 4;
      const p = y * stride + x * n * (wide ? 2 : 1);
      let r, g, b, a;
      if (type === 3) {
        const index = (raw[y * stride + ((x * depth) >> 3)] >> (8 - depth - ((x * depth) & 7))) & ((1 << depth) - 1);
        [r, g, b, a] = [palette[index * 3] ?? 0, palette[index * 3 + 1] ?? 0, palette[index * 3 + 2] ?? 0, trns?.[index] ?? 255];
      } else if (n <= 2) {
        const v = sample(p, 0, n === 1); // 16-bit grey: Pillow's I;16, scaled by range; grey + alpha: high bytes
        [r, g, b, a] = [v, v, v, n === 2 ? sample(p, 1, false) : key && raw[p] === key[0] ? 0 : 255];
      } else {
        [r, g, b] = [sample(p, 0, false), sample(p, 1, false), sample(p, 2, false)];
        a = n === 4 ? sample(p, 3, false) : key && r === key[0] && g === key[1] && b === key[2] ? 0 : 255;
      }
      out[o] = r;
      out[o + 1] = g;
      out[o + 2] = b;
      out[o + 3] = a;
    }
  }
  return { data: out, width, height, orientation };
}
