/**
 * `Gallery`: a small in-memory embedding store for 1:N search, bound to the model that made its
 * embeddings. Queries are scored by the bundle's matrix head (as `model.distanceMatrix`), so scores and
 * their direction are the bundle's: distances, closest (lowest) first, or for a learned head p(same),
 * highest first. A hit matches when it is on the close side of `model.threshold()`.
 */

import { InputError } from './errors.js';

const isIds = (x) => Array.isArray(x) && x.every((i) => typeof i === 'string');

export class Gallery {
  /** @param {import('./model.js').SiameseModel} model  the model whose embeddings the gallery holds */
  constructor(model) {
    this.model = model;
    /** the encoder's id: only its embeddings belong here */
    this.fingerprint = model.fingerprint;
    /** @type {string[]} */
    this.ids = [];
    /** @type {Float32Array[]} */
    this.embeddings = [];
  }

  /** The number of stored embeddings. */
  get size() {
    return this.ids.length;
  }

  /**
   * Append embeddings with one id each (ids need not be unique). Python's argument order
   * `add(embeddings, ids)` is accepted too.
   * @param {string[]} ids
   * @param {Float32Array[]} embeddings  rows of length D, e.g. from `model.embed`
   */
  add(ids, embeddings) {
    if (isIds(embeddings) && !isIds(ids)) [ids, embeddings] = [embeddings, ids];
    if (!isIds(ids) || ids.some((i) => i === '')) throw new InputError('ids must be non-empty strings, one per embedding');
    if (!Array.isArray(embeddings) || embeddings.length !== ids.length) {
      throw new InputError(`got ${ids.length} ids for ${embeddings?.length} embeddings; pass one id per embedding`);
    }
    const d = this.model.embeddingDim;
    embeddings.forEach((e, i) => {
      if (e?.length !== d) throw new InputError(`embedding ${i} has length ${e?.length}, this model's are ${d}; pass the output of embed() of the same model`);
      if (!Array.from(e).every(Number.isFinite)) throw new InputError(`embedding ${i} contains NaN or Inf; clean it first`);
    });
    this.ids.push(...ids);
    this.embeddings.push(...embeddings.map((e) => Float32Array.from(e)));
  }

  /**
   * The `k` closest entries of each query; ties keep insertion order.
   * @param {Float32Array[]|Float32Array} queries  B embeddings (or one)
   * @param {number} [k]  hits per query, capped at the gallery size
   * @returns {Promise<{ids: string[][], scores: Float32Array[]}>}  B lists of k' hits, closest first
   */
  async search(queries, k = 5) {
    if (this.size === 0) throw new InputError('the gallery is empty; add embeddings before searching');
    if (!Number.isInteger(k) || k < 1) throw new InputError(`k=${k} invalid; pass a positive integer`);
    const scores = await this.model.distanceMatrix(queries, this.embeddings);
    const hic = this.model.higherIsCloser;
    const kk = Math.min(k, this.size);
    const out = { ids: [], scores: [] };
    for (const row of scores) {
      const order = Array.from(row.keys()).sort((i, j) => (hic ? row[j] - row[i] : row[i] - row[j]) || i - j).slice(0, kk);
      out.ids.push(order.map((i) => this.ids[i]));
      out.scores.push(Float32Array.from(order, (i) => row[i]));
    }
    return out;
  }
}
