"""Short versions of two benchmarks whose figures docs/offline.md and docs/deploy.md quote:
the few-tools thresholds on the held-out cascade clinic, and the media hop's compression."""

from __future__ import annotations

import asyncio
import base64
import json


def test_few_tools_thresholds_call_fewer_tools_on_the_held_out_clinic(
    mpnet_router: None,
) -> None:
    from benchmarks.few_tools_routing import cascade_table

    rows = cascade_table()
    # docs/offline.md, "Few tools": 19 -> 13 without examples, 11 -> 9 with them.
    for kind in ("description", "examples"):
        before, now = rows[f"{kind}, before"], rows[f"{kind}, now"]
        assert now["threshold"] > before["threshold"]
        assert now["false_calls"] < before["false_calls"], kind
        assert now["missed"] == before["missed"] == 0, kind  # every tool request still routed
    assert rows["examples, now"]["false_calls"] < rows["description, now"]["false_calls"]


def test_the_relay_benchmark_sends_twilio_media_with_and_without_deflate() -> None:
    from benchmarks.relay_deflate import media_messages, one_run

    messages = media_messages(25)
    event = json.loads(messages[0])
    assert event["event"] == "media" and len(base64.b64decode(event["media"]["payload"])) == 160
    deflated = asyncio.run(one_run(messages, "deflate"))
    plain = asyncio.run(one_run(messages, None))
    assert deflated["negotiated"] == ["PerMessageDeflate"]
    assert plain["negotiated"] == []
