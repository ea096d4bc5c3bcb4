"""Cascading models: ``llm=Cascade(fast=..., capable=..., route=...)`` (docs/cascade.md).

``provider`` holds the ``Cascade`` spec, ``routes`` the routing policies, ``switcher`` the
Pipecat processor that routes each turn.
"""

from voicebot.cascade.provider import Cascade
from voicebot.cascade.routes import (
    DECLINE_MARKERS,
    DEFAULT_ROUTE,
    CascadeTurn,
    any_of,
    fast_declines,
    keywords,
    longer_than,
    needs_tool,
)

__all__ = [
    "DECLINE_MARKERS",
    "DEFAULT_ROUTE",
    "Cascade",
    "CascadeTurn",
    "any_of",
    "fast_declines",
    "keywords",
    "longer_than",
    "needs_tool",
]
