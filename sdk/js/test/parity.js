/**
 * Page side of the browser parity test (tests/e2e/test_browser_parity.py): runs one job through the runtime
 * and returns plain JSON: preprocessed tensors, embeddings, pair scores and decisions per operating point,
 * gallery top-1 and embed latencies, per variant.
 */

import * as siamese from '../src/index.js';

const b64ToBlob = (b64, type) => new Blob([Uint8Array.from(atob(b64), (c) => c.charCodeAt(0))], { type });

/** `[min, median]` milliseconds of one `fn()` call over `repeats` samples of `inner` calls (the page's clock is coarse). */
async function median(fn, repeats, inner = 1) {
  await fn(); // warm-up
  const times = [];
  for (let i = 0; i < repeats; i++) {
    const t0 = performance.now();
    for (let j = 0; j < inner; j++) await fn();
    times.push((performance.now() - t0) / inner);
  }
  times.sort((a, b) => a - b);
  return [times[0], times[Math.floor(times.length / 2)]];
}

async function runVariant(job, variant, blobs, bundle = job.bundle, modelFormat = 'onnx') {
  const t0 = performance.now();
  const model = await siamese.loadBundle(bundle, { variant, modelFormat });
  const loadMs = performance.now() - t0;
  const emb = await model.embed(job.images);
  const a = job.pairs.map(([i]) => emb[i]);
  const b = job.pairs.map(([, j]) => emb[j]);
  const decisions = {};
  const support = {};
  let scores;
  for (const op of siamese.OPERATING_POINTS) {
    const v = await model.verify(a, b, { operatingPoint: op });
    decisions[op] = v.same;
    scores = Array.from(v.scores);
    support[op] = { model: model.thresholdSupport(op), verification: v.support };
  }
  const gallery = new siamese.Gallery(model);
  gallery.add(job.gallery.ids, job.gallery.rows.map((i) => emb[i]));
  const hits = await gallery.search(job.gallery.queries.map((i) => emb[i]), 1);
  const one = [blobs[0]];
  const batch = Array.from({ length: job.timing.batch }, (_, i) => blobs[i % blobs.length]);
  const x1 = await model.preprocess(one);
  const xb = await model.preprocess(batch);
  const latency = {
    embed_1_ms: await median(() => model.embed(one), job.timing.repeats, job.timing.inner),
    embed_batch_ms: await median(() => model.embed(batch), job.timing.repeats),
    encoder_1_ms: await median(() => model.embed(x1), job.timing.repeats, job.timing.inner),
    encoder_batch_ms: await median(() => model.embed(xb), job.timing.repeats),
  };
  await model.release();
  return {
    variant: model.variant,
    modelFormat: model.modelFormat,
    loadMs,
    support,
    thresholds: model.manifest.variants[variant].thresholds,
    embeddings: emb.map((e) => Array.from(e)),
    scores,
    decisions,
    top1: hits.ids.map((h) => h[0]),
    latency,
  };
}

const BUNDLE_FILES = ['manifest.json', 'encoder.fp32.onnx', 'encoder.int8.onnx', 'head.pairwise.onnx', 'head.matrix.onnx'];

/** The bundle's files in memory: `Map(name -> bytes)`. */
async function bundleFiles(job) {
  return new Map(await Promise.all(BUNDLE_FILES.map(async (n) => [n, new Uint8Array(await (await fetch(job.bundle + n)).arrayBuffer())])));
}

/** The bundle's files with the manifest changed in place by `edit(manifest)` (the manifest itself is not hashed). */
function withManifest(files, edit) {
  const manifest = JSON.parse(new TextDecoder().decode(files.get('manifest.json')));
  edit(manifest);
  return new Map([...files, ['manifest.json', new TextEncoder().encode(JSON.stringify(manifest))]]);
}

/** `model.preprocess` of bundles whose manifest asks for another `resize` (letterbox, crop): `[{name, data}]`. */
async function bundleCases(job) {
  const files = await bundleFiles(job);
  const out = [];
  for (const c of job.bundleCases) {
    const model = await siamese.loadBundle(withManifest(files, (m) => Object.assign(m.input.preprocess, c.patch)), { variant: 'fp32' });
    const x = await model.preprocess(c.pngs.map((b64) => b64ToBlob(b64, 'image/png')));
    await model.release();
    out.push({ name: c.name, data: Array.from(x.data) });
  }
  return out;
}

/** The one-line errors of a few broken loads: `{case: "ErrorClass: message"}`. */
async function errorCases(job) {
  const files = await bundleFiles(job);
  const tampered = new Map(files);
  const enc = Uint8Array.from(files.get('encoder.fp32.onnx'));
  enc[enc.length - 1] ^= 1;
  tampered.set('encoder.fp32.onnx', enc);
  const extra = new Map([...files, ['notes.txt', new Uint8Array(1)]]);
  const cases = {
    files: () => siamese.loadBundle(files, { variant: 'fp32' }).then((m) => m.variant),
    tampered: () => siamese.loadBundle(tampered, { variant: 'fp32' }),
    unlisted: () => siamese.loadBundle(extra, { variant: 'fp32' }),
    noManifest: () => siamese.loadBundle(job.bundle + 'nowhere/'),
    variant: () => siamese.loadBundle(files, { variant: 'fp16' }),
    operatingPoint: async () => (await siamese.loadBundle(files, { variant: 'fp32' })).threshold('far_1e-9'),
    resize: () => siamese.loadBundle(withManifest(files, (m) => Object.assign(m.input.preprocess, { resize: 'pad' })), { variant: 'fp32' }),
    ink: () => siamese.loadBundle(withManifest(files, (m) => Object.assign(m.input.preprocess, { ink: 'binarize' })), { variant: 'fp32' }),
  };
  for (const c of job.badManifests ?? []) {
    const withText = new Map([...files, ['manifest.json', new TextEncoder().encode(c.text)]]);
    cases[`manifest:${c.name}`] = () => siamese.openBundle(withText).then((b) => b.manifest.embedding_dim);
  }
  const out = {};
  for (const [name, fn] of Object.entries(cases)) {
    try {
      out[name] = `ok: ${await fn()}`;
    } catch (e) {
      out[name] = `${e.name}: ${e.message}`;
    }
  }
  return out;
}

/** The bundle with ORT-format copies (`job.mobile`): each variant from its `.onnx` and its `.ort` files, and the
 * choices and errors of `modelFormat`. */
async function runFormats(job, blobs) {
  const { bundle, variants } = job.mobile;
  const out = { runs: {}, choices: {} };
  for (const v of variants) {
    for (const fmt of ['onnx', 'ort']) out.runs[`${v}.${fmt}`] = await runVariant(job, v, blobs, bundle, fmt);
  }
  const names = Object.keys((await siamese.openBundle(bundle)).manifest.files);
  const files = new Map(await Promise.all(names.concat('manifest.json').map(async (n) => [n, new Uint8Array(await (await fetch(bundle + n)).arrayBuffer())])));
  const tampered = new Map(files);
  const enc = Uint8Array.from(files.get('encoder.int8.ort'));
  enc[enc.length - 1] ^= 1;
  tampered.set('encoder.int8.ort', enc);
  const cases = {
    autoMobile: () => siamese.loadBundle(bundle, { variant: 'int8', modelFormat: 'auto' }),
    autoGolden: () => siamese.loadBundle(job.bundle, { variant: 'int8', modelFormat: 'auto' }),
    ortGolden: () => siamese.loadBundle(job.bundle, { variant: 'int8', modelFormat: 'ort' }),
    tamperedOrt: () => siamese.loadBundle(tampered, { variant: 'int8', modelFormat: 'ort' }),
    tamperedOrtAuto: () => siamese.loadBundle(tampered, { variant: 'int8', modelFormat: 'auto' }),
    badFormat: () => siamese.loadBundle(bundle, { modelFormat: 'tflite' }),
    goldenSupport: async () => JSON.stringify((await siamese.loadBundle(job.bundle, { variant: 'fp32' })).thresholdSupport('eer')),
    oldSupport: async () => JSON.stringify((await siamese.loadBundle(withManifest(await bundleFiles(job), (m) => Object.values(m.variants).forEach((v) => delete v.threshold_support)), { variant: 'fp32' })).thresholdSupport('eer')),
  };
  for (const [name, fn] of Object.entries(cases)) {
    try {
      const r = await fn();
      out.choices[name] = typeof r === 'string' ? `ok: ${r}` : `ok: ${r.variant}.${r.modelFormat}`;
    } catch (e) {
      out.choices[name] = `${e.name}: ${e.message}`;
    }
  }
  return out;
}

/** Run `job` (see tests/e2e/test_browser_parity.py) and return its results as JSON-ready data. */
export async function runParity(job) {
  const cases = [];
  for (const c of job.preprocessCases) {
    const x = await siamese.preprocessImages(b64ToBlob(c.png, c.type), c.spec);
    cases.push({ name: c.name, data: Array.from(x.data), dims: x.dims });
  }
  const model = await siamese.loadBundle(job.bundle, { variant: 'fp32' });
  const pixels = Array.from((await model.preprocess(job.pixelImages)).data);
  await model.release();
  const blobs = await Promise.all(job.images.slice(0, 8).map(async (u) => (await fetch(u)).blob()));
  const variants = {};
  for (const v of job.variants) variants[v] = await runVariant(job, v, blobs);
  const mobile = job.mobile ? await runFormats(job, blobs) : null;
  return { cases, pixels, bundles: await bundleCases(job), variants, mobile, errors: await errorCases(job), userAgent: navigator.userAgent };
}

window.runParity = runParity;
