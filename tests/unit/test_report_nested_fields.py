"""``voicebot report`` on a record whose ``tool_calls`` or ``retrieval`` content is wrong: the
one line names the field inside it (``tool_calls[1].name``), not only that the line is "not
a turn record" with a dataclass's complaint; a wrong type there used to load silently."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.unit.test_cli_bad_input import fails
from voicebot.cli import main
from voicebot.knowledge.record import RetrievalRecord
from voicebot.metrics.records import ToolCallRecord, TurnRecord

CALL = {"name": "lookup", "call_id": "c1", "arguments": {"q": "hours"}}
FOUND = {"query": "opening hours", "in_time": True, "waited_secs": 0.05}


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (
            {"tool_calls": [CALL, {**CALL, "name": 3}]},
            "'tool_calls[1].name' is a JSON number (3); expected a string",
        ),
        (
            {"tool_calls": [{"name": "lookup", "arguments": {}}]},
            "'tool_calls[0].call_id' is missing; expected a string",
        ),
        (
            {"tool_calls": [{**CALL, "finished": "yes"}]},
            "'tool_calls[0].finished' is a JSON string (\"yes\"); expected true or false",
        ),
        (
            {"tool_calls": [{**CALL, "nme": "x"}]},
            "'tool_calls[0].nme' is not a field of a tool call (its fields: name, call_id, "
            "arguments, result, finished)",
        ),
        (
            {"retrieval": {"query": "opening hours"}},
            "'retrieval.in_time' is missing; expected true or false",
        ),
        (
            {"retrieval": {**FOUND, "waited_secs": "0.05"}},
            "'retrieval.waited_secs' is a JSON string (\"0.05\"); expected a number of seconds",
        ),
        (
            {"retrieval": {**FOUND, "sources": ["a.md", 7]}},
            "'retrieval.sources' is a JSON array ([\"a.md\", 7]); expected an array of strings",
        ),
        (
            {"retrieval": {**FOUND, "error": 5}},
            "'retrieval.error' is a JSON number (5); expected a string or null",
        ),
        (
            {"retrieval": {**FOUND, "hits": 2}},
            "'retrieval.hits' is not a field of a retrieval (its fields: query, in_time, "
            "waited_secs, secs, sources, error)",
        ),
    ],
)
def test_report_names_the_field_inside_tool_calls_and_retrieval(
    fields: dict[str, object], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    turns = tmp_path / "turns.jsonl"
    good = {"index": 1, "user_text": "hi", "voice_to_voice_secs": 0.5}
    bad = {"index": 2, "user_text": "again", "voice_to_voice_secs": 0.6, **fields}
    turns.write_text(f"{json.dumps(good)}\n{json.dumps(bad)}\n")
    err = fails(["report", str(turns), "-o", str(tmp_path / "r")], capsys)
    assert err.startswith(f"voicebot: {turns}:2: {message}"), err
    assert not list(tmp_path.glob("r.*"))  # nothing drawn


def test_records_a_bot_writes_still_load(tmp_path: Path) -> None:
    turn = TurnRecord(
        index=1,
        user_text="When do you open?",
        bot_text="At nine.",
        voice_to_voice_secs=0.7,
        tool_calls=[
            ToolCallRecord("lookup", "c1", {"q": "hours"}, result={"open": 9}, finished=True),
            ToolCallRecord("log", "c2", "raw", finished=False),
        ],
        retrieval=RetrievalRecord(
            "opening hours", in_time=False, waited_secs=0.2, secs=None, sources=["faq.md"]
        ),
    )
    missed = TurnRecord(index=2, user_text="Thanks.", voice_to_voice_secs=0.5)
    missed.retrieval = RetrievalRecord("thanks", in_time=True, waited_secs=0.0, error="timeout")
    turns = tmp_path / "turns.jsonl"
    turns.write_text("".join(json.dumps(t.to_dict()) + "\n" for t in (turn, missed)))
    assert main(["report", str(turns), "-o", str(tmp_path / "r")]) == 0
    assert (tmp_path / "r.html").is_file()
