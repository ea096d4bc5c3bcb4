"""``voicebot serve`` refuses more calls than the host's cores answer in real time when the
bot runs its models in-process (the offline LLM), and says how to fix it."""

from __future__ import annotations

import pytest

from voicebot import Bot, EnergyVAD, LlamaLLM, SilenceTurn
from voicebot.errors import ConfigError
from voicebot.server.options import ServeOptions, check_capacity, default_workers, host_cores
from voicebot.testing import FakeLLM, FakeSTT, FakeTTS


def bot(llm: object) -> Bot:
    return Bot(stt=FakeSTT(), llm=llm, tts=FakeTTS(), vad=EnergyVAD(), turn=SilenceTurn())


def test_the_offline_llm_gets_one_call_per_two_cores() -> None:
    offline = bot(LlamaLLM())
    check_capacity(offline, ServeOptions("b.py", workers=1), cores=2)
    check_capacity(offline, ServeOptions("b.py", workers=2), cores=4)
    with pytest.raises(ConfigError, match=r"at most 1 call.*--workers 1.*--overcommit"):
        check_capacity(offline, ServeOptions("b.py", workers=2), cores=2)
    with pytest.raises(ConfigError, match="at most 2 call"):
        check_capacity(offline, ServeOptions("b.py", workers=1, calls_per_worker=3), cores=5)
    # A one-core host still takes one call (slowly) rather than none.
    check_capacity(offline, ServeOptions("b.py", workers=1), cores=1)
    check_capacity(offline, ServeOptions("b.py", workers=8, overcommit=True), cores=2)


def test_stages_that_run_elsewhere_set_no_limit() -> None:
    check_capacity(bot(FakeLLM()), ServeOptions("b.py", workers=12), cores=2)
    remote = bot(LlamaLLM(base_url="http://127.0.0.1:8080/v1", model="m"))
    check_capacity(remote, ServeOptions("b.py", workers=12), cores=2)


def test_the_host_has_cores() -> None:
    assert host_cores() >= 1


def test_the_default_workers_follow_the_cores_a_call_needs() -> None:
    assert default_workers(bot(LlamaLLM()), cores=2) == 1
    assert default_workers(bot(LlamaLLM()), cores=8) == 4
    assert default_workers(bot(LlamaLLM()), cores=1) == 1
    assert default_workers(bot(FakeLLM()), cores=2) == 2
