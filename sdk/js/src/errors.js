/**
 * The package's errors, as in the Python SDK (`siamese_sdk.errors`): every message is one line that
 * names the problem and the fix, so an app can show it as-is.
 *
 * - `SiameseError`: base of everything thrown on purpose.
 * - `BundleError`: a bundle or manifest that is missing, malformed, tampered with or unsupported.
 * - `InputError`: bad data handed to the API (wrong shape, empty batch, undecodable image).
 * - `RuntimeUnavailableError`: the browser lacks what the runtime needs (WebCrypto, WebAssembly, decoding).
 */

export class SiameseError extends Error {
  /** @param {string} message one line: the problem, then the fix */
  constructor(message) {
    super(message);
    this.name = new.target.name;
  }
}

export class BundleError extends SiameseError {}

export class InputError extends SiameseError {}

export class RuntimeUnavailableError extends SiameseError {}
