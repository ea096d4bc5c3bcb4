"""Whole-call cascade tests run on the conversation tests' virtual clock: the fakes' delays
are exact, whatever the machine's load (see tests/conversation/conftest.py)."""

from tests.conversation.conftest import pytest_asyncio_loop_factories

__all__ = ["pytest_asyncio_loop_factories"]
