"""Whisper's repeats: a word or phrase said once, transcribed two or three times.

On short or cut-off utterances the greedy decoder often runs on past the speech by saying
it again: "four" -> "4, 4,", "seventeen" -> "17 17 17", "Agent logged in." -> "Agent logged
in. Agent logged-in. Agent log". On 536 recorded utterances (``benchmarks/early_transcripts.py``
sets, transcribed at the VAD's stop) cutting such a trailing repeat took 84 clips'
transcripts nearer their reference and none further: WER 12.2 -> 11.0 % on 348 clips (the
rule was written after seeing them), 70.3 -> 31.0 % on 188 one-word-heavy ones (digits,
letters; docs/offline.md, "Whisper's repeats"). Only a repeat the text ends with is cut
(the decoder running on); a caller's "bye bye" said alone becomes "bye".
"""

from __future__ import annotations

import itertools
import re


def _norm(word: str) -> str:
    return re.sub(r"[^\w']", "", word.lower())


def _words(text: str) -> list[tuple[int, str]]:
    """Each word's end in ``text`` and its normalised form (hyphens split, punctuation-only
    tokens dropped)."""
    out: list[tuple[int, str]] = []
    for m in re.finditer(r"[^\s/-]+", text):
        if norm := _norm(m.group()):
            out.append((m.end(), norm))
    return out


def _has_repeat(words: list[str]) -> bool:
    n = len(words)
    return any(
        words[i : i + size] == words[i + size : i + 2 * size]
        for size in range(1, n // 2 + 1)
        for i in range(n - 2 * size + 1)
    )


def repeats_itself(text: str) -> bool:
    """True if a run of words comes twice in a row anywhere ("agent logged in agent logged
    in"): used to distrust a transcript, never to change one."""
    return _has_repeat([w for _, w in _words(text)])


def _trailing_repeat(words: list[str]) -> tuple[int, int] | None:
    """``(start, size)`` if the words end with a unit said again (twice or more, perhaps
    cut short at the end), the decoder running on; the shortest such unit."""
    n = len(words)
    for size in range(1, n // 2 + 1):
        for cut in range(size - 1, -1, -1):  # the last, cut-short saying: ``cut`` words
            end = n - cut
            start = end - 2 * size
            if start < 0:
                continue
            unit = words[start : start + size]
            if unit != words[start + size : end]:
                continue
            tail = words[end:]
            if tail and (tail[:-1] != unit[: cut - 1] or not unit[cut - 1].startswith(tail[-1])):
                continue
            while start - size >= 0 and words[start - size : start] == unit:
                start -= size  # said three or more times: keep the first
            return start, size
    return None


def without_repeats(text: str) -> str:
    """``text`` cut after the first saying of a unit it ends by repeating ("4, 4," -> "4,",
    "Agent logged in. Agent logged-in. Agent log" -> "Agent logged in."). Only at the end,
    where the decoder runs on; a repeat mid-sentence ("I had had enough", "1 1 2 3") is the
    caller's. A repeated number is kept unless it is all the text ("4 4" for "four")."""
    found = _words(text)
    words = [w for _, w in found]
    hit = _trailing_repeat(words)
    if hit is None:
        return text
    start, size = hit
    unit = words[start : start + size]
    if start > 0 and all(w.isdigit() for w in unit):
        return text  # "my number ends 1 2 0 0": digits said twice are the caller's
    kept = text[: found[start + size - 1][0]]
    end = text.rstrip()[-1:]
    return kept + end if end in ".?!" and kept[-1:] not in ".?!,;:" else kept


def looks_looped(text: str) -> bool:
    """True if a run of words comes twice in a row, or any two words come twice ("Ten of
    clubs Ten of clobes Ten of cl": the loop guard's ``no_repeat_ngram_size`` makes the
    decoder vary a loop rather than stop it). A transcript made with the bot's words as
    its previous text that looks like this is made again without them
    (``WhisperTranscriber.transcribe``); a caller who did say words twice is heard the
    same way both times."""
    words = [w for _, w in _words(text)]
    pairs = list(itertools.pairwise(words))
    return _has_repeat(words) or len(set(pairs)) < len(pairs)
