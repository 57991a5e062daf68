/**
 * siamese-sdk-web: run siamese-sdk bundles in the browser with onnxruntime-web (WASM).
 *
 *   import { loadBundle, Gallery } from 'siamese-sdk-web';
 *   const model = await loadBundle('models/bundle/');           // manifest + every file, sha256-checked
 *   const { same, scores, threshold } = await model.verify(imgA, imgB);
 *
 * See docs/deploy-web-mobile.md for the preprocessing contract and serving the .wasm files.
 */

export { loadBundle, SiameseModel } from './model.js';
export { Gallery } from './gallery.js';
export { openBundle, readBundle, parseManifest, sha256Hex, METRICS, MODEL_FORMATS, OPERATING_POINTS, VARIANTS } from './bundle.js';
export { decode, normalise, preprocessImages, toBands, MAX_IMAGE_PIXELS } from './preprocess.js';
export { resize } from './resample.js';
export { SiameseError, BundleError, InputError, RuntimeUnavailableError } from './errors.js';
