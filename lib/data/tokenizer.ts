// Tokenizers for the text data sets: a Hugging Face tokenizer.json (through the pure-JavaScript
// @huggingface/tokenizers package: no native build, works offline), or the word-level fallback of
// vocab.ts; and the batch encoding both share (truncation, padding, attention mask).
import * as fs from 'node:fs';
import { tensor } from '../tensor/creation';
import type { Tensor } from '../tensor/core';

/** What this file uses of @huggingface/tokenizers' Tokenizer (an ES module with a CommonJS build, loaded on first use). */
interface HfTokenizer {
  encode(text: string, options?: { text_pair?: string | null; add_special_tokens?: boolean }): { ids: number[] };
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
  /**
   * The same, at most maxLength ids, truncated as the reference tokenizer does (when it knows how;
   * encodeTexts' own cut otherwise).
   */
  encodeTruncated?(a: string, b: string | undefined, maxLength: number): number[];
}

/** How a post-processor wraps a sentence or a pair in special tokens (tokenizer.json's post_processor). */
interface Wrapping {
  cls: number;
  sep: number;
  /** RoBERTa's `<s> A </s></s> B </s>` (true) or BERT's `[CLS] A [SEP] B [SEP]` (false). */
  doubleSep: boolean;
}

function wrappingOf(post: unknown): Wrapping | null {
  if (typeof post !== 'object' || post === null) return null;
  const p = post as { type?: string; cls?: [string, number]; sep?: [string, number] };
  if ((p.type === 'RobertaProcessing' || p.type === 'BertProcessing') && Array.isArray(p.cls) && Array.isArray(p.sep)) {
    return { cls: p.cls[1], sep: p.sep[1], doubleSep: p.type === 'RobertaProcessing' };
  }
  return null;
}

/**
 * Hugging Face tokenizers' 'longest_first' truncation of a pair to `max` ids (the special tokens
 * already taken off), as tokenizers' truncate_encodings computes it: the shorter input is kept
 * whole when the longer can give way alone, else both are cut to ⌊max/2⌋ and ⌈max/2⌉ (the longer,
 * or the second on a tie, keeping the extra one).
 */
export function longestFirst(na: number, nb: number, max: number): [number, number] {
  if (na + nb <= max) return [na, nb];
  const swap = na > nb;
  let [n1, n2] = swap ? [nb, na] : [na, nb];
  n2 = n1 > max ? n1 : Math.max(n1, max - n1);
  if (n1 + n2 > max) {
    n1 = Math.floor(max / 2);
    n2 = n1 + (max % 2);
  }
  return swap ? [n2, n1] : [n1, n2];
}

/** A tokenizer.json (Hugging Face tokenizers' format, e.g. roberta-base's) as a TextTokenizer. */
export class JsonTokenizer implements TextTokenizer {
  readonly kind: string;
  readonly vocabSize: number;
  readonly padId: number;
  readonly #tok: HfTokenizer;
  readonly #unkId: number | undefined;
  readonly #wrap: Wrapping | null;

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
    this.#wrap = wrappingOf(json['post_processor']);
  }

  #ids(text: string, b: string | undefined, special: boolean): number[] {
    const ids = this.#tok.encode(text, { ...(b === undefined ? {} : { text_pair: b }), add_special_tokens: special }).ids as (number | undefined)[];
    return ids.map((id) => {
      if (id !== undefined) return id;
      if (this.#unkId === undefined) throw new Error(`${this.kind}: a token has no id and the model has no unk_token (text: ${JSON.stringify(text.slice(0, 60))})`);
      return this.#unkId;
    });
  }

  /** The ids of a text without special tokens. */
  encodeRaw(text: string): number[] {
    return this.#ids(text, undefined, false);
  }

  encode(a: string, b?: string): number[] {
    return this.#ids(a, b, true);
  }

  /**
   * As transformers' fast tokenizer with truncation=True (RoBERTa's and BERT's post-processors):
   * the texts encoded without special tokens, cut longest-first to leave room for them, then
   * wrapped. Other post-processors: encodeTexts' own cut of the full encoding.
   */
  encodeTruncated(a: string, b: string | undefined, maxLength: number): number[] {
    const w = this.#wrap;
    if (w === null) {
      const ids = this.encode(a, b);
      return ids.length <= maxLength ? ids : [...ids.slice(0, maxLength - 1), ids[ids.length - 1] as number];
    }
    const ia = this.encodeRaw(a);
    if (b === undefined) return [w.cls, ...ia.slice(0, Math.max(0, maxLength - 2)), w.sep];
    const ib = this.encodeRaw(b);
    const added = w.doubleSep ? 4 : 3;
    const [na, nb] = longestFirst(ia.length, ib.length, Math.max(0, maxLength - added));
    return [w.cls, ...ia.slice(0, na), w.sep, ...(w.doubleSep ? [w.sep] : []), ...ib.slice(0, nb), w.sep];
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
 * `maxLength`, padded at the end (transformers' padding=True, truncation=True): a longer example
 * is cut as the tokenizer's encodeTruncated says, or keeps its first maxLength − 1 ids and its
 * last (the closing </s>).
 */
export function encodeTexts(tokenizer: TextTokenizer, examples: readonly (readonly [string, string?])[], maxLength: number): EncodedText {
  if (!(Number.isSafeInteger(maxLength) && maxLength >= 2)) throw new RangeError(`encodeTexts: maxLength must be an integer ≥ 2, got ${maxLength}`);
  let truncated = 0;
  const rows = examples.map(([a, b]) => {
    if (tokenizer.encodeTruncated !== undefined) {
      const ids = tokenizer.encodeTruncated(a, b, maxLength);
      // Counted by a second, untruncated encoding only when the cut may have happened.
      if (ids.length >= maxLength && tokenizer.encode(a, b).length > maxLength) truncated++;
      return ids;
    }
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
