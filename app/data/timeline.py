"""Timed phones and words: what every speech engine and aligner produces.

Phones use one shared set, written in IPA (e.g. "p", "aɪ", "ʃ", "t͡ʃ" written as "tʃ"),
one symbol string per segment, with "sil" for silence and pauses. Each engine maps its own
symbols into this set (see `app.data.phones`). Times are seconds from the clip start.
"""

from dataclasses import dataclass, field, replace

SILENCE = "sil"


@dataclass(frozen=True)
class Phone:
    start_s: float
    end_s: float
    phone: str  # shared IPA set, or SILENCE
    stress: int = 0  # 0 none, 1 primary, 2 secondary (where the engine says)


@dataclass(frozen=True)
class Word:
    start_s: float
    end_s: float
    text: str


@dataclass(frozen=True)
class Timeline:
    phones: tuple[Phone, ...]
    words: tuple[Word, ...] = ()
    language: str = "en"  # BCP-47 style code: en, de, fr, es, ...
    duration_s: float = field(default=0.0)

    def phone_at(self, time_s: float) -> Phone | None:
        """The phone sounding at a time, if any."""
        for phone in self.phones:
            if phone.start_s <= time_s < phone.end_s:
                return phone
        return None


def played_faster(timeline: Timeline, factor: float) -> Timeline:
    """The timeline of its audio played `factor` times as fast (as
    `app.training.augment.change_speed` plays it): every time divided by `factor`."""
    phones = tuple(replace(p, start_s=p.start_s / factor, end_s=p.end_s / factor)
                   for p in timeline.phones)
    words = tuple(replace(w, start_s=w.start_s / factor, end_s=w.end_s / factor)
                  for w in timeline.words)
    return replace(timeline, phones=phones, words=words,
                   duration_s=timeline.duration_s / factor)
