// A pretrained checkpoint's tokenizer (its tokenizer.json), as models.fromPretrained returns it:
// JsonTokenizer's encoding (transformers' fast tokenizer: special tokens, longest-first
// truncation) with the model's longest input as the default maxLength, and batches as tensors.
import { encodeTexts, JsonTokenizer, type EncodedText } from './tokenizer';

export class PretrainedTokenizer extends JsonTokenizer {
  constructor(
    file: string,
    /** The longest input the model takes (RoBERTa's max_position_embeddings − padding_idx − 1: 512 for roberta-base). */
    readonly maxLength: number,
  ) {
    super(file);
  }

  /**
   * Sentences or pairs to [N, L] ids and attention mask, as transformers' tokenizer(a, b,
   * padding=True, truncation=True, max_length=maxLength) gives them. A maxLength above the
   * model's is used as given, as transformers does (the model then refuses the longer rows).
   */
  encodeBatch(examples: readonly (readonly [string, string?])[], opts: { maxLength?: number } = {}): EncodedText {
    return encodeTexts(this, examples, opts.maxLength ?? this.maxLength);
  }
}
