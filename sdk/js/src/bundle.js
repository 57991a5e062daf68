/**
 * Reading a bundle in the browser: `manifest.json` (docs/bundle-format.md), validated as the Python SDK's
 * reader validates it, and every file the manifest lists, checked against its sha256 with WebCrypto.
 */

import { BundleError, RuntimeUnavailableError } from './errors.js';
import { inkOf } from './ink.js';
import { resizeOf } from './preprocess.js';

export const FORMAT = 'siamese-bundle';
/** the newest `format_version` this reader reads */
export const FORMAT_VERSION = 2;
export const MANIFEST = 'manifest.json';
/** metric -> whether a higher head score means "more alike" */
export const METRICS = { euclidean: false, cosine: false, learned: true };
export const OPERATING_POINTS = ['eer', 'far_1e-2', 'far_1e-3', 'max_accuracy'];
export const VARIANTS = ['fp32', 'int8', 'fp16', 'fp16-fixed', 'w8a16-fixed'];
export const RESAMPLES = ['bilinear', 'bicubic', 'nearest', 'box', 'lanczos'];
/** metric -> [lo, hi]: the range every score and threshold lies in (the Python SDK's `Metric.lo`/`hi`) */
export const SCORE_RANGES = { euclidean: [0, Infinity], cosine: [0, 2], learned: [0, 1] };
/** the largest embedding dimension and input side a manifest may declare (as the Python reader) */
const MAX_EMBEDDING_DIM = 2 ** 20;
const MAX_SIDE = 16384;

/**
 * @typedef {object} Preprocess  the manifest's `input.preprocess`
 * @property {[number, number]} size  [H, W]
 * @property {1|3} channels  1 grey (Pillow "L"), 3 RGB
 * @property {string} resample  one of RESAMPLES (Pillow's filter of that name)
 * @property {number} scale  multiplies the 0..255 pixel values
 * @property {number[]} mean  one per channel
 * @property {number[]} std  one per channel, > 0
 * @property {'stretch'|'letterbox'|'crop'} resize  how the aspect ratio meets `size` (`preprocess.js` `fit`)
 * @property {number} fill  letterbox's raw pad value, 0..255
 * @property {'none'|'normalize-crop'} ink  paper made white and the image cropped to its ink first (`ink.js`)
 */

/**
 * @typedef {object} ThresholdSupport  what one threshold rests on (manifest `threshold_support`, docs/bundle-format.md)
 * @property {number|null} identities  classes in the validation pairs (null: pairs without identities)
 * @property {number} genuine_pairs
 * @property {number} impostor_pairs
 * @property {[number, number]} interval  90 % bootstrap interval (over identities) of the threshold
 * @property {[number, number]} far_interval  of the FAR the shipped threshold achieves
 * @property {[number, number]} frr_interval  of the FRR
 * @property {boolean} supported  false when the validation set cannot support this operating point
 * @property {string} reason  why not ('' when supported)
 */

/**
 * @typedef {object} Variant
 * @property {string} file  the encoder ONNX file
 * @property {object|null} quantization
 * @property {Record<string, number>} thresholds  operating point -> score threshold
 * @property {Record<string, number>} metrics
 * @property {number} [batch]  fixed input batch size (`*-fixed` variants only)
 * @property {Record<string, ThresholdSupport>} threshold_support  operating point -> its support ({} in older bundles)
 */

/**
 * @typedef {object} OrtFiles  the manifest's `ort`: ONNX Runtime's ORT-format copies (`siamese-export --profile mobile`)
 * @property {Record<string, string>} variants  variant -> its encoder's `.ort` file (fp32, int8)
 * @property {{pairwise: string, matrix: string}} heads  head -> its `.ort` file
 * @property {string} operators  the reduced build's operator list (`required_operators.config`)
 * @property {string} style  the converter's optimisation style (`Fixed`)
 * @property {string} onnxruntime  the ONNX Runtime version that wrote them
 * @property {Record<string, object>} usability  `.onnx` file -> the mobile usability checker's verdict
 */

/**
 * @typedef {object} Manifest  the parsed manifest (the JSON object, checked)
 * @property {number} format_version
 * @property {number} embedding_dim
 * @property {'euclidean'|'cosine'|'learned'} metric
 * @property {boolean} normalized
 * @property {{kind?: string, name: string, shape: Array<number|null>, preprocess: Preprocess}} input
 * @property {string} default_variant
 * @property {string} default_operating_point
 * @property {Record<string, Variant>} variants
 * @property {{pairwise: string, matrix: string}} heads
 * @property {Record<string, string>} files  file name -> hex sha256
 * @property {Record<string, {variant: string, providers: string[], notes: string}>} [profiles]
 * @property {OrtFiles|null} ort  the ORT-format copies, null when the bundle has none
 */

/** the graph formats a bundle can hold: ONNX (always) and ORT format (manifest `ort`, optional) */
export const MODEL_FORMATS = ['onnx', 'ort'];
const HEADS = ['matrix', 'pairwise'];

const fail = (msg) => {
  throw new BundleError(msg);
};
const malformed = (what) => fail(`manifest is malformed (${what}); re-export the bundle`);
const isObj = (x) => x !== null && typeof x === 'object' && !Array.isArray(x);
const isNum = (x) => typeof x === 'number' && Number.isFinite(x);

/** Refuse a file name that could leave the bundle directory. */
export function checkSafeName(name) {
  if (name.startsWith('/') || name.includes('\\') || name.split('/').includes('..') || /^[a-z]+:/i.test(name)) {
    fail(`manifest lists unsafe path ${JSON.stringify(name)}; the bundle was tampered with`);
  }
}

function checkPreprocess(pp) {
  if (!isObj(pp)) malformed('input.preprocess is not an object');
  const { size, channels, scale, mean, std } = pp;
  if (!Array.isArray(size) || size.length !== 2 || !size.every((s) => Number.isInteger(s) && s >= 1 && s <= MAX_SIDE)) {
    malformed(`preprocess size ${JSON.stringify(size)} is not [H, W] >= 1`);
  }
  if (channels !== 1 && channels !== 3) fail(`preprocess channels ${channels} invalid; expected 1 (gray) or 3 (RGB)`);
  if (!isNum(scale) || scale <= 0) malformed(`preprocess scale ${JSON.stringify(scale)} is not a number > 0`);
  if (!Array.isArray(mean) || !Array.isArray(std) || mean.length !== channels || std.length !== channels) {
    fail(`preprocess mean/std need ${channels} value(s) each; re-export the bundle`);
  }
  if (!mean.every(isNum) || !std.every(isNum)) malformed('preprocess mean/std hold non-numbers');
  if (std.some((s) => s <= 0)) fail(`preprocess std ${JSON.stringify(std)} must be > 0`);
  const resample = pp.resample ?? 'bilinear';
  if (!RESAMPLES.includes(resample)) {
    fail(`preprocess resample ${JSON.stringify(resample)} unknown; use bilinear, bicubic, nearest, box or lanczos`);
  }
  return { size: [size[0], size[1]], channels, resample, scale, mean: [...mean], std: [...std], ...resizeOf(pp), ink: inkOf(pp) };
}

/**
 * Check a manifest object as the Python reader does (the parts this runtime uses); returns it with
 * defaults filled in. Throws `BundleError` (one line, with the fix) on anything off.
 * @param {any} d  the parsed `manifest.json`
 * @returns {Manifest}
 */
export function parseManifest(d) {
  if (!isObj(d) || d.format !== FORMAT) fail(`not a ${FORMAT} manifest (missing 'format': '${FORMAT}'); is this a bundle directory?`);
  if (!Number.isInteger(d.format_version)) fail('manifest has no integer format_version; re-export the bundle');
  if (d.format_version > FORMAT_VERSION) {
    fail(`bundle format version ${d.format_version} is newer than this runtime reads (${FORMAT_VERSION}); upgrade siamese-sdk-web`);
  }
  if (d.branches) fail('this is a pseudo-Siamese (two-branch) bundle; the browser runtime reads one-encoder image bundles: use the Python SDK');
  if (!isObj(d.input)) malformed("missing 'input'");
  const kind = d.input.kind ?? 'image';
  if (kind !== 'image') fail(`this is a ${kind} bundle; the browser runtime reads image bundles: use the Python SDK for ${kind}`);
  if (typeof d.input.name !== 'string') malformed('input.name is not a string');
  if (!(d.metric in METRICS)) fail(`metric ${JSON.stringify(d.metric)} unknown; expected one of ${Object.keys(METRICS).sort().join(', ')}`);
  if (!Number.isInteger(d.embedding_dim) || d.embedding_dim < 1 || d.embedding_dim > MAX_EMBEDDING_DIM) {
    malformed(`embedding_dim ${JSON.stringify(d.embedding_dim)} is not an integer in 1..${MAX_EMBEDDING_DIM}`);
  }
  if (typeof d.normalized !== 'boolean') malformed('normalized is not a bool');
  if (d.score != null && (!isObj(d.score) || ('higher_is_closer' in d.score && typeof d.score.higher_is_closer !== 'boolean'))) {
    malformed('score.higher_is_closer is not a bool');
  }
  if (d.notes != null && (!Array.isArray(d.notes) || !d.notes.every((n) => typeof n === 'string'))) malformed('notes is not a list of strings');
  const [lo, hi] = SCORE_RANGES[d.metric];
  if (!isObj(d.variants) || Object.keys(d.variants).length === 0) fail('manifest lists no encoder variants; re-export the bundle');
  for (const [name, v] of Object.entries(d.variants)) {
    if (!VARIANTS.includes(name)) fail(`variant ${JSON.stringify(name)} unknown to this runtime (it reads ${VARIANTS.join(', ')}); upgrade siamese-sdk-web`);
    if (!isObj(v) || typeof v.file !== 'string') malformed(`variant ${name} has no file`);
    if (v.batch != null && (!Number.isInteger(v.batch) || v.batch < 1)) {
      fail(`variant ${JSON.stringify(name)} has fixed batch ${JSON.stringify(v.batch)}; expected an int >= 1 or none; re-export`);
    }
    v.thresholds ??= {};
    v.metrics ??= {};
    if (!isObj(v.thresholds) || !isObj(v.metrics)) malformed(`variant ${name} thresholds/metrics are not objects`);
    for (const [op, t] of Object.entries(v.thresholds)) {
      if (!isNum(t) || t < lo || t > hi) malformed(`variant ${name} threshold ${op} = ${JSON.stringify(t)} is not a number in [${lo}, ${hi}]`);
    }
    if (!Object.values(v.metrics).every(isNum)) malformed(`variant ${name} metrics hold non-numbers`);
    v.threshold_support = checkSupport(name, v.threshold_support ?? {});
  }
  const defaultVariant = d.default_variant ?? 'fp32';
  if (!(defaultVariant in d.variants)) fail(`default_variant ${JSON.stringify(defaultVariant)} is not among ${Object.keys(d.variants).sort().join(', ')}`);
  const op = d.default_operating_point ?? 'eer';
  if (!OPERATING_POINTS.includes(op)) fail(`default_operating_point ${JSON.stringify(op)} unknown; expected one of ${OPERATING_POINTS.join(', ')}`);
  if (!isObj(d.heads) || Object.keys(d.heads).sort().join() !== HEADS.join()) fail('manifest heads must be exactly pairwise, matrix');
  if (!isObj(d.files)) malformed("missing 'files'");
  Object.keys(d.files).forEach(checkSafeName);
  for (const [name, digest] of Object.entries(d.files)) {
    if (typeof digest !== 'string' || !/^([0-9a-f]{64})?$/.test(digest)) malformed(`files.${name} is not a sha256`);
  }
  const ortFiles = d.ort == null ? null : checkOrt(d.ort, d.variants);
  const referenced = [
    ...Object.values(d.variants).map((v) => v.file),
    d.heads.pairwise,
    d.heads.matrix,
    ...(ortFiles ? [...Object.values(ortFiles.variants), ...Object.values(ortFiles.heads), ortFiles.operators] : []),
  ];
  const missing = referenced.filter((f) => !(f in d.files)).sort();
  if (missing.length) fail(`manifest has no sha256 for ${JSON.stringify(missing)}; re-export the bundle`);
  for (const [name, p] of Object.entries(d.profiles ?? {})) {
    if (!(p?.variant in d.variants)) fail(`profile ${JSON.stringify(name)} uses variant ${JSON.stringify(p?.variant)}, which the bundle does not ship; re-export`);
  }
  return {
    ...d,
    input: { ...d.input, preprocess: checkPreprocess(d.input.preprocess) },
    default_variant: defaultVariant,
    default_operating_point: op,
    profiles: d.profiles ?? {},
    ort: ortFiles,
  };
}

/** The `ort` entry, checked as the Python reader checks it (`OrtFiles`, `Manifest._check_ort`). */
function checkOrt(o, variants) {
  const names = (x) => isObj(x) && Object.values(x).every((f) => typeof f === 'string');
  if (!isObj(o) || !names(o.variants) || !names(o.heads) || typeof o.operators !== 'string') {
    malformed("'ort' needs variants, heads (name -> file) and operators");
  }
  const unknown = Object.keys(o.variants).filter((v) => !(v in variants)).sort();
  if (unknown.length) fail(`manifest ort lists variant(s) ${JSON.stringify(unknown)} that the bundle does not ship; re-export`);
  for (const f of [...Object.values(o.variants), ...Object.values(o.heads)]) {
    if (!f.endsWith('.ort')) fail(`manifest field ort names ${JSON.stringify(f)}, which is not an .ort file; the bundle was tampered with, refusing it`);
  }
  if (Object.keys(o.heads).sort().join() !== HEADS.join()) fail(`manifest ort heads ${JSON.stringify(Object.keys(o.heads).sort())} must be exactly matrix, pairwise; re-export`);
  return {
    variants: { ...o.variants },
    heads: { ...o.heads },
    operators: o.operators,
    style: String(o.style ?? 'Fixed'),
    onnxruntime: String(o.onnxruntime ?? ''),
    usability: isObj(o.usability) ? o.usability : {},
  };
}

/** A variant's `threshold_support` (informative): an object per operating point, with a boolean `supported`. */
function checkSupport(variant, support) {
  if (!isObj(support)) malformed(`variant ${variant} threshold_support is not an object`);
  const out = {};
  for (const [op, s] of Object.entries(support)) {
    if (!isObj(s)) malformed(`variant ${variant} threshold_support.${op} is not an object`);
    out[op] = { ...s, supported: s.supported ?? true, reason: String(s.reason ?? '') };
  }
  return out;
}

/**
 * Hex sha256 of `bytes` (WebCrypto).
 * @param {Uint8Array} bytes
 * @returns {Promise<string>}
 */
export async function sha256Hex(bytes) {
  if (!globalThis.crypto?.subtle) {
    throw new RuntimeUnavailableError(
      'WebCrypto (crypto.subtle) is unavailable: the page is not a secure context; serve it over https or from localhost (or pass checkHashes: false)',
    );
  }
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
  return Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** the largest manifest read (bytes) and its deepest nesting, as the Python reader (`siamese_sdk.format.strict`) */
const MAX_JSON_BYTES = 8 * 2 ** 20;
const MAX_DEPTH = 32;

/** The deepest nesting of arrays/objects in JSON `text`, counted outside strings, before it is parsed. */
export function jsonDepth(text) {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92) i++; // backslash: skip the escaped character
      else if (c === 34) inString = false;
    } else if (c === 34) inString = true;
    else if (c === 91 || c === 123) deepest = Math.max(deepest, ++depth);
    else if (c === 93 || c === 125) depth--;
  }
  return deepest;
}

/** A name -> bytes reader over a URL base or a set of files. */
function openSource(source) {
  if (typeof source === 'string' || source instanceof URL) {
    const base = new URL(String(source).replace(/\/?$/, '/'), globalThis.location?.href);
    return {
      where: base.href,
      listed: null,
      async read(name) {
        let res;
        try {
          res = await fetch(new URL(name, base));
        } catch (e) {
          fail(`bundle file ${name} could not be fetched from ${base.href} (${e.message}); check the URL and that the server is up`);
        }
        if (!res.ok) {
          if (name === MANIFEST) fail(`${base.href} has no ${MANIFEST} (HTTP ${res.status}); pass the URL of the bundle directory siamese-export wrote`);
          fail(`bundle file ${name} is missing from ${base.href} (HTTP ${res.status}); re-export or re-upload the bundle`);
        }
        return new Uint8Array(await res.arrayBuffer());
      },
    };
  }
  // FileList, File[] (an <input type=file multiple> or a drop), or a Map / object name -> Blob | ArrayBuffer | Uint8Array
  const entries = source instanceof Map
    ? [...source]
    : isObj(source) && !(Symbol.iterator in source) && !('length' in source)
    ? Object.entries(source)
    : Array.from(source, (f) => [f.webkitRelativePath ? f.webkitRelativePath.split('/').slice(1).join('/') || f.name : f.name, f]);
  const byName = new Map(entries);
  return {
    where: 'the given files',
    listed: [...byName.keys()],
    async read(name) {
      const f = byName.get(name);
      if (f === undefined) {
        if (name === MANIFEST) fail(`the given files hold no ${MANIFEST}; pick every file of the bundle directory, manifest.json included`);
        fail(`bundle file ${name} is missing from the given files; pick every file of the bundle directory`);
      }
      if (f instanceof Uint8Array) return f;
      if (f instanceof ArrayBuffer) return new Uint8Array(f);
      return new Uint8Array(await f.arrayBuffer());
    },
  };
}

/**
 * Open a bundle: its manifest (checked) and a reader that fetches any listed file on demand, checked against its
 * sha256 (unless `checkHashes` is false). Given files must all be listed in the manifest.
 * @param {string|URL|FileList|File[]|Record<string, Blob|ArrayBuffer|Uint8Array>} source
 *   the bundle directory's URL, or its files
 * @param {{checkHashes?: boolean}} [options]
 * @returns {Promise<{manifest: Manifest, read: (name: string) => Promise<Uint8Array>, where: string}>}
 */
export async function openBundle(source, { checkHashes = true } = {}) {
  const src = openSource(source);
  let data;
  try {
    const bytes = await src.read(MANIFEST);
    if (bytes.length > MAX_JSON_BYTES) fail(`${MANIFEST} in ${src.where} is ${bytes.length} bytes, over the ${MAX_JSON_BYTES} this reader takes; re-export the bundle`);
    const text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    const depth = jsonDepth(text);
    if (depth > MAX_DEPTH) fail(`${MANIFEST} in ${src.where} nests ${depth} levels deep, over the ${MAX_DEPTH} this reader takes; re-export the bundle`);
    data = JSON.parse(text);
  } catch (e) {
    if (e instanceof BundleError) throw e;
    fail(`${MANIFEST} in ${src.where} is not valid JSON (${e.message}); re-export the bundle`);
  }
  const manifest = parseManifest(data);
  if (!checkHashes) console.warn(`loading ${src.where} WITHOUT checking file hashes: a tampered model would run`);
  if (checkHashes && src.listed) {
    const extra = src.listed.filter((n) => n !== MANIFEST && !(n in manifest.files)).sort();
    if (extra.length) fail(`the bundle holds files the manifest does not list: ${JSON.stringify(extra)}; remove them or re-export`);
  }
  async function read(name) {
    if (!(name in manifest.files)) fail(`bundle file ${name} is not listed in the manifest; re-export the bundle`);
    const bytes = await src.read(name);
    if (checkHashes && (await sha256Hex(bytes)) !== manifest.files[name]) {
      fail(`bundle file ${name} does not match its sha256 in the manifest (changed or tampered); re-export the bundle`);
    }
    return bytes;
  }
  return { manifest, read, where: src.where };
}

/**
 * Read a bundle: its manifest (checked) and every file it lists (sha256-checked unless `checkHashes` is false).
 * @param {string|URL|FileList|File[]|Record<string, Blob|ArrayBuffer|Uint8Array>} source
 *   the bundle directory's URL, or its files
 * @param {{checkHashes?: boolean}} [options]
 * @returns {Promise<{manifest: Manifest, files: Map<string, Uint8Array>, where: string}>}
 */
export async function readBundle(source, options = {}) {
  const { manifest, read, where } = await openBundle(source, options);
  const names = Object.keys(manifest.files);
  const files = new Map(await Promise.all(names.map(async (name) => [name, await read(name)])));
  return { manifest, files, where };
}
