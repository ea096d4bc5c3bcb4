"""Whisper's decoder as the bot runs it: a trimmed window and bounded, guarded decoding.

Pipecat's ``WhisperSTTService`` runs ``WhisperModel.transcribe``, which pads every utterance
to Whisper's 30-second window before the encoder: 0.5-0.6 s per call on a slow 2-core CPU,
however short the utterance. Here the encoder sees the utterance plus ``tail_secs`` of
silence instead, and the decoder is bounded by the audio's length (so it cannot loop
forever): 0.2-0.3 s per utterance at p50 for tiny.en and base on the same CPU under load,
less when it is idle. The service and the provider are in ``whisper.py``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from loguru import logger

from voicebot.errors import ConfigError
from voicebot.providers.local.whisper_repeats import looks_looped, without_repeats

SAMPLE_RATE = 16000

#: Greedy decoding with loop guards (see ``WhisperTranscriber.transcribe``); benchmarks
#: record these so a figure says which decoder produced it.
DECODE_OPTIONS: dict[str, Any] = {
    "beam_size": 1,
    "repetition_penalty": 1.1,
    "no_repeat_ngram_size": 3,
    "tokens_per_sec": 6,
    "extra_tokens": 6,
    "compute_type": "int8",
}


#: Whisper's input window: the encoder takes at most this much audio.
WINDOW_SECS = 30.0
#: The longest prompt of expected words (``WhisperTranscriber.prompt_tokens``), in tokens;
#: Whisper itself keeps at most 223 of the previous text.
PROMPT_MAX_TOKENS = 120
#: Prompts kept encoded: the backchannel hint and the bot's last few replies.
PROMPT_CACHE = 8


def generation_limit(tokens: int, prompt: int) -> int:
    """The ``max_length`` that lets CTranslate2's Whisper generate ``tokens`` after a
    ``prompt`` of that many tokens: it generates at most ``min(max_length // 2, max_length -
    prompt + 1)`` (measured: with a 4-token prompt, max_length 14 gave 7 tokens)."""
    return max(2 * tokens, tokens + prompt - 1)


def quietest_cut(audio: np.ndarray, limit: int) -> int:
    """Where to cut a too-long utterance: the start of its quietest 20 ms in the 5 s before
    ``limit`` samples, so a word is rarely cut in two."""
    frame = SAMPLE_RATE // 50
    start = max(SAMPLE_RATE, limit - 5 * SAMPLE_RATE)  # never a first part under 1 s
    n = (limit - start) // frame
    if n < 1:
        return max(limit, 1)
    frames = audio[start : start + n * frame].reshape(n, frame)
    return start + int(np.argmin((frames**2).mean(axis=1))) * frame


@dataclass(frozen=True)
class Transcript:
    text: str
    no_speech_prob: float
    #: Mean log-probability of the decoded tokens (as faster-whisper computes it): how sure
    #: the decoder was of the words, apart from whether there was speech at all.
    avg_logprob: float = 0.0
    #: The decoder said some words twice in a row and the repeat was removed from ``text``.
    repeated: bool = False
    #: The decoder ran to its length bound or looped (``looks_looped``), before any
    #: repeat was removed.
    runaway: bool = False


class WhisperTranscriber:
    """One loaded Whisper model, transcribing short utterances without 30-s padding."""

    def __init__(self, model_dir: Path, *, threads: int, language: str = "en") -> None:
        from faster_whisper import WhisperModel
        from faster_whisper.tokenizer import Tokenizer

        self.model = WhisperModel(
            str(model_dir),
            device="cpu",
            compute_type=DECODE_OPTIONS["compute_type"],
            cpu_threads=threads,
        )
        if language not in self.model.supported_languages:
            known = self.model.supported_languages
            what = "is English-only" if known == ["en"] else "does not know that language"
            raise ConfigError(f"the Whisper model in {model_dir} {what}: language={language!r}")
        self._tokenizer = Tokenizer(
            self.model.hf_tokenizer,
            self.model.model.is_multilingual,
            task="transcribe",
            language=language,
        )
        self._prompt = [*self._tokenizer.sot_sequence, self._tokenizer.no_timestamps]
        self._prompts: dict[str, list[int]] = {}
        self._prompts_lock = threading.Lock()

    def prompt_tokens(self, words: str | None) -> list[int]:
        """The decoder's prompt: Whisper's start tokens, after ``words`` as the text said
        before (Whisper's ``initial_prompt``), which makes the decoder expect such words."""
        if not words:
            return self._prompt
        with self._prompts_lock:  # one transcriber serves every call's threads
            if words not in self._prompts:
                said = self._tokenizer.encode(" " + words.strip())[-PROMPT_MAX_TOKENS:]
                if len(self._prompts) >= PROMPT_CACHE:  # a new reply each turn: the latest
                    del self._prompts[next(iter(self._prompts))]
                self._prompts[words] = [self._tokenizer.sot_prev, *said, *self._prompt]
            return self._prompts[words]

    def transcribe(
        self,
        audio: np.ndarray,
        *,
        tail_secs: float = 1.0,
        expect: str | None = None,
        context: str | None = None,
    ) -> Transcript:
        """``audio``: float32 mono at 16 kHz, one utterance. One longer than Whisper's 30 s
        window (a caller talking on without a pause the VAD hears) is cut at its quietest
        moment near the limit and transcribed in parts, instead of failing. ``expect``:
        words likely to be said (``prompt_tokens``). ``context``: the text said before (the
        bot's last words), the prompt unless ``expect`` is given; a transcript made with it
        that runs to the length bound or loops (``looks_looped``) is made again without it,
        as Whisper's own decoding drops the previous text when it falls back."""
        if context and not expect:
            heard = self.transcribe(audio, tail_secs=tail_secs, expect=context)
            if not heard.runaway:
                return heard
            logger.debug(f"Whisper ran away after the bot's words ({heard.text!r}): again without")
            return self.transcribe(audio, tail_secs=tail_secs)
        limit = int((WINDOW_SECS - tail_secs - 0.5) * SAMPLE_RATE)
        if len(audio) > limit:
            # Not in the last second: a cut in the end's quiet would leave Whisper a sliver
            # of silence to transcribe alone (and invent words for).
            cut = quietest_cut(audio, min(limit, len(audio) - SAMPLE_RATE))
            head = self.transcribe(audio[:cut], tail_secs=tail_secs, expect=expect)
            rest = self.transcribe(audio[cut:], tail_secs=tail_secs, expect=expect)
            return Transcript(
                f"{head.text} {rest.text}".strip(),
                min(head.no_speech_prob, rest.no_speech_prob),
                (head.avg_logprob * cut + rest.avg_logprob * (len(audio) - cut)) / len(audio),
                head.repeated or rest.repeated,
                head.runaway or rest.runaway,
            )
        padded = np.concatenate([audio, np.zeros(int(tail_secs * SAMPLE_RATE), np.float32)])
        features = self.model.feature_extractor(padded, padding=0)
        encoded = self.model.encode(features)
        # Speech runs at ~3-4 tokens/s: 6/s plus slack bounds any repetition loop, and a
        # light repetition penalty with no repeated trigrams stops the short-window loops
        # ("10 of clubs 10 of clubs"). Chosen with tiny.en on the 10 LibriVox and card clips
        # of benchmarks/offline_latency.py; benchmarks/offline_stt.py measures the WER.
        opts = DECODE_OPTIONS
        seconds = len(audio) / SAMPLE_RATE
        prompt = self.prompt_tokens(expect)
        # CTranslate2 generates at most min(max_length // 2, max_length - prompt + 1)
        # tokens: the loop guards above were chosen with the 4-token prompt, where that is
        # half of (prompt + the rate's tokens). The same number is allowed whatever the
        # prompt's length, so the hint changes the words, not how many may come.
        rate_tokens = int(seconds * opts["tokens_per_sec"]) + opts["extra_tokens"]
        bound = (len(self._prompt) + rate_tokens) // 2
        max_length = generation_limit(bound, len(prompt))
        result = self.model.model.generate(
            encoded,
            [prompt],
            beam_size=opts["beam_size"],
            max_length=max_length,
            repetition_penalty=opts["repetition_penalty"],
            no_repeat_ngram_size=opts["no_repeat_ngram_size"],
            return_no_speech_prob=True,
            return_scores=True,
        )[0]
        eot = self._tokenizer.eot
        tokens = result.sequences_ids[0]
        text = self._tokenizer.decode([t for t in tokens if t < eot])
        # The score is the length-normalised log-probability (length_penalty 1).
        avg_logprob = float(result.scores[0]) * len(tokens) / (len(tokens) + 1)
        text = text.strip()
        said = without_repeats(text)  # "4, 4," for "four": the decoder ran on (whisper_repeats)
        runaway = len(tokens) >= bound or looks_looped(text)
        return Transcript(said, float(result.no_speech_prob), avg_logprob, said != text, runaway)
