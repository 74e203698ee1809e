// Tokenizers for the text data sets: a Hugging Face tokenizer.json (through the pure-JavaScript
// @huggingface/tokenizers package: no native build, works offline), or the word-level fallback of
// vocab.ts; and the batch encoding both share (truncation, padding, attention mask).
import * as fs from 'node:fs';
import { tensor } from '../tensor/creation';
import type { Tensor } from '../tensor/core';

/** What this file uses of @huggingface/tokenizers' Tokenizer (an ES module with a CommonJS build, loaded on first use). */
interface HfTokenizer {
  encode(text: string, options?: { text_pair?: string | null }): { ids: number[] };
  token_to_id(token: string): number | undefined;
}
type HfTokenizerClass = new (tokenizer: object, config: object) => HfTokenizer;
let hfTokenizerClass: HfTokenizerClass | null = null;
function hfTokenizer(): HfTokenizerClass {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  hfTokenizerClass ??= (require('@huggingface/tokenizers') as { Tokenizer: HfTokenizerClass }).Tokenizer;
  return hfTokenizerClass;
}

export interface TextTokenizer {
  /** What it is, for messages. */
  readonly kind: string;
  readonly vocabSize: number;
  /** The padding id (RoBERTa's and the fallback's: 1). */
  readonly padId: number;
  /** One example's ids with the special tokens (a sentence, or a pair), untruncated. */
  encode(a: string, b?: string): number[];
}

/** A tokenizer.json (Hugging Face tokenizers' format, e.g. roberta-base's) as a TextTokenizer. */
export class JsonTokenizer implements TextTokenizer {
  readonly kind: string;
  readonly vocabSize: number;
  readonly padId: number;
  readonly #tok: HfTokenizer;
  readonly #unkId: number | undefined;

  constructor(readonly file: string) {
    let json: Record<string, unknown>;
    try {
      json = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
    } catch (e) {
      throw new Error(`tokenizer ${file}: cannot read it as JSON (${(e as Error).message})`);
    }
    const model = json['model'] as { type?: string; vocab?: unknown; unk_token?: string } | undefined;
    if (model === undefined || typeof model !== 'object') throw new Error(`tokenizer ${file}: not a tokenizer.json (no 'model' field)`);
    try {
      this.#tok = new (hfTokenizer())(json, {});
    } catch (e) {
      throw new Error(`tokenizer ${file}: ${(e as Error).message}`);
    }
    const vocab = model.vocab;
    const ids: number[] = [];
    if (Array.isArray(vocab)) ids.push(vocab.length - 1); // Unigram: [token, score] pairs
    else if (vocab !== null && typeof vocab === 'object') ids.push(...Object.values(vocab as Record<string, number>));
    for (const t of (json['added_tokens'] as { id: number }[] | undefined) ?? []) ids.push(t.id);
    this.vocabSize = Math.max(-1, ...ids) + 1;
    const pad = ['<pad>', '[PAD]', '<|padding|>'].map((t) => this.#tok.token_to_id(t)).find((id) => id !== undefined);
    this.padId = pad ?? 0;
    this.#unkId = model.unk_token === undefined ? undefined : this.#tok.token_to_id(model.unk_token);
    this.kind = `tokenizer ${file} (${model.type ?? 'unknown model'})`;
  }

  encode(a: string, b?: string): number[] {
    const ids = this.#tok.encode(a, b === undefined ? {} : { text_pair: b }).ids as (number | undefined)[];
    return ids.map((id) => {
      if (id !== undefined) return id;
      if (this.#unkId === undefined) throw new Error(`${this.kind}: a token has no id and the model has no unk_token (text: ${JSON.stringify(a.slice(0, 60))})`);
      return this.#unkId;
    });
  }
}

export interface EncodedText {
  /** [N, L] int64 token ids, padded with the tokenizer's padId. */
  ids: Tensor;
  /** [N, L] int64: 1 for tokens, 0 for padding. */
  mask: Tensor;
  /** L: the longest example after truncation. */
  length: number;
  /** Examples cut to maxLength. */
  truncated: number;
}

/**
 * Encodes examples (a sentence or a pair each) to ids and a mask of the longest length, at most
 * `maxLength`: a longer example keeps its first maxLength − 1 ids and its last (the closing </s>).
 */
export function encodeTexts(tokenizer: TextTokenizer, examples: readonly (readonly [string, string?])[], maxLength: number): EncodedText {
  if (!(Number.isSafeInteger(maxLength) && maxLength >= 2)) throw new RangeError(`encodeTexts: maxLength must be an integer ≥ 2, got ${maxLength}`);
  let truncated = 0;
  const rows = examples.map(([a, b]) => {
    const ids = tokenizer.encode(a, b);
    if (ids.length <= maxLength) return ids;
    truncated++;
    return [...ids.slice(0, maxLength - 1), ids[ids.length - 1] as number];
  });
  const L = Math.max(1, ...rows.map((r) => r.length));
  const ids = new Int32Array(rows.length * L).fill(tokenizer.padId);
  const mask = new Int32Array(rows.length * L);
  rows.forEach((r, i) => {
    ids.set(r, i * L);
    mask.fill(1, i * L, i * L + r.length);
  });
  const n = rows.length;
  return { ids: tensor(ids).long().reshape([n, L]), mask: tensor(mask).long().reshape([n, L]), length: L, truncated };
}
