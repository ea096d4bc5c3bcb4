"""What one turn was, as data: its words, tool calls and timings (``TurnRecord``).

Plain dataclasses, no Pipecat types, so reports, statistics and tests read turns back from
a JSONL file (``TurnRecord.from_dict``) as easily as from a live session. ``TurnLog``
(``turn_log.py``) fills them in.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from voicebot.knowledge.record import RetrievalRecord


@dataclass
class ToolCallRecord:
    """One tool call of a turn: what the model asked for and, once finished, its result."""

    name: str
    call_id: str
    arguments: Any
    result: Any = None
    finished: bool = False


@dataclass
class StageSpan:
    """One stage of one turn, placed on the turn's timeline.

    ``start_secs`` counts from the moment the user went quiet; ``owner`` is what spent the
    time (a processor such as ``ScriptedLLMService#0``, or ``config: VAD stop_secs``).
    A stage can appear twice in a turn (the LLM runs again after a tool call).
    """

    key: str
    start_secs: float
    secs: float
    owner: str = ""


@dataclass
class TurnRecord:
    """One exchange: the user's words (empty for a greeting) and the bot's answer.

    ``index`` is the turn's id: 0 for the greeting (what the bot says before the caller's
    first turn), N for the caller's Nth turn. ``bot_text`` is what the caller heard of the
    answer (what the model's context holds); ``said_text`` what was sent to be spoken.

    ``voice_to_voice_secs`` is measured inside the bot (from the moment the user went quiet
    to the first bot audio leaving the pipeline); ``stages`` names where that time went,
    summed per stage key, and ``spans`` places each stage on the turn's timeline.
    ``caller_voice_to_voice_secs`` is read off the caller's audio when there is a caller
    recording (the WAV transport), and so includes the transport.

    Times ending in ``_at`` are Unix timestamps (``time.time()``) on the bot's clock:
    ``user_started_at`` / ``user_stopped_at`` when the user started talking and went quiet,
    ``bot_started_at`` / ``bot_stopped_at`` when the bot's audio started and stopped,
    ``completed_at`` when the turn was handed to the ``on_turn`` hooks.
    """

    index: int
    user_text: str = ""
    bot_text: str = ""
    interrupted: bool = False
    tool_calls: list[ToolCallRecord] = field(default_factory=list)
    voice_to_voice_secs: float | None = None
    stages: dict[str, float] = field(default_factory=dict)
    caller_voice_to_voice_secs: float | None = None
    session_id: str = ""
    spans: list[StageSpan] = field(default_factory=list)
    user_started_at: float | None = None
    user_stopped_at: float | None = None
    bot_started_at: float | None = None
    bot_stopped_at: float | None = None
    completed_at: float | None = None
    # RAG (``Bot(retrieval=...)``): the search for this turn, its time and whether it made it.
    retrieval: RetrievalRecord | None = None
    #: The text sent to be spoken this turn, whole (``bot_text`` is what the caller heard:
    #: after a barge-in, the heard part and a cut mark).
    said_text: str = ""
    #: Each switch of a stage to another provider during this turn (a fallback group's
    #: ``FailoverEvent.to_dict()``: stage, from/to provider, reason, seconds, replayed), and
    #: a ``Cascade``'s choice of model (stage "cascade", with its ``path``: ``llm_path``).
    failovers: list[dict[str, Any]] = field(default_factory=list)
    #: With ``speculate=True`` on the turn: replies started before the turn was over
    #: (``started``: LLM requests), kept (``confirmed``) and dropped (``withdrawn``: requests
    #: the caller never heard). None when the turn does not speculate.
    speculation: dict[str, int] | None = None

    # ---- named stages ----------------------------------------------------------------------
    # Each is None when the turn's latency was not measured, and 0.0 when it was but the
    # stage took no measurable time (Pipecat rolls stretches under 5 ms into ``pipeline``).

    def stage_secs(self, key: str) -> float | None:
        """Seconds spent in stage ``key`` (see ``STAGES``) this turn."""
        if self.voice_to_voice_secs is None:
            return None
        return self.stages.get(key, 0.0)

    @property
    def endpointing_wait_secs(self) -> float | None:
        """Silence the VAD waited out before calling speech over (its ``stop_secs``)."""
        return self.stage_secs("endpointing_wait")

    @property
    def stt_finalization_secs(self) -> float | None:
        """VAD stop → final transcript: the STT vendor finalizing."""
        return self.stage_secs("transcription")

    @property
    def turn_decision_secs(self) -> float | None:
        """Final transcript → LLM asked: the turn strategy (timeout or smart-turn model)."""
        return self.stage_secs("turn_detection")

    @property
    def llm_ttft_secs(self) -> float | None:
        """LLM asked → first token, summed over the turn's LLM runs (a tool call adds one)."""
        return self.stage_secs("llm_inference")

    @property
    def first_sentence_secs(self) -> float | None:
        """First token → first whole sentence ready for TTS."""
        return self.stage_secs("sentence_aggregation")

    @property
    def tts_first_audio_secs(self) -> float | None:
        """Text to TTS → its first audio."""
        return self.stage_secs("speech_synthesis")

    @property
    def transport_secs(self) -> float | None:
        """First TTS audio → the output transport playing it."""
        return self.stage_secs("output_transport")

    @property
    def tools_secs(self) -> float | None:
        """The model writing tool calls plus the tools running."""
        if self.voice_to_voice_secs is None:
            return None
        return self.stages.get("llm_tool_call", 0.0) + self.stages.get("function_handler", 0.0)

    @property
    def pipeline_secs(self) -> float | None:
        """Time no stage accounts for: frame hops and queueing."""
        return self.stage_secs("pipeline")

    @property
    def llm_path(self) -> str | None:
        """Which model of a ``Cascade`` answered: "fast" or "capable" (the last path filed
        in ``failovers`` with stage "cascade"); None when the LLM is not a cascade."""
        paths = [f.get("path") for f in self.failovers if f.get("stage") == "cascade"]
        return str(paths[-1]) if paths else None

    # ---- serialization ---------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TurnRecord:
        """The inverse of ``to_dict`` (one line of a turns JSONL file); unknown keys are
        ignored, so files from newer versions still load."""
        known = {f for f in cls.__dataclass_fields__}
        values = {k: v for k, v in data.items() if k in known}
        values["tool_calls"] = [ToolCallRecord(**c) for c in values.get("tool_calls") or []]
        values["spans"] = [StageSpan(**s) for s in values.get("spans") or []]
        values["stages"] = dict(values.get("stages") or {})
        if values.get("retrieval"):
            values["retrieval"] = RetrievalRecord(**values["retrieval"])
        return cls(**values)
