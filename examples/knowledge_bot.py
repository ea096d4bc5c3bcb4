r"""A shop assistant that answers from your documents (RAG), fully offline.

    voicebot run examples/knowledge_bot.py --input examples/audio/bike_shop_questions.wav \
        --output out/knowledge.wav --turns out/knowledge_turns.jsonl
    voicebot serve examples/knowledge_bot.py     # ask it yourself from a browser

Each final transcript starts a search of ``examples/knowledge/`` (Markdown, embedded with
the offline all-MiniLM-L6-v2) while the turn is still ending; the best passages go into the
LLM's context just before the caller's words if they are found within 150 ms, and the reply
goes ahead without them if not. ``turns.jsonl`` shows each turn's search under
``"retrieval"``: its time, whether it made the budget, the passages used.

One passage per turn (``top_k=1``): each passage is prompt the small offline LLM reads at
~6 ms a token before it speaks (docs/memory.md).

Swap ``LocalRetriever`` for anything with ``async retrieve(query, k) -> list[Passage]`` (a
vector database, a search API) and the budget still holds. The caller audio was spoken by
the Piper voice the bot itself uses.
"""

from pathlib import Path

from voicebot import Bot, LocalRetriever, Retrieval

KNOWLEDGE = Path(__file__).resolve().parent / "knowledge"

bot = Bot(
    greeting="Spoke and Chain bike shop, how can I help?",
    system_prompt=(
        "You answer the phone at the Spoke and Chain bike shop. Answer in one short, plain "
        "sentence, using the knowledge base facts you are given."
    ),
    retrieval=Retrieval(LocalRetriever.from_folder(KNOWLEDGE), budget_ms=150, top_k=1),
)
