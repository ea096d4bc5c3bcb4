"""What the STT hint (``BargeIn.hint_stt``) does to Whisper's words, clip by clip (issue #14,
item 4): with and without the backchannel phrases as Whisper base's prompt,

- short backchannels said alone by the Piper voice with its noise off (the same audio every
  run): how many are heard as backchannels (``BargeIn.is_backchannel``);
- every Asterisk prompt of at most 0.9 s (Debian ``asterisk-core-sounds-en-wav``: digits,
  letters, words; a person's voice, and a few beeps and tones): which become backchannels
  with the hint that were not without it (a barge-in the hint would turn into a resume);
- silence and a hum: the words the hint makes Whisper find in no speech, and whether the
  service's no-speech rule drops them;
- the time each transcription takes, with and without.

No pipeline and no VAD: each clip has 0.1 s of silence in front (about the VAD's pre-roll)
and goes to ``WhisperTranscriber.transcribe`` alone.

    .venv/bin/python -m benchmarks.stt_hint_words

Writes benchmarks/results/stt_hint_words.json (every clip's words both ways).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import save, setup, table

RATE = 16000
SOUNDS = Path("/usr/share/asterisk/sounds/en_US_f_Allison")
BACKCHANNELS = ("Mm-hmm.", "Sure.", "Uh-huh.", "Yep.", "I see.", "Cool.", "Mhm.", "Yeah.",
                "Got it.", "True.", "Right.")  # fmt: skip


def piper_clip(voice: Any, text: str) -> np.ndarray:
    from piper import SynthesisConfig

    from voicebot.audio.wav import resample

    still = SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0)
    audio = b"".join(c.audio_int16_bytes for c in voice.synthesize(text, syn_config=still))
    x = np.frombuffer(audio, np.int16).astype(np.float32) / 32768
    return resample(x, voice.config.sample_rate, RATE).astype(np.float32)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--name", default="stt_hint_words")
    args = p.parse_args(argv)
    setup()
    from voicebot import BargeIn
    from voicebot.audio import read_wav
    from voicebot.providers.local.piper import PiperTTS
    from voicebot.providers.local.whisper import WhisperSTT
    from voicebot.session_control import DEFAULT_BACKCHANNELS

    policy = BargeIn()
    hint = policy.hint_stt
    #: The first hint tried (session 16): every default backchannel phrase.
    every = " ".join(f"{phrase.capitalize()}." for phrase in DEFAULT_BACKCHANNELS)
    variants = {"alone": None, "hint": hint, "every phrase": every}
    stt = WhisperSTT(model="base")
    whisper = stt.transcriber()
    lead = np.zeros(RATE // 10, np.float32)

    def both(x: np.ndarray) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, expect in variants.items():
            t0 = time.perf_counter()
            r = whisper.transcribe(np.concatenate([lead, x]), expect=expect)
            out[key] = {
                "text": r.text,
                "backchannel": policy.is_backchannel(r.text),
                "no_speech_prob": round(r.no_speech_prob, 3),
                "avg_logprob": round(r.avg_logprob, 3),
                # the service's rule (LocalWhisperSTTService.is_no_speech), its defaults
                "dropped_as_no_speech": r.no_speech_prob > stt.no_speech_threshold
                and (stt.log_prob_threshold is None or r.avg_logprob < stt.log_prob_threshold),
                "secs": time.perf_counter() - t0,
            }
        return out

    voice = PiperTTS().voice()
    piper = {t: both(piper_clip(voice, t)) for t in BACKCHANNELS}
    short: dict[str, Any] = {}
    for f in sorted(SOUNDS.glob("**/*.wav")):
        pcm = read_wav(f, RATE)
        if pcm.duration_secs <= 0.9:
            x = pcm.samples.astype(np.float32) / 32768
            short[str(f.relative_to(SOUNDS))] = both(x / max(1e-3, float(np.abs(x).max())) * 0.6)
    rng = np.random.default_rng(0)
    t = np.arange(RATE) / RATE
    quiet = {
        "silence": both(np.zeros(RATE, np.float32)),
        "line noise": both((rng.standard_normal(RATE) * 30 / 32768).astype(np.float32)),
        "hum 150 Hz": both((np.sin(2 * np.pi * 150 * t) * 0.05).astype(np.float32)),
    }
    flipped = {
        key: [k for k, v in short.items() if v[key]["backchannel"] > v["alone"]["backchannel"]]
        for key in variants
    }
    secs = {
        key: float(sum(v[key]["secs"] for v in short.values()) / max(1, len(short)))
        for key in variants
    }
    result = {
        "hints": variants,
        "piper_backchannels": piper,
        "short_prompts": short,
        "no_speech": quiet,
        "summary": {
            "piper_heard_as_backchannels": {
                k: sum(v[k]["backchannel"] for v in piper.values()) for k in variants
            },
            "piper_total": len(piper),
            "short_prompts": len(short),
            "short_prompts_backchannel": {
                k: sum(v[k]["backchannel"] for v in short.values()) for k in variants
            },
            "short_prompts_made_backchannels_by_the_hint": flipped,
            "mean_secs_per_short_prompt": secs,
        },
        "config": {
            "model": "Whisper base (int8)",
            "threads": stt.threads,
            "piper": "noise_scale 0, noise_w_scale 0",
            "lead_silence_secs": 0.1,
        },
    }
    s = result["summary"]
    rows = [
        [k, f"{s['piper_heard_as_backchannels'][k]}/{len(piper)}",
         f"{s['short_prompts_backchannel'][k]}/{len(short)}",
         f"{secs[k] * 1000:.0f}"]
        for k in variants
    ]  # fmt: skip
    head = ["", "Piper backchannels heard as such", "short prompts heard as backchannels",
            "ms per short prompt"]  # fmt: skip
    print(table(head, rows, "STT hint, clip by clip"))
    for key in ("hint", "every phrase"):
        print(f"made backchannels by {key}:", flipped[key])
    for name, v in quiet.items():
        print(
            f"{name}: alone {v['alone']['text']!r} (dropped {v['alone']['dropped_as_no_speech']}),"
            f" hint {v['hint']['text']!r} (dropped {v['hint']['dropped_as_no_speech']})"
        )
    path = save(args.name, result)
    print(f"→ {path.relative_to(path.parents[2])}")
    return result


if __name__ == "__main__":
    main()
