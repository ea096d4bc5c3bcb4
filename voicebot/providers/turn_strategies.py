"""Pipecat turn-stop strategies of voicebot's own (the providers in ``turn.py`` pick them)."""

from __future__ import annotations

from pipecat.frames.frames import TranscriptionFrame
from pipecat.turns.user_stop import SpeechTimeoutUserTurnStopStrategy

SENTENCE_END = (".", "?", "!")


class PunctuationUserTurnStopStrategy(SpeechTimeoutUserTurnStopStrategy):
    """``SpeechTimeoutUserTurnStopStrategy`` that skips the wait when the user has stopped and
    the transcript so far ends a sentence."""

    async def _handle_transcription(self, frame: TranscriptionFrame) -> None:
        await super()._handle_transcription(frame)
        if self._vad_user_speaking or not self._vad_stopped:
            return
        if self._text.rstrip().rstrip("\"')").endswith(SENTENCE_END):
            await self._cancel_all_tasks()
            self._user_speech_wait_done = True
            self._stt_wait_done = True
            await self._maybe_trigger_user_turn_stopped()
