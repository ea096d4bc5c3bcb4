"""Control of a running call: what an application does to a session while it runs, and the
spec options that act on the caller (``Bot(mute_caller=...)``, ``Bot(user_idle=...)``,
``Bot(barge_in=...)``, whose strategy lives in ``voicebot.conversation.barge_in``).

Everything here goes through Pipecat's own frames and controls: a line to say is a
``TTSSpeakFrame`` (heard-text truth applies to it as to any reply), an interruption is the
worker's ``InterruptionWorkerFrame`` (what a barge-in does), a prompt change is an
``LLMUpdateSettingsFrame`` that reaches every member of a fallback group, tools change with
``LLMSetToolsFrame``, muting is Pipecat's user-mute strategies and the idle prompt its user
idle controller. ``Session`` inherits ``CallControls``; the session's state stays where it is
(``voicebot.conversation``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import Field, field_validator

from voicebot.errors import ConfigError
from voicebot.options_model import OptionsModel

if TYPE_CHECKING:
    from pipecat.turns.user_mute import BaseUserMuteStrategy

    from voicebot.tools.tool import Tool

#: ``Bot(mute_caller=...)`` names -> what Pipecat mutes the caller's audio and words for.
MUTE_WHEN: dict[str, str] = {
    "greeting": "MuteUntilFirstBotCompleteUserMuteStrategy",  # from the start to the greeting's end
    "first_speech": "FirstSpeechUserMuteStrategy",  # while the bot's first words play
    "tool_calls": "FunctionCallUserMuteStrategy",  # while a tool runs
    "bot_speaking": "AlwaysUserMuteStrategy",  # whenever the bot speaks: no barge-in
}


def check_mute(names: object) -> tuple[str, ...]:
    """``Bot(mute_caller=...)`` as a tuple of known names, or the ``ConfigError`` naming them."""
    if names is None:
        return ()
    items = (names,) if isinstance(names, str) else names
    if not isinstance(items, (list, tuple)):
        raise ConfigError("mute_caller takes a list of names, e.g. ['greeting', 'tool_calls']")
    unknown = [n for n in items if n not in MUTE_WHEN]
    if unknown:
        raise ConfigError(
            f"mute_caller: unknown {', '.join(map(repr, unknown))}; use any of "
            f"{', '.join(MUTE_WHEN)}"
        )
    return tuple(items)


def mute_strategies(names: Sequence[str]) -> list[BaseUserMuteStrategy]:
    """Pipecat's mute strategies for ``Bot(mute_caller=...)``, new for each session."""
    import pipecat.turns.user_mute as mute

    return [getattr(mute, MUTE_WHEN[n])() for n in names]


class UserIdle(OptionsModel):
    """``Bot(user_idle=UserIdle(...))``: when the caller says nothing for ``after_secs`` after
    the bot stops speaking, the bot says the next of ``nudges``; when they run out, it says
    ``goodbye`` and hangs up. Anything the caller says starts the count again."""

    after_secs: float = Field(default=8.0, gt=0)
    nudges: tuple[str, ...] = ("Are you still there?",)
    goodbye: str | None = "I'll let you go now. Goodbye."

    @field_validator("nudges", mode="before")
    @classmethod
    def _nudge_list(cls, value: object) -> object:
        return (value,) if isinstance(value, str) else value


#: Said while someone else talks to show one is listening, not to take the floor. Compared
#: after lower-casing and dropping punctuation and hyphens ("Mm-hmm." is "mmhmm"); a
#: transcript made of up to ``max_backchannel_words`` of them ("Okay, great.") is one.
#: The second block (session 19) holds the spellings Whisper uses for the same sounds and the
#: listener's words of agreement and thanks a caller says over a bot reading something out;
#: "no", "wait", "sorry", "what", "really" and "fine" are left out on purpose: they take the
#: floor, or often do. Punctuation is not read (Whisper's "?" on a lone word is a guess), so
#: "Okay?" is a backchannel; a question with any other word ("Okay, and Sunday?") is not.
DEFAULT_BACKCHANNELS: tuple[str, ...] = (
    "mhm", "mmhmm", "mm", "mmm", "hmm", "hm", "uhhuh", "uh", "um", "ah", "oh", "aha",
    "yeah", "yea", "yes", "yep", "yup", "ok", "okay", "right", "sure", "alright",
    "i see", "got it", "cool", "great", "nice", "wow", "true", "exactly",
    "thanks", "thank you", "uh huh", "oh okay", "okay okay", "yeah yeah", "right right",
    # session 19
    "mhmm", "mmhm", "mmkay", "mkay", "hmhm", "uhuh", "ooh", "ahh", "ya", "yah", "yeh", "aye",
    "okey", "okie", "kay", "gotcha", "got you", "understood", "i understand", "makes sense",
    "sounds good", "sounds great", "that's great", "that's good", "that's right",
    "that's true", "perfect", "lovely", "brilliant", "excellent", "good", "very good",
    "awesome", "super", "wonderful", "fantastic", "of course", "absolutely", "definitely",
    "certainly", "indeed", "fair enough", "go on", "go ahead", "carry on", "cheers", "ta",
    "interesting", "noted",
)  # fmt: skip


#: Told to the STT for speech over the bot (``BargeIn.hint_stt``): a few backchannels as
#: Whisper writes them. Short on purpose: with all of ``DEFAULT_BACKCHANNELS`` as its prompt
#: Whisper base heard short words as "Yes." ("Dash", "S") and "Oh." ("o'clock"); with these
#: eight, of 142 short recorded words only the letter "o", the digit "oh" and three tones
#: became backchannels (benchmarks/stt_hint_words.py). English: set your own for another
#: language (the offline Whisper skips this one when it transcribes another language).
DEFAULT_STT_HINT = "Mm-hmm. Yeah. Okay. Sure. Right. Uh-huh. I see. Got it."


class BargeIn(OptionsModel):
    """``Bot(barge_in=BargeIn(...))``: how the caller's speech over the bot is ruled on.

    ``min_interrupt_secs``: speech this long interrupts whatever its words (a backchannel is
    shorter; 1.0 s since session 19: the Piper voice's "Okay, okay." lasts 0.87 s, and
    shorter speech is ruled on its words, which with a segmented STT come after it ends; so
    an interruption under it whose words never come, a bad line or a failed STT, is ruled
    a noise and the bot speaks on).
    ``transcript_wait_secs``: after short speech stops, how long to wait for its words
    before resuming. ``backchannels``: words and phrases that never interrupt; a transcript
    made only of them (at most ``max_backchannel_words`` words) resumes the bot.
    ``pause_at``: ``"first_sound"`` pauses the bot at the caller's first voiced chunk (~20-50
    ms in) and speaks on if the VAD does not call it speech; ``"speech"`` waits for the VAD to
    call speech started (its ``start_secs`` and loudness window: ~0.25 s after the onset on
    recorded prompts, ~0.4 s to the bot's silence in bench_backchannel).
    ``first_sound_confidence``: the VAD model's score a chunk needs to be a first sound
    (None: the VAD's own ``confidence``, 0.7 for Silero; 0.5, Silero's own default, comes
    ~1 chunk sooner on a slow onset: docs/latency.md). ``first_sound_rise_db``: a chunk this
    many dB louder than the one before (at -45 dBFS or more, model score 0.1 or more) is a
    first sound too, so an unvoiced first consonant ("s", "t") pauses the bot a chunk
    sooner (barge-in stop p50 75 -> 50 ms on bench_backchannel's fresh5); None: the score
    alone. ``hint_stt``: speech that starts
    and ends while the bot speaks is transcribed expecting these words (the offline
    Whisper takes them as its prompt; other STTs ignore it), so a short "Sure." is not
    heard as "chair" and taken for a barge-in; None: no hint.
    ``Bot(barge_in=None)`` interrupts at the first speech, as Pipecat does.
    """

    pause_at: Literal["first_sound", "speech"] = "first_sound"
    min_interrupt_secs: float = Field(default=1.0, gt=0, le=5)
    transcript_wait_secs: float = Field(default=0.8, gt=0, le=5)
    backchannels: tuple[str, ...] = DEFAULT_BACKCHANNELS
    max_backchannel_words: int = Field(default=3, ge=1)
    first_sound_confidence: float | None = Field(default=0.5, gt=0, le=1)
    first_sound_rise_db: float | None = Field(default=15.0, gt=0, le=60)
    hint_stt: str | None = DEFAULT_STT_HINT

    @field_validator("hint_stt")
    @classmethod
    def _no_blank_hint(cls, value: str | None) -> str | None:
        return value.strip() or None if value is not None else None

    @field_validator("backchannels", mode="before")
    @classmethod
    def _one_phrase(cls, value: object) -> object:
        return (value,) if isinstance(value, str) else value

    def is_backchannel(self, text: str) -> bool:
        """Whether ``text`` is made only of backchannel phrases ("Okay, got it."), at most
        ``max_backchannel_words`` words; empty text is not (no words yet)."""
        words = _words(text)
        return bool(words) and len(words) in self._whole_phrase_ends(words)

    #: The most words a cut (or whole) repeat at the end of a final transcript may have.
    MAX_REPEAT_WORDS: ClassVar[int] = 2
    #: Words a sentence starts with more often than a repeat of a backchannel does ("I see.
    #: I ..." goes on): a repeat may not begin with them.
    OPENERS: ClassVar[frozenset[str]] = frozenset({"i", "that's", "it's", "we", "you"})

    def is_heard_backchannel(self, text: str) -> bool:
        """``is_backchannel`` for one final transcript, which may end in a repeat of a phrase
        it already holds, whole or cut off: Whisper repeats ("Got it. Got it.") and cuts
        repeats off ("Got it. Got" for "Got it."). A new word cut off ("Yeah, I") is not
        one, nor a repeat that opens a sentence ("I see. I")."""
        if self.is_backchannel(text):
            return True
        words = _words(text)
        phrases = [tuple(_words(p)) for p in self.backchannels]
        for cut in range(1, min(self.MAX_REPEAT_WORDS, len(words) - 1) + 1):
            whole, tail = words[:-cut], tuple(words[-cut:])
            if tail[0] in self.OPENERS:
                continue
            starts_a_phrase = any(len(p) >= cut and p[:cut] == tail for p in phrases)
            repeated = any(tuple(whole[i : i + cut]) == tail for i in range(len(whole)))
            if starts_a_phrase and repeated and self.is_backchannel(" ".join(whole)):
                return True
        return False

    def may_become_backchannel(self, text: str) -> bool:
        """Whether interim words may still end as a backchannel ("okay got" of "okay got
        it"): whole phrases, then the start of one."""
        words = _words(text)
        if words and words[-1] == "all":  # a streaming STT's "all" of "all right"
            words[-1] = "alright"
        phrases = [tuple(_words(p)) for p in self.backchannels]
        return any(
            any(p[: len(words) - i] == tuple(words[i:]) for p in phrases)
            for i in self._whole_phrase_ends(words)
        )

    def _whole_phrase_ends(self, words: list[str]) -> set[int]:
        """Word positions that whole backchannel phrases reach from the start."""
        if len(words) > self.max_backchannel_words:
            return set()
        phrases = {tuple(_words(p)) for p in self.backchannels}
        ends = {0}
        for i in range(len(words)):
            if i in ends:
                ends |= {i + len(p) for p in phrases if tuple(words[i : i + len(p)]) == p}
        return ends


def _words(text: str) -> list[str]:
    """Lower-case words without punctuation or hyphens; "all right" is one word ("alright"),
    so Whisper's "All right. Thank you." is two phrases of three words, not four."""
    words = re.sub(r"[^\w\s']", "", text.lower().replace("-", "")).split()
    out: list[str] = []
    for w in words:
        if w == "right" and out and out[-1] == "all":
            out[-1] = "alright"
        else:
            out.append("alright" if w == "allright" else w)
    return out


class IdleWatch:
    """One per session: nudges a silent caller, then hangs up (``UserIdle``)."""

    def __init__(self, session: Any, idle: UserIdle) -> None:
        self._session, self._idle, self._nudged = session, idle, 0

    def attach(self, user_aggregator: Any) -> None:
        user_aggregator.add_event_handler("on_user_turn_idle", self._on_idle)
        user_aggregator.add_event_handler("on_user_turn_started", self._on_caller_spoke)

    async def _on_caller_spoke(self, *_args: Any) -> None:
        self._nudged = 0

    async def _on_idle(self, *_args: Any) -> None:
        if self._nudged < len(self._idle.nudges):
            nudge = self._idle.nudges[self._nudged]
            self._nudged += 1
            from loguru import logger  # here: a spec-only import need not load it

            logger.info(f"voicebot session {self._session.id}: the caller is quiet; nudging")
            await self._session.say(nudge)
            return
        from loguru import logger

        logger.info(f"voicebot session {self._session.id}: the caller stayed quiet; hanging up")
        await self._session.hang_up(goodbye=self._idle.goodbye)


class CallControls:
    """The running call's controls (``Session`` inherits them)."""

    worker: Any
    llm: Any
    tool_caller: Any

    async def say(self, text: str, *, interrupt: bool = False) -> None:
        """Say ``text`` now (after what is being said, or instead of it with
        ``interrupt=True``). It joins the context as the caller heard it."""
        from pipecat.frames.frames import TTSSpeakFrame

        if not isinstance(text, str) or not text.strip():
            raise ConfigError("say() needs some text to say")
        if interrupt:
            await self.interrupt()
        await self.worker.queue_frames([TTSSpeakFrame(text)])

    async def interrupt(self) -> None:
        """Stop what the bot is saying or about to say, as a barge-in would: the context
        keeps what the caller heard of it."""
        from pipecat.frames.frames import InterruptionWorkerFrame

        await self.worker.queue_frame(InterruptionWorkerFrame())

    async def generate_reply(self, instructions: str | None = None) -> None:
        """Have the bot speak now, without waiting for the caller: the model answers the
        conversation so far, following ``instructions`` if given (kept in the context as a
        system note, so later turns know what was asked of the bot)."""
        from pipecat.frames.frames import LLMMessagesAppendFrame, LLMRunFrame

        frames: list[Any] = []
        if instructions is not None:
            if not instructions.strip():
                raise ConfigError("generate_reply(instructions=...) is empty")
            note: Any = {"role": "system", "content": instructions}
            frames.append(LLMMessagesAppendFrame(messages=[note], run_llm=False))
        await self.worker.queue_frames([*frames, LLMRunFrame()])

    async def update(
        self, *, system_prompt: str | None = None, tools: Sequence[Tool | Any] | None = None
    ) -> None:
        """Change the system prompt or the tools for the rest of the call (every member of a
        fallback LLM group too). ``tools`` replaces the list; the call must have started with
        at least one tool (the stage that runs them is built with the call)."""
        from pipecat.frames.frames import LLMSetToolsFrame, LLMUpdateSettingsFrame

        frames: list[Any] = []
        if system_prompt is not None:
            from pipecat.services.settings import LLMSettings

            if not system_prompt.strip():
                raise ConfigError("update(system_prompt=...) is empty")
            delta = LLMSettings(system_instruction=system_prompt)
            frames.append(LLMUpdateSettingsFrame(delta=delta, reach_inactive_services=True))
        if tools is not None:
            from pipecat.adapters.llm.schemas.tools_schema import ToolsSchema

            from voicebot.tools.tool import as_tool

            if self.tool_caller is None:
                raise ConfigError(
                    "update(tools=...): this call started without tools, so it has no stage "
                    "to run them; give the bot at least one tool (Bot(tools=[...]))"
                )
            new = [as_tool(t) for t in tools]
            gone = set(self.tool_caller.tools) - {t.name for t in new}
            for service in getattr(self.llm, "services", None) or [self.llm]:
                for name in gone:  # a removed tool the model still names is refused
                    service.unregister_function(name)
            self.tool_caller.tools = {t.name: t for t in new}
            self.tool_caller.register(self.llm)
            frames.append(
                LLMSetToolsFrame(tools=ToolsSchema([t.to_function_schema() for t in new]))
            )
        if frames:
            await self.worker.queue_frames(frames)
