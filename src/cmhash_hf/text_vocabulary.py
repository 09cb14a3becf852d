"""Text vocabularies built locally from a dataset's texts: a WordPiece tokenizer, or a bag-of-words list.

Both are trained offline from the training texts, so tests and the demo need no download.

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

from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
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
    """Train a BERT-style WordPiece tokenizer (lower-case, ``[CLS] text [SEP]``) on ``texts``, offline."""
    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.decoder = decoders.WordPiece()
    trainer = trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=list(SPECIAL_TOKENS))
    tokenizer.train_from_iterator(texts, trainer=trainer)
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        special_tokens=[("[CLS]", tokenizer.token_to_id("[CLS]")), ("[SEP]", tokenizer.token_to_id("[SEP]"))],
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
