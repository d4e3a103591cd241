"""Pseudo-sentences of a language's frequent words: variety of sounds beyond the corpus.

The built-in corpus (`corpus.py`) has five sentences per language, a few hundred distinct
words in all; a model trained on them alone hears the same words in the same order, voice
after voice. `word_sentence` strings 4-12 words drawn from the language's most frequent
written words (the `wordfreq` package's lists, built from subtitles, web text, Wikipedia
and books), weighted towards the top of the list but flatter than their frequency, so that
content words come up too. The result is not grammatical, but every engine reads it as a
sentence: real words, the language's own spelling-to-sound and its own mix of sounds,
new every clip.

Provenance: wordfreq (code Apache-2.0; its word lists CC BY-SA 4.0). The lists are read
at build time from the installed package and only their words' sounds reach a model.
"""

import unicodedata
from functools import cache

import numpy as np

from app.errors import LivefaceError

TOP_WORDS = 5000  # how far down each language's frequency list words are drawn from
RANK_EXPONENT = 0.5  # a word of rank r is drawn with weight r ** -0.5 (Zipf's law is ~1)
WORDS_PER_SENTENCE = (4, 12)
COMMA_FROM = 7  # sentences this long or longer get a comma (a phrase break) inside
# the script each language's words must be written in (a word list also holds loans)
_SCRIPTS = {"ru": "CYRILLIC", "zh": "CJK"}
_CJK = frozenset({"zh"})
_SINGLE_LETTER_WORDS = frozenset("aeiouyàáèéìíòóùú")


@cache
def frequent_words(language: str) -> tuple[str, ...]:
    """The language's most frequent words (most frequent first) that an engine can say:
    letters of the language's script only, no digits, no single-letter abbreviations."""
    try:
        from wordfreq import top_n_list
    except ImportError as error:
        raise LivefaceError("word lists need the wordfreq package: pip install -e '.[train]'"
                            ) from error
    words = tuple(w for w in top_n_list(language, TOP_WORDS) if _speakable(w, language))
    if not words:
        raise LivefaceError(f"wordfreq has no word list for language '{language}'.")
    return words


def word_sentence(rng: np.random.Generator, language: str) -> str:
    """One pseudo-sentence: 4-12 frequent words, capitalised, a comma in the longer ones,
    a full stop at the end (ideographic for Chinese, written without spaces)."""
    words = frequent_words(language)
    weights = _weights(len(words))
    count = int(rng.integers(WORDS_PER_SENTENCE[0], WORDS_PER_SENTENCE[1] + 1))
    chosen = [words[i] for i in rng.choice(len(words), size=count, p=weights)]
    if count >= COMMA_FROM:
        at = int(rng.integers(2, count - 2))
        chosen[at] += "，" if language in _CJK else ","
    if language in _CJK:
        return "".join(chosen) + "。"
    chosen[0] = chosen[0][:1].upper() + chosen[0][1:]
    return " ".join(chosen) + "."


@cache
def _weights(count: int) -> np.ndarray:
    weights = np.arange(1, count + 1, dtype=np.float64) ** -RANK_EXPONENT
    return weights / weights.sum()


def _speakable(word: str, language: str) -> bool:
    if not word.isalpha():
        return False
    if len(word) == 1 and language not in _CJK and word not in _SINGLE_LETTER_WORDS:
        return False
    script = _SCRIPTS.get(language, "LATIN")
    return all(unicodedata.name(char, "").startswith(script) for char in word)
