"""Run a whole bot against a recorded caller and get back what a test wants to assert on.

``run_conversation(bot, "caller.wav")`` plays the file as the caller through the real
pipeline (whatever providers the bot has: fakes, local models, or cloud vendors), writes the
bot's voice to a WAV on the caller's timeline, and returns the transcript, the tool calls and
per-turn timings — both as the bot measured them and as read off the two audio files.

It runs in real time; a test whose subject is not timing can run it on a virtual clock
(``voicebot.testing.virtual_time.VirtualTimeLoop``), where the call's seconds are skipped.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from loguru import logger

from voicebot.audio.segments import Segment, speech_segments
from voicebot.audio.wav import Pcm, read_wav
from voicebot.bot import Bot
from voicebot.errors import ConfigError, OutputPathError
from voicebot.knowledge.record import RetrievalRecord
from voicebot.metrics.records import ToolCallRecord, TurnRecord
from voicebot.metrics.stats import percentile
from voicebot.transports.wav import LAG_WARN_SECS, MAX_WAIT_SECS, WavFile, WavFileTransport


@dataclass
class Conversation:
    """The outcome of one recorded-caller session."""

    turns: list[TurnRecord]
    input_path: Path
    output_path: Path
    caller_speech: list[Segment] = field(default_factory=list)
    bot_speech: list[Segment] = field(default_factory=list)
    #: The most the pipeline fell behind the caller, in seconds of the caller's timeline.
    lag_secs: float = 0.0
    #: Why the figures may not mean what they seem (pipeline lag, a VAD that never fired).
    warnings: list[str] = field(default_factory=list)
    #: The bot's voice as written to ``output_path`` (read back once the run ended): here
    #: even when that file was a temporary one, removed since.
    bot_audio: Pcm | None = None
    #: Whether ``output_path`` is still there: False for a run given no ``output_wav``
    #: (its temporary folder is removed when the run ends, unless ``keep_output=True``).
    output_kept: bool = True

    @property
    def user_turns(self) -> list[TurnRecord]:
        return [t for t in self.turns if t.user_text]

    @property
    def transcript(self) -> list[tuple[str, str]]:
        """(speaker, text) lines in order: ``("user", ...)`` and ``("bot", ...)``."""
        lines: list[tuple[str, str]] = []
        for t in self.turns:
            if t.user_text:
                lines.append(("user", t.user_text))
            if t.bot_text:
                lines.append(("bot", t.bot_text))
        return lines

    @property
    def tool_calls(self) -> list[ToolCallRecord]:
        return [c for t in self.turns for c in t.tool_calls]

    def voice_to_voice(self, *, caller: bool = True) -> list[float]:
        """Per-turn latencies: read off the audio files (``caller=True``) or as measured
        inside the bot."""
        values = [
            t.caller_voice_to_voice_secs if caller else t.voice_to_voice_secs
            for t in self.user_turns
        ]
        return [v for v in values if v is not None]

    def stats(self) -> dict[str, float | None]:
        caller, inside = self.voice_to_voice(), self.voice_to_voice(caller=False)
        return {
            "turns": len(self.user_turns),
            "caller_p50_secs": percentile(caller, 50),
            "caller_p95_secs": percentile(caller, 95),
            "bot_p50_secs": percentile(inside, 50),
            "bot_p95_secs": percentile(inside, 95),
        }

    def to_jsonl(self) -> str:
        return "\n".join(json.dumps(t.to_dict(), default=str) for t in self.turns)

    def report(self) -> str:
        """Human-readable transcript and timing table."""
        out = []
        for t in self.turns:
            if t.user_text:
                out.append(f"user: {t.user_text}")
            if (found := t.retrieval) is not None:
                out.append(f"  knowledge: {retrieval_line(found)}")
            for c in t.tool_calls:
                out.append(
                    f"  tool {c.name}({json.dumps(c.arguments, default=str)}) -> {c.result!r}"
                )
            if t.bot_text:
                out.append(f"bot:  {t.bot_text}{' [interrupted]' if t.interrupted else ''}")
        out.append("")
        out.append(f"{'turn':>4}  {'caller v2v':>10}  {'in-bot v2v':>10}  stages (s)")
        for i, t in enumerate(self.user_turns, 1):
            caller = _secs(t.caller_voice_to_voice_secs)
            inside = _secs(t.voice_to_voice_secs)
            stages = ", ".join(f"{k} {v:.3f}" for k, v in t.stages.items())
            out.append(f"{i:>4}  {caller:>10}  {inside:>10}  {stages}")
        s = self.stats()
        out.append(
            f"p50/p95 caller {_secs(s['caller_p50_secs'])}/{_secs(s['caller_p95_secs'])}, "
            f"in-bot {_secs(s['bot_p50_secs'])}/{_secs(s['bot_p95_secs'])}"
        )
        kept = "not kept (give output_wav to keep it)"
        out.append(f"bot audio: {self.output_path if self.output_kept else kept}")
        out.extend(f"WARNING: {w}" for w in self.warnings)
        return "\n".join(out)


def retrieval_line(found: RetrievalRecord) -> str:
    """One turn's RAG outcome in a few words."""
    if found.error:
        return f"search failed ({found.error}), answered without"
    if not found.in_time:
        return f"late (held {found.waited_secs * 1000:.0f} ms), answered without"
    took = f"{found.secs * 1000:.0f} ms" if found.secs is not None else "?"
    used = ", ".join(found.sources) if found.sources else "nothing relevant"
    return f"{took}, held {found.waited_secs * 1000:.0f} ms: {used}"


def _secs(v: float | None) -> str:
    return "-" if v is None else f"{v:.3f}s"


def caller_latencies(caller: list[Segment], bot: list[Segment]) -> list[float | None]:
    """For each caller utterance, end of speech → start of the bot's next audio, if the bot
    answered before the caller spoke again."""
    result: list[float | None] = []
    for i, seg in enumerate(caller):
        next_start = caller[i + 1].start if i + 1 < len(caller) else float("inf")
        reply = next((b.start for b in bot if seg.end <= b.start < next_start), None)
        result.append(None if reply is None else reply - seg.end)
    return result


def attach_caller_timings(
    turns: list[TurnRecord], caller: list[Segment], bot: list[Segment]
) -> None:
    """Give each user turn its caller-side latency, when utterances and turns pair up."""
    user_turns = [t for t in turns if t.user_text]
    if len(user_turns) != len(caller):
        logger.warning(
            f"found {len(caller)} utterances in the caller's audio but {len(user_turns)} user "
            "turns; caller-side timings are left out"
        )
        return
    for turn, latency in zip(user_turns, caller_latencies(caller, bot), strict=True):
        turn.caller_voice_to_voice_secs = latency


async def run_conversation(
    bot: Bot,
    input_wav: str | Path,
    output_wav: str | Path | None = None,
    *,
    speed: float = 1.0,
    linger_secs: float = 3.0,
    max_wait_secs: float = MAX_WAIT_SECS,
    env: dict[str, str] | None = None,
    speech_threshold: float = 0.02,
    keep_output: bool = False,
    turns_so_far: list[TurnRecord] | None = None,
) -> Conversation:
    """Play ``input_wav`` as the caller to ``bot`` and return what happened.

    The call ends once the input has played, the bot has no answer pending and it has been
    quiet for ``linger_secs``; a pending answer is waited for up to ``max_wait_secs`` after
    the input played (then the report says so).

    Without ``output_wav`` the bot's voice goes to a ``voicebot-*`` temporary folder that is
    removed when the run ends, however it ends (``Conversation.bot_audio`` holds the audio);
    ``keep_output=True`` keeps it (``Conversation.output_path``). ``turns_so_far``, if
    given, is filled with the turns recorded even when the run is cancelled or fails (what
    ``voicebot run`` writes to ``--turns`` when interrupted)."""
    input_path = Path(input_wav)
    folder = None
    if output_wav is not None:
        output_path = Path(output_wav)
    else:  # the bot's voice is only needed to time the run: a folder of its own
        folder = Path(tempfile.mkdtemp(prefix="voicebot-"))
        output_path = folder / "bot.wav"
    try:
        transport = WavFile(
            input=input_path,
            output=output_path,
            speed=speed,
            linger_secs=linger_secs,
            max_wait_secs=max_wait_secs,
        )
        conv = await _run(
            bot, transport, input_path, output_path, env, speech_threshold, turns_so_far
        )
    finally:
        if folder is not None and not keep_output:
            shutil.rmtree(folder, ignore_errors=True)
    conv.output_kept = folder is None or keep_output
    return conv


async def _run(
    bot: Bot,
    transport: WavFile,
    input_path: Path,
    output_path: Path,
    env: dict[str, str] | None,
    speech_threshold: float,
    turns_so_far: list[TurnRecord] | None,
) -> Conversation:
    speed = transport.speed
    bot.check(env, transport=transport)
    await bot.prepare(transport=transport)
    session = bot.session(transport=transport, env=env)
    try:
        await session.run()
    finally:  # cancelled (Ctrl-C, SIGTERM) or failed: the turns so far, for the caller
        if turns_so_far is not None:
            turns_so_far[:] = session.turns
    if isinstance(wav := session.transport, WavFileTransport):
        if wav.input_error is not None:
            raise ConfigError(f"WavFile input: {wav.input_error}")
        if wav.output_error is not None:
            raise OutputPathError(wav.output_error)
    # 5 ms windows: the files are read to within 5 ms of where speech starts and ends.
    caller = speech_segments(read_wav(input_path), threshold=speech_threshold, window_secs=0.005)
    bot_audio = read_wav(output_path)
    bot_segments = speech_segments(
        bot_audio, threshold=speech_threshold, window_secs=0.005, min_gap_secs=0.6
    )
    scale = 1.0 / speed
    caller = [Segment(s.start * scale, s.end * scale) for s in caller]
    bot_segments = [Segment(s.start * scale, s.end * scale) for s in bot_segments]
    turns = session.turns
    attach_caller_timings(turns, caller, bot_segments)
    conv = Conversation(turns, input_path, output_path, caller, bot_segments)
    conv.bot_audio = bot_audio
    if isinstance(wav := session.transport, WavFileTransport):
        conv.lag_secs = wav.lag_secs
        conv.warnings = run_warnings(wav, speed, heard_caller=bool(caller))
    for warning in conv.warnings:
        logger.warning(warning)
    return conv


def run_warnings(wav: WavFileTransport, speed: float, *, heard_caller: bool) -> list[str]:
    """What makes a finished run's figures untrustworthy, one sentence each."""
    warnings = []
    if wav.gave_up is not None:
        warnings.append(wav.gave_up)
    if wav.lag_secs > LAG_WARN_SECS:
        warnings.append(
            f"the pipeline fell up to {wav.lag_secs:.2f}s behind the caller (speed {speed:g}), "
            "so the bot heard the caller late and the timings are off by as much: run at a "
            "lower speed"
        )
    if heard_caller and not wav.vad_fired:
        warnings.append(
            "the VAD never heard the caller speak, though the input has speech: check the "
            "input is speech at a normal level, or try vad='energy' for synthetic audio"
        )
    return warnings
