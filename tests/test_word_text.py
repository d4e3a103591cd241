"""Pseudo-sentences of frequent words: speakable words of the language's script, sentences
shaped as the engines expect, fixed by the generator's seed."""

import numpy as np
import pytest

from app.data.speech.word_text import WORDS_PER_SENTENCE, frequent_words, word_sentence


@pytest.mark.parametrize("language, script_letter", [("en", "e"), ("de", "ü"), ("ru", "ж"),
                                                     ("pl", "ł"), ("zh", "的")])
def test_frequent_words_are_words_of_the_language_in_its_script(language, script_letter):
    words = frequent_words(language)
    assert len(words) > 4000 and len(set(words)) == len(words)
    assert all(w.isalpha() for w in words)  # no digits, no punctuation
    assert any(script_letter in w for w in words)
    if language == "ru":
        assert not any("a" <= ch <= "z" for w in words for ch in w)  # no Latin loans
    if language != "zh":
        assert all(len(w) > 1 or w in "aeiouyàáèéìíòóùú" for w in words)


def test_word_sentences_are_sentences_of_4_to_12_words_fixed_by_the_seed():
    rng = np.random.default_rng(7)
    made = [word_sentence(rng, "en") for _ in range(200)]
    assert made == [word_sentence(r, "en") for r in [np.random.default_rng(7)] for _ in range(200)]
    assert len(set(made)) == len(made)
    counts = [len(s.split()) for s in made]
    assert min(counts) == WORDS_PER_SENTENCE[0] and max(counts) == WORDS_PER_SENTENCE[1]
    assert all(s[0].isupper() and s.endswith(".") for s in made)
    assert all(s.count(",") == (len(s.split()) >= 7) for s in made)
    chinese = word_sentence(np.random.default_rng(1), "zh")
    assert " " not in chinese and chinese.endswith("。")
    words = frequent_words("en")
    heard = {w.strip(",.").lower() for s in made for w in s.split()}
    assert heard <= set(words) and len(heard) > 500  # many words, all from the list
    top = set(words[:50])
    assert sum(w in top for w in heard) < 50 < len(heard - top)  # content words come up
