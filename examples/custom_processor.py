"""Your own stage in the pipeline: a Pipecat FrameProcessor at a named insertion point.

This one spells out numbers before TTS ("9" -> "nine"), so any voice reads them the same
way. It runs with fake vendors, so it works anywhere:

    voicebot run examples/custom_processor.py --input examples/audio/two_turns.wav
"""

import re

from pipecat.frames.frames import Frame, LLMTextFrame
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor

from voicebot import Bot
from voicebot.testing import FakeLLM, FakeSTT, FakeTTS

DIGITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


class SpellDigits(FrameProcessor):
    """Rewrites single digits in the LLM's text to words before they reach the TTS."""

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, LLMTextFrame):
            frame.text = re.sub(r"\b\d\b", lambda m: DIGITS[int(m.group())], frame.text)
        await self.push_frame(frame, direction)


bot = Bot(
    stt=FakeSTT(transcripts=["When do you open tomorrow?", "Thanks!"]),
    llm=FakeLLM(replies=["We open at 9 and close at 6.", "Bye now."]),
    tts=FakeTTS(),
    vad="silero",
    turn="silence",
    # A class (or any function returning a processor) gives each session a fresh one.
    processors={"before_tts": [SpellDigits]},
)
