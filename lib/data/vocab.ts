// The fallback tokenizer when no tokenizer.json is given: a lowercased word-level vocabulary built
// from the training set, with RoBERTa's special ids (<s> 0, <pad> 1, </s> 2, <unk> 3), so padding
// matches textClassifier's paddingIdx 1. A sentence is <s> words </s>; a pair is
// <s> a </s></s> b </s>, as RoBERTa joins them.
import type { TextTokenizer } from './tokenizer';

export const SPECIAL_TOKENS = ['<s>', '<pad>', '</s>', '<unk>'] as const;
export const BOS_ID = 0;
export const PAD_ID = 1;
export const EOS_ID = 2;
export const UNK_ID = 3;

/** Lowercased words: runs of letters, digits and apostrophes, and every other non-space character alone. */
export function words(text: string): string[] {
  return text.toLowerCase().match(/[\p{L}\p{N}\p{M}']+|[^\s\p{L}\p{N}\p{M}']/gu) ?? [];
}

export class WordVocab implements TextTokenizer {
  readonly kind = 'word-level vocabulary';
  readonly padId = PAD_ID;
  readonly #ids: Map<string, number>;
  /** Token strings by id. */
  readonly tokens: string[];

  /** From the tokens by id (the first four must be the special tokens). */
  constructor(tokens: readonly string[]) {
    SPECIAL_TOKENS.forEach((t, i) => {
      if (tokens[i] !== t) throw new RangeError(`WordVocab: token ${i} must be ${t}, got ${String(tokens[i])}`);
    });
    this.tokens = [...tokens];
    this.#ids = new Map(this.tokens.map((t, i) => [t, i]));
  }

  /** Every word of `texts`, most frequent first (ties in code-point order), after the special tokens. */
  static build(texts: Iterable<string>, opts: { minCount?: number } = {}): WordVocab {
    const counts = new Map<string, number>();
    for (const text of texts) for (const w of words(text)) counts.set(w, (counts.get(w) ?? 0) + 1);
    const minCount = opts.minCount ?? 1;
    const kept = [...counts].filter(([w, c]) => c >= minCount && !(SPECIAL_TOKENS as readonly string[]).includes(w));
    kept.sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    return new WordVocab([...SPECIAL_TOKENS, ...kept.map(([w]) => w)]);
  }

  get vocabSize(): number {
    return this.tokens.length;
  }

  id(word: string): number {
    return this.#ids.get(word) ?? UNK_ID;
  }

  /** <s> a </s> or <s> a </s></s> b </s>, untruncated. */
  encode(a: string, b?: string): number[] {
    const ids = [BOS_ID, ...words(a).map((w) => this.id(w)), EOS_ID];
    if (b !== undefined) ids.push(EOS_ID, ...words(b).map((w) => this.id(w)), EOS_ID);
    return ids;
  }
}
