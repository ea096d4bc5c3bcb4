"""A Twilio call from an external simulator: streamdouble (PyPI, Apache-2.0) plays real speech
into the served fake bot over the Twilio Media Streams protocol (connected, start with
customParameters, paced μ-law media, dtmf) and records what comes back.

Checked: the bot answers (μ-law audio that decodes to FakeTTS's tone), streamdouble finds no
protocol violation, a barge-in gets Twilio's ``clear``, the key press reaches the pipeline,
the caller's number from the TwiML ``<Parameter>`` reaches the session, and the caller's
hang-up ends it.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest
from streamdouble import api, g711
from streamdouble.audio import frame_ulaw
from streamdouble.scenario import Dtmf, Hangup, Say, Scenario, WaitFor
from streamdouble.session import SessionConfig

from tests.phone.conftest import DTMF_SEEN, TURN_1, TURN_2, Worker, dominant_hz, frames
from voicebot.transports.phone import phone_call


def _ulaw(span: tuple[float, float]) -> list[bytes]:
    import numpy as np

    return frame_ulaw(g711.encode(np.concatenate(frames(span))))


@pytest.mark.real_time
async def test_streamdouble_calls_the_served_bot_over_twilio(worker: Worker) -> None:
    call_id = f"test-twilio-{uuid.uuid4().hex[:8]}"
    scenario = Scenario(
        name="answer, key press, barge-in, hang up",
        steps=[
            Say(Path("turn1"), _ulaw(TURN_1)),
            WaitFor("audio", timeout_s=60),
            Dtmf("5"),
            Say(Path("turn2"), _ulaw(TURN_2)),  # over the reply: a barge-in
            WaitFor("clear", timeout_s=60),
            Hangup(),
        ],
    )
    config = SessionConfig(
        response_timeout_s=60,
        quiet_period_s=1.0,
        max_drain_s=15,
        max_call_s=120,
        custom_parameters={"from_number": "+15550002222", "to_number": "+15559990000"},
    )
    DTMF_SEEN.clear()
    report = await api.run_scenario(
        worker.ws(f"/phone/ws?call_id={call_id}"), scenario, config=config
    )
    assert report.violations == []
    assert report.spoke, "the bot never answered"
    assert report.result.failed_expectations == []
    reply = g711.decode(report.audio_received)
    assert abs(dominant_hz(reply[:2400]) - 220) < 15  # μ-law of the bot's tone
    kinds = [e.kind for e in report.result.events]
    assert "clear_received" in kinds and "wait_for_timeout" not in kinds
    assert DTMF_SEEN == ["5"]
    session = worker.session(call_id)
    assert session is not None, "not registered under the supervisor's call_id"
    call = phone_call(session)
    assert call is not None and call.carrier == "twilio"
    assert call.from_number == "+15550002222"
    assert call.stream_id == report.stream_sid
    worker.wait_for(lambda: call_id not in worker.calls(), "ended after the hang-up")
    hung_up = next(e.at for e in report.result.events if e.kind == "caller_hung_up")
    took = worker.ended_at(call_id) - (hung_up + time.time() - time.perf_counter())
    print(
        f"twilio: first audio {report.time_to_first_audio_ms:.0f} ms after the stream started "
        f"(turn 1 is {TURN_1[1]:.1f} s); session ended {took:.2f}s after the hang-up"
    )
