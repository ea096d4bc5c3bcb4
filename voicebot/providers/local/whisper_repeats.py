"""Whisper's repeats: a word or phrase said once, transcribed two or three times.

On short or cut-off utterances the greedy decoder often runs on past the speech by saying
it again: "four" -> "4, 4,", "seventeen" -> "17 17 17", "Agent logged in." -> "Agent logged
in. Agent logged-in. Agent log". On 536 recorded utterances (``benchmarks/early_transcripts.py``
sets, transcribed at the VAD's stop) removing immediate repeats took 87 clips' transcripts
nearer their reference and none further: WER 12.2 -> 10.8 % on 348 clips (the rule was
written after seeing them), 70.3 -> 27.9 % on 188 one-word-heavy ones (digits, letters;
docs/offline.md, "Whisper's repeats"). Callers do say "no no" or "bye bye"; those lose a
word.
"""

from __future__ import annotations

import re


def _norm(word: str) -> str:
    return re.sub(r"[^\w']", "", word.lower())


def _words(text: str) -> tuple[list[str], list[str]]:
    """The text's words as written (hyphens split) and normalised (empty ones dropped)."""
    raw = [w for w in re.sub(r"(?<=\w)[-/](?=\w)", " ", text).split() if _norm(w)]
    return raw, [_norm(w) for w in raw]


def repeats_itself(text: str) -> bool:
    """True if a run of words comes twice in a row ("agent logged in agent logged in")."""
    _, words = _words(text)
    n = len(words)
    return any(
        words[i : i + size] == words[i + size : i + 2 * size]
        for size in range(1, n // 2 + 1)
        for i in range(n - 2 * size + 1)
    )


def without_repeats(text: str) -> str:
    """``text`` with each immediate repeat of a run of words removed (the first kept, as
    written); if there was one, a trailing start of yet another ("... Agent log") goes too."""
    raw, words = _words(text)
    removed = False
    while True:
        found = next(
            (
                (i, size)
                for size in range(1, len(words) // 2 + 1)
                for i in range(len(words) - 2 * size + 1)
                if words[i : i + size] == words[i + size : i + 2 * size]
            ),
            None,
        )
        if found is None:
            break
        i, size = found
        del raw[i + size : i + 2 * size], words[i + size : i + 2 * size]
        removed = True
    if not removed:
        return text
    for k in range(len(words) // 2, 0, -1):  # the last k words start the run before them
        for size in range(k, len(words) - k + 1):
            unit, tail = words[-k - size : -k], words[-k:]
            if unit[: k - 1] == tail[:-1] and unit[k - 1].startswith(tail[-1]):
                del raw[-k:], words[-k:]
                break
        else:
            continue
        break
    return " ".join(raw)
