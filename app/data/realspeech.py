"""The real-speech evaluation set: recorded English with transcripts from Debian.

Debian's `pocketsphinx-testdata` package (BSD-2-Clause, Carnegie Mellon University) holds
LibriVox readings of "Sense and Sensibility" and spoken card names, each with its
transcript. Install it with `apt-get install pocketsphinx-testdata`; CI does. Each clip is
force-aligned and animated by the teacher, which gives reference tracks to score models
on speech that no synthesiser made.
"""

import re
from dataclasses import dataclass
from pathlib import Path

from app.data.align import AlignedClip, align_file
from app.errors import LivefaceError

TESTDATA_DIR = Path("/usr/share/pocketsphinx/test/data")
LICENCE = "BSD-2-Clause (pocketsphinx test data, Carnegie Mellon University)"

# (transcript file, folder of its WAV files) inside the package
_SETS = (("librivox/transcription", "librivox"), ("cards/cards.transcription", "cards"))
_LINE = re.compile(r"^<s>\s*(?P<text>.*?)\s*</s>\s*\((?P<id>[^)]+)\)\s*$")


@dataclass(frozen=True)
class RealClip:
    id: str
    audio_path: Path
    text: str


def real_speech_clips(data_dir: Path = TESTDATA_DIR) -> list[RealClip]:
    """Every recording with a transcript, in a fixed order."""
    if not data_dir.is_dir():
        raise LivefaceError(
            f"the real-speech set is missing ({data_dir}); install it with "
            "'apt-get install pocketsphinx-testdata'."
        )
    clips = []
    for transcript, folder in _SETS:
        for line in (data_dir / transcript).read_text().splitlines():
            match = _LINE.match(line.strip())
            if match:
                path = data_dir / folder / f"{match['id']}.wav"
                clips.append(RealClip(f"{folder}-{match['id']}", path, match["text"]))
    return clips


def real_speech_set(data_dir: Path = TESTDATA_DIR) -> list[tuple[RealClip, AlignedClip]]:
    """Each clip aligned and animated (a few seconds of work for the whole set)."""
    return [(clip, align_file(clip.audio_path, clip.text)) for clip in real_speech_clips(data_dir)]
