"""Fixtures the unit tests share."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from voicebot.errors import MissingExtraError
from voicebot.providers.local import mpnet, tool_embeddings


@pytest.fixture
def mpnet_router() -> Iterator[None]:
    """Tool routing on all-mpnet-base-v2, the bot's default embedder (skips without it)."""
    tool_embeddings._reset_shared_embedder()
    try:
        mpnet.part_paths()
    except MissingExtraError:
        pytest.skip(f"all-mpnet-base-v2 not installed ({mpnet.INSTALL})")
    yield
    tool_embeddings._reset_shared_embedder()
