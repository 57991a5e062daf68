/**
 * `SiameseModel`: a bundle loaded into onnxruntime-web (WASM) sessions that embeds images, scores pairs
 * with the bundle's own heads and makes match decisions at the shipped thresholds, as the Python SDK's
 * `siamese_sdk.load` does.
 */

import * as ort from 'onnxruntime-web';

import { METRICS, MODEL_FORMATS, OPERATING_POINTS, openBundle } from './bundle.js';
import { BundleError, InputError } from './errors.js';
import { preprocessImages } from './preprocess.js';

/** @typedef {import('./preprocess.js').ImageLike} ImageLike */
/** @typedef {Float32Array[]} Rows  B embeddings, each a Float32Array of length D */

/**
 * @typedef {object} Verification  result of `verify` for N pairs
 * @property {Float32Array} scores  head scores (distances unless `higherIsCloser`)
 * @property {boolean[]} same  score on the close side of `threshold`, inclusive
 * @property {number} threshold
 * @property {string|null} operatingPoint  the manifest operating point, or null for a caller's threshold
 * @property {boolean} higherIsCloser
 * @property {import('./bundle.js').ThresholdSupport|null} support  what the operating point's threshold rests on
 *   (identities, pairs, bootstrap intervals, `supported`); null for a caller's threshold or a bundle without it
 */

/**
 * The variant `variant: 'auto'` runs: the bundle's `web` profile when it has one, else fp32 (else the
 * manifest's default). Not int8 by default: onnxruntime-web's WASM build runs a QDQ int8 graph unfused
 * (Q/DQ around float kernels), not with the integer kernels its thresholds were calibrated with on the
 * exporting CPU, so its decisions can differ from the Python SDK's near the threshold; fp32 matches.
 */
function autoVariant(m) {
  if (m.profiles.web) return m.profiles.web.variant;
  return 'fp32' in m.variants ? 'fp32' : m.default_variant;
}

async function openSession(bytes, name, disabledOptimizers = []) {
  const options = { executionProviders: ['wasm'], graphOptimizationLevel: 'all', logSeverityLevel: 3 };
  if (disabledOptimizers.length) options.extra = { optimization: { disable_specified_optimizers: disabledOptimizers.join(',') } };
  try {
    return await ort.InferenceSession.create(bytes, options);
  } catch (e) {
    const first = String(e?.message ?? e).trim().split('\n')[0].slice(0, 200);
    const what = name.endsWith('.ort') ? `ORT-format model in onnxruntime-web ${ort.env.versions?.web ?? ''}`.trimEnd() : 'ONNX model';
    const err = new BundleError(`${name} is not a loadable ${what} (${first}); re-export the bundle`);
    err.unloadable = true; // the graph itself, not its bytes: modelFormat 'auto' falls back on this
    throw err;
  }
}

const dimsOf = (session, i) => session.inputMetadata?.[i]?.shape ?? [];

/** A list of rows (or one row) as `(N, dim)` float32, checked; `name` names the argument in errors. */
function asRows(e, dim, name) {
  const rows = e instanceof Float32Array || (Array.isArray(e) && typeof e[0] === 'number') ? [e] : e;
  if (!Array.isArray(rows) || rows.length === 0) throw new InputError(`${name}: empty batch (N = 0); pass at least one embedding`);
  const data = new Float32Array(rows.length * dim);
  rows.forEach((r, i) => {
    if (r?.length !== dim) throw new InputError(`${name}: expected embeddings of length ${dim}, row ${i} has ${r?.length}; pass the output of embed() of the same model`);
    data.set(r, i * dim);
  });
  if (!data.every(Number.isFinite)) throw new InputError(`${name}: embeddings contain NaN or Inf; clean them first`);
  return { data, n: rows.length };
}

const isRows = (x) => x instanceof Float32Array || (Array.isArray(x) && x.length > 0 && x.every((r) => r instanceof Float32Array));

export class SiameseModel {
  /** Use `loadBundle`. */
  constructor(manifest, variant, encoder, pairwise, matrix, modelFormat = 'onnx') {
    /** @type {import('./bundle.js').Manifest} */
    this.manifest = manifest;
    /** the loaded encoder variant */
    this.variant = variant;
    /** @type {'onnx'|'ort'} the graph files running: the `.onnx` ones or their ORT-format copies (manifest `ort`) */
    this.modelFormat = modelFormat;
    this._encoder = encoder;
    this._pairwise = pairwise;
    this._matrix = matrix;
    this._fixedBatch = manifest.variants[variant].batch ?? null;
    this._check();
  }

  _check() {
    const m = this.manifest;
    const { name, preprocess: pp } = m.input;
    if (this._encoder.inputNames.length !== 1 || this._encoder.inputNames[0] !== name) {
      throw new BundleError(`encoder inputs ${JSON.stringify(this._encoder.inputNames)} do not match manifest input ${JSON.stringify(name)}; re-export`);
    }
    const shape = dimsOf(this._encoder, 0);
    if (shape.length === 4 && shape.slice(1).join() !== [pp.channels, ...pp.size].join()) {
      throw new BundleError(`encoder expects inputs [${shape.slice(1)}], manifest says [${[pp.channels, ...pp.size]}]; re-export`);
    }
    for (const head of [this._pairwise, this._matrix]) {
      if (head.inputNames.join() !== 'a,b') throw new BundleError(`head inputs ${JSON.stringify(head.inputNames)} must be a, b; re-export the bundle`);
      const dims = [dimsOf(head, 0).at(-1), dimsOf(head, 1).at(-1)];
      if (dims.some((d) => typeof d === 'number' && d !== m.embedding_dim)) {
        throw new BundleError(`head expects [${dims}]-d embeddings, encoder emits ${m.embedding_dim}; the bundle mixes models`);
      }
    }
  }

  /** D, the length of one embedding. */
  get embeddingDim() {
    return this.manifest.embedding_dim;
  }

  /** Whether a higher score means "more alike" (the learned head); false for distances. */
  get higherIsCloser() {
    return METRICS[this.manifest.metric];
  }

  /** Id of the loaded encoder (its sha256 prefix): embeddings are comparable only between equal fingerprints. */
  get fingerprint() {
    return this.manifest.files[this.manifest.variants[this.variant].file].slice(0, 16);
  }

  /**
   * Images to the encoder's input tensor, exactly as the Python SDK's `model.preprocess`.
   * @param {ImageLike|ImageLike[]} images
   * @returns {Promise<{data: Float32Array, dims: number[]}>}  `(N, C, H, W)` float32
   */
  preprocess(images) {
    return preprocessImages(images, this.manifest.input.preprocess);
  }

  /**
   * Embed images (decoded and preprocessed here) or an already preprocessed batch.
   * @param {ImageLike|ImageLike[]|{data: Float32Array, dims: number[]}} images
   * @param {{batchSize?: number}} [options]  images per encoder run (default 64)
   * @returns {Promise<Rows>}  B rows of D floats, in input order
   */
  async embed(images, { batchSize = 64 } = {}) {
    if (!Number.isInteger(batchSize) || batchSize < 1) throw new InputError(`batchSize=${batchSize} invalid; pass a positive integer`);
    const x = images?.data instanceof Float32Array && Array.isArray(images.dims) ? this._checkBatch(images) : await this.preprocess(images);
    const [n, ...chw] = x.dims;
    const per = chw.reduce((a, b) => a * b, 1);
    const step = this._fixedBatch ? Math.min(batchSize, this._fixedBatch) : batchSize;
    const d = this.embeddingDim;
    const rows = [];
    for (let i = 0; i < n; i += step) {
      const count = Math.min(step, n - i);
      const run = this._fixedBatch ?? count; // a fixed-batch variant gets the chunk padded with zeros
      const feed = new Float32Array(run * per);
      feed.set(x.data.subarray(i * per, (i + count) * per));
      const out = await this._encoder.run({ [this.manifest.input.name]: new ort.Tensor('float32', feed, [run, ...chw]) });
      const e = out[this._encoder.outputNames[0]].data;
      for (let r = 0; r < count; r++) rows.push(e.slice(r * d, (r + 1) * d));
    }
    return rows;
  }

  _checkBatch(x) {
    const pp = this.manifest.input.preprocess;
    const want = [pp.channels, ...pp.size];
    if (x.dims.length !== 4 || x.dims.slice(1).join() !== want.join() || x.dims[0] < 1) {
      throw new InputError(`expected inputs of shape (N, ${want.join(', ')}) with N >= 1, got (${x.dims.join(', ')}); resize as the manifest says or pass images`);
    }
    if (x.data.length !== x.dims.reduce((a, b) => a * b, 1)) throw new InputError(`input data holds ${x.data.length} values, dims (${x.dims.join(', ')}) need ${x.dims.reduce((a, b) => a * b, 1)}`);
    if (!x.data.every(Number.isFinite)) throw new InputError('inputs contain NaN or Inf; clean the data before embedding');
    return x;
  }

  async _head(session, a, b) {
    const d = this.embeddingDim;
    const out = await session.run({ a: new ort.Tensor('float32', a.data, [a.n, d]), b: new ort.Tensor('float32', b.data, [b.n, d]) });
    return out[session.outputNames[0]].data;
  }

  /**
   * Pairwise scores of two lists of N embeddings, row by row, through the bundle's pairwise head.
   * @param {Rows|Float32Array} a
   * @param {Rows|Float32Array} b
   * @returns {Promise<Float32Array>}  N scores (distances unless `higherIsCloser`)
   */
  async distance(a, b) {
    const ra = asRows(a, this.embeddingDim, 'a');
    const rb = asRows(b, this.embeddingDim, 'b');
    if (ra.n !== rb.n) throw new InputError(`distance needs equal batch sizes, got ${ra.n} and ${rb.n}; use distanceMatrix for N x M`);
    return this._head(this._pairwise, ra, rb);
  }

  /**
   * Scores of every row of `a` (N) against every row of `b` (M), through the bundle's matrix head.
   * @param {Rows|Float32Array} a
   * @param {Rows|Float32Array} b
   * @returns {Promise<Float32Array[]>}  N rows of M scores
   */
  async distanceMatrix(a, b) {
    const ra = asRows(a, this.embeddingDim, 'a');
    const rb = asRows(b, this.embeddingDim, 'b');
    const s = await this._head(this._matrix, ra, rb);
    return Array.from({ length: ra.n }, (_, i) => s.slice(i * rb.n, (i + 1) * rb.n));
  }

  /**
   * The calibrated threshold of the loaded variant at `operatingPoint` (default: the manifest's).
   * @param {string} [operatingPoint]  'eer', 'far_1e-2', 'far_1e-3' or 'max_accuracy'
   */
  threshold(operatingPoint = undefined) {
    const op = operatingPoint ?? this.manifest.default_operating_point;
    const thresholds = this.manifest.variants[this.variant].thresholds;
    if (!(op in thresholds)) {
      const known = Object.keys(thresholds).sort();
      throw new InputError(`operating point ${JSON.stringify(op)} unknown; expected one of ${(known.length ? known : OPERATING_POINTS).join(', ')}`);
    }
    return thresholds[op];
  }

  /**
   * What the threshold at `operatingPoint` (default: the manifest's) rests on: the validation identities and
   * pairs, the bootstrap intervals of the threshold, FAR and FRR, and whether the set supports it
   * (`supported`, `reason`), as `siamese info` prints it. Null when the bundle predates `threshold_support`.
   * @param {string} [operatingPoint]  'eer', 'far_1e-2', 'far_1e-3' or 'max_accuracy'
   * @returns {import('./bundle.js').ThresholdSupport|null}
   */
  thresholdSupport(operatingPoint = undefined) {
    const op = operatingPoint ?? this.manifest.default_operating_point;
    this.threshold(op); // refuses an unknown operating point
    return this.manifest.variants[this.variant].threshold_support[op] ?? null;
  }

  _checkThreshold(threshold) {
    const t = Number(threshold);
    const metric = this.manifest.metric;
    if (!Number.isFinite(t)) throw new InputError(`threshold ${threshold} is not finite; pass a number`);
    if (metric === 'cosine' && !(t >= 0 && t <= 2)) throw new InputError(`threshold ${t} outside the cosine distance range [0, 2]; pick a threshold in range`);
    if (metric === 'learned' && !(t >= 0 && t <= 1)) throw new InputError(`threshold ${t} outside [0, 1], but the learned head's scores are probabilities; pick one in range`);
    if (metric === 'euclidean' && t < 0) throw new InputError(`threshold ${t} below 0, but Euclidean distances are >= 0; pick a threshold >= 0`);
    return t;
  }

  /**
   * Decide for each pair (x1[i], x2[i]) whether both show the same identity.
   * @param {ImageLike|ImageLike[]|Rows} x1  images, or embeddings from `embed`
   * @param {ImageLike|ImageLike[]|Rows} x2  as many as x1
   * @param {{operatingPoint?: string, threshold?: number}} [options]  a threshold of your own overrides
   *   the operating point ('eer', 'far_1e-2', 'far_1e-3', 'max_accuracy'; default the manifest's `default_operating_point`)
   * @returns {Promise<Verification>}
   */
  async verify(x1, x2, { operatingPoint = undefined, threshold = undefined } = {}) {
    let t;
    let op = null;
    if (threshold !== undefined) {
      if (operatingPoint !== undefined) throw new InputError('pass threshold or operatingPoint, not both');
      t = this._checkThreshold(threshold);
    } else {
      op = operatingPoint ?? this.manifest.default_operating_point;
      t = this.threshold(op);
    }
    const e1 = isRows(x1) ? x1 : await this.embed(x1);
    const e2 = isRows(x2) ? x2 : await this.embed(x2);
    const n1 = e1 instanceof Float32Array ? 1 : e1.length;
    const n2 = e2 instanceof Float32Array ? 1 : e2.length;
    if (n1 !== n2) throw new InputError(`verify needs as many x1 as x2 inputs, got ${n1} and ${n2}; pair them up`);
    const scores = await this.distance(e1, e2);
    const hic = this.higherIsCloser;
    const same = Array.from(scores, (s) => (hic ? s >= t : s <= t));
    const support = op === null ? null : this.thresholdSupport(op);
    return { scores, same, threshold: t, operatingPoint: op, higherIsCloser: hic, support };
  }

  /** Free the WASM sessions. */
  async release() {
    await Promise.all([this._encoder, this._pairwise, this._matrix].map((s) => s.release()));
  }
}

/**
 * The files `modelFormat` runs for `variant`: `{encoder, pairwise, matrix}`, or null for 'auto' on a bundle
 * without ORT-format copies of them.
 */
function graphFiles(m, variant, modelFormat) {
  if (modelFormat === 'onnx') return { encoder: m.variants[variant].file, ...m.heads };
  if (m.ort && variant in m.ort.variants) return { encoder: m.ort.variants[variant], ...m.ort.heads };
  if (modelFormat === 'auto') return null;
  const has = m.ort ? Object.keys(m.ort.variants).sort() : [];
  throw new BundleError(
    `this bundle has no ORT-format file for ${JSON.stringify(variant)} (ORT-format variants: ${JSON.stringify(has)}); export with --profile mobile or use modelFormat 'onnx'`,
  );
}

/** The encoder's and both heads' sessions; the files are fetched (and hash-checked) together, and sessions
 * already open are released when a later one fails. */
async function openSessions(read, files, disabled) {
  const names = [files.encoder, files.pairwise, files.matrix];
  const bytes = await Promise.all(names.map(read));
  const sessions = [];
  try {
    for (let i = 0; i < names.length; i++) sessions.push(await openSession(bytes[i], names[i], i === 0 ? disabled : []));
  } catch (e) {
    await Promise.all(sessions.map((s) => s.release()));
    throw e;
  }
  return sessions;
}

/**
 * Load a bundle made by `siamese-export` from its directory URL or its files. Only the files the chosen
 * variant and format run are fetched, each checked against its sha256.
 * @param {string|URL|FileList|File[]|Map<string, Blob|ArrayBuffer|Uint8Array>|Record<string, Blob|ArrayBuffer|Uint8Array>} source
 * @param {object} [options]
 * @param {string} [options.variant]  'auto' (the bundle's `web` profile, else fp32) or a shipped variant (int8: a smaller download)
 * @param {'onnx'|'ort'|'auto'} [options.modelFormat]  'onnx' (default): the `.onnx` files; 'ort': their ORT-format
 *   copies (manifest `ort`, `siamese-export --profile mobile`; `BundleError` when absent or not loadable); 'auto': the
 *   ORT-format copies when the bundle ships them for the variant and onnxruntime-web opens them, else `.onnx`
 * @param {boolean} [options.checkHashes]  check every fetched file's sha256 (default true; keep it outside debugging)
 * @param {string} [options.wasmPaths]  URL prefix of onnxruntime-web's .wasm/.mjs files (default: beside its module)
 * @param {number} [options.numThreads]  WASM threads (default 1; more need a cross-origin-isolated page)
 * @returns {Promise<SiameseModel>}
 */
export async function loadBundle(
  source,
  { variant = 'auto', modelFormat = 'onnx', checkHashes = true, wasmPaths = undefined, numThreads = 1 } = {},
) {
  if (typeof WebAssembly === 'undefined') throw new BundleError('WebAssembly is unavailable in this browser; use a current Chrome, Firefox, Safari or Edge');
  if (![...MODEL_FORMATS, 'auto'].includes(modelFormat)) {
    throw new InputError(`modelFormat ${JSON.stringify(modelFormat)} unknown; expected one of ${[...MODEL_FORMATS, 'auto'].join(', ')}`);
  }
  ort.env.wasm.numThreads = numThreads;
  if (wasmPaths !== undefined) ort.env.wasm.wasmPaths = wasmPaths;
  const { manifest, read } = await openBundle(source, { checkHashes });
  const name = variant === 'auto' ? autoVariant(manifest) : variant;
  if (!(name in manifest.variants)) {
    throw new BundleError(`variant ${JSON.stringify(variant)} not in this bundle; available: ${Object.keys(manifest.variants).sort().join(', ')} or 'auto'`);
  }
  const v = manifest.variants[name];
  const disabled = v.quantization?.session?.disabled_optimizers ?? [];
  if (!Array.isArray(disabled) || !disabled.every((s) => typeof s === 'string')) {
    throw new BundleError(`${v.file}: quantization.session.disabled_optimizers must be a list of names; re-export`);
  }
  const ortFiles = modelFormat === 'onnx' ? null : graphFiles(manifest, name, modelFormat);
  if (ortFiles) {
    try {
      return new SiameseModel(manifest, name, ...(await openSessions(read, ortFiles, disabled)), 'ort');
    } catch (e) {
      // a tampered file is never a reason to fall back; an ORT-format graph this onnxruntime-web cannot run is, for 'auto'
      if (modelFormat === 'ort' || !e.unloadable) throw e;
      console.info(`${e.message.split(' (')[0]}: loading the .onnx files`);
    }
  }
  return new SiameseModel(manifest, name, ...(await openSessions(read, graphFiles(manifest, name, 'onnx'), disabled)), 'onnx');
}
