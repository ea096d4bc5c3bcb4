"""Controlling a running call: a mute during the greeting, a nudge for a silent caller, and
an application that speaks up on its own (docs/call_control.md). Fake vendors: runs
anywhere, no keys, no network.

    voicebot run examples/call_control.py --input examples/audio/two_turns.wav
"""

from voicebot import BargeIn, Bot, TurnRecord, UserIdle
from voicebot.session import current_session
from voicebot.testing import FakeLLM, FakeSTT, FakeTTS


async def after_each_turn(turn: TurnRecord) -> None:
    """After the first answer, the application (not the model) adds a line of its own. (The
    recorded caller asks again while it is said: the line is cut there, as any reply is.)
    ``generate_reply(instructions=...)``, ``update(...)`` and ``interrupt()`` work the same
    way (docs/call_control.md)."""
    if turn.index == 1:
        await current_session().say("By the way, the library closes early on Fridays.")


bot = Bot(
    stt=FakeSTT(
        transcripts=["Hi, what time does the library open tomorrow?", "Great, thank you."],
        latency_secs=0.15,
    ),
    llm=FakeLLM(
        replies=[
            "It opens at nine in the morning.",
            "You're welcome, goodbye!",
        ],
        ttft_secs=0.3,
    ),
    tts=FakeTTS(ttfb_secs=0.15),
    greeting="Hello, this is the library.",
    mute_caller=["greeting"],  # the caller's words during the greeting are not heard
    # The caller's first voiced sound over the bot pauses it ("speech": wait for the VAD); a
    # chunk is a first sound at Silero's score 0.5 (first_sound_confidence), or when it
    # jumps 15 dB over the chunk before (first_sound_rise_db: an "s" Silero scores low).
    # "mhm" or a cough lets it go on, words or more than 1.0 s of speech interrupt it; the
    # offline Whisper transcribes such speech expecting backchannels ("Mm-hmm. Yeah. ...";
    # hint_stt=None: no hint). These are the defaults; barge_in=None: speech interrupts
    # when the VAD calls it.
    barge_in=BargeIn(
        pause_at="first_sound",
        first_sound_confidence=0.5,
        first_sound_rise_db=15.0,
        min_interrupt_secs=1.0,
        transcript_wait_secs=0.8,
    ),
    user_idle=UserIdle(after_secs=6.0, nudges=["Are you still there?"], goodbye="Goodbye!"),
    on_turn=after_each_turn,
)
