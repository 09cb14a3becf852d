"""Text vocabularies built locally from a dataset's texts: a WordPiece tokenizer, or a bag-of-words list.

Both are built offline and deterministically from the training texts, so tests and the demo need no download.

Example:
    >>> texts = ["a red circle", "a blue square", "a red square"]
    >>> build_bow_vocabulary(texts, max_words=3)
    ['a', 'red', 'square']
    >>> tokenizer = train_wordpiece_tokenizer(texts * 10, vocab_size=60)
    >>> tokenizer("red circle")["input_ids"][0] == tokenizer.cls_token_id
    True
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
from transformers import PreTrainedTokenizerFast

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
_WORD = re.compile(r"[a-z0-9]+")


def words_of(text: str) -> list[str]:
    """Lower-cased alphanumeric words of a text (the bag-of-words tokenisation)."""
    return _WORD.findall(text.lower())


def build_bow_vocabulary(texts: Iterable[str], max_words: int = 1000, min_count: int = 1) -> list[str]:
    """The ``max_words`` most frequent words (ties by first appearance) that occur at least ``min_count`` times."""
    counts = Counter(word for text in texts for word in words_of(text))
    ranked = sorted(counts.items(), key=lambda item: -item[1])
    return [word for word, count in ranked[:max_words] if count >= min_count]


def train_wordpiece_tokenizer(texts: Iterable[str], vocab_size: int = 1000, max_length: int = 32) -> PreTrainedTokenizerFast:
    """Build a BERT-style WordPiece tokenizer (lower-case, ``[CLS] text [SEP]``) from ``texts``, offline.

    The vocabulary is the special tokens, every character seen (alone and as a ``##`` continuation, so any word
    can be spelled out) and then the most frequent whole words (ties in alphabetical order) up to
    ``vocab_size``. Unlike the `tokenizers` WordPiece trainer, whose token ids change from run to run, this is
    deterministic: the same texts always give the same ids, which a resumed run and a re-run need.
    """
    normalizer = normalizers.BertNormalizer(lowercase=True)
    pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    counts: Counter[str] = Counter()
    for text in texts:
        counts.update(word for word, _ in pre_tokenizer.pre_tokenize_str(normalizer.normalize_str(text)))
    characters = sorted({character for word in counts for character in word})
    base = list(SPECIAL_TOKENS) + characters + [f"##{c}" for c in characters]
    taken = set(base)
    ranked = sorted((item for item in counts.items() if item[0] not in taken), key=lambda item: (-item[1], item[0]))
    words = [word for word, _ in ranked[: max(0, vocab_size - len(base))]]
    vocabulary = {token: index for index, token in enumerate(base + words)}
    tokenizer = Tokenizer(models.WordPiece(vocab=vocabulary, unk_token="[UNK]"))
    tokenizer.normalizer = normalizer
    tokenizer.pre_tokenizer = pre_tokenizer
    tokenizer.decoder = decoders.WordPiece()
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        special_tokens=[("[CLS]", vocabulary["[CLS]"]), ("[SEP]", vocabulary["[SEP]"])],
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        model_max_length=max_length,
    )
