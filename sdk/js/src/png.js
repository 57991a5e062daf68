/**
 * A small PNG decoder for the pixels Pillow sees. Browsers decode into premultiplied storage, so a translucent
 * pixel comes back with rounded colour and a fully transparent one as black, while Pillow keeps the stored
 * colour (and drops alpha when converting to "L" or "RGB"). This reads 8-bit grey, grey + alpha, RGB and RGBA,
 * and palette images of 1 to 8 bits, non-interlaced, into straight RGBA; anything else returns null and goes
 * through the browser's decoder. zlib inflation is the browser's (`DecompressionStream`).
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
 * Decode a PNG to straight-alpha RGBA, or return null when this decoder does not read it (16-bit, grey
 * below 8 bits, interlaced). Throws on a truncated or malformed file.
 * @param {Uint8Array} bytes
 * @param {number} [maxPixels]  larger images throw a RangeError before anything is inflated
 * @returns {Promise<{data: Uint8ClampedArray, width: number, height: number}|null>}
 */
export async function decodePng(bytes, maxPixels = Infinity) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let width = 0;
  let height = 0;
  let depth = 0;
  let type = -1;
  let interlace = 0;
  let palette = null;
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
    else if (name === 'IEND') break;
    pos += 12 + length;
  }
  if (!(type in CHANNELS) || width < 1 || height < 1 || !idat.length) throw new Error('no image header or data');
  if (interlace !== 0 || (type === 3 ? ![1, 2, 4, 8].includes(depth) : depth !== 8)) return null;
  if (type === 3 && !palette) throw new Error('palette image without a palette');
  if (width * height > maxPixels) throw new RangeError(`${width} x ${height} pixels`);
  const bitsPerPixel = depth * CHANNELS[type];
  const stride = Math.ceil((width * bitsPerPixel) / 8);
  const inflated = await inflate(idat);
  if (inflated.length < height * (stride + 1)) throw new Error('image data is truncated');
  const raw = unfilter(inflated, height, stride, Math.max(1, bitsPerPixel >> 3));
  const out = new Uint8ClampedArray(width * height * 4);
  const n = CHANNELS[type];
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const o = (y * width + x) * 4;
      const p = y * stride + x * n;
      let r, g, b, a;
      if (type === 3) {
        const index = (raw[y * stride + ((x * depth) >> 3)] >> (8 - depth - ((x * depth) & 7))) & ((1 << depth) - 1);
        [r, g, b, a] = [palette[index * 3] ?? 0, palette[index * 3 + 1] ?? 0, palette[index * 3 + 2] ?? 0, 255];
      } else if (n <= 2) {
        [r, g, b, a] = [raw[p], raw[p], raw[p], n === 2 ? raw[p + 1] : 255];
      } else {
        [r, g, b, a] = [raw[p], raw[p + 1], raw[p + 2], n === 4 ? raw[p + 3] : 255];
      }
      out[o] = r;
      out[o + 1] = g;
      out[o + 2] = b;
      out[o + 3] = a;
    }
  }
  return { data: out, width, height };
}
