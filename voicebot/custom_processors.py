"""Custom processors at a bot's insertion points: given as classes or factories, made fresh for
each session.

A ``Bot`` is a spec that serves any number of sessions (``voicebot serve``, tests), and one
processor instance linked into two pipelines would send one caller's frames into another's
call; so an instance is refused when the bot is made, and each session calls the class or
factory for its own. Pipecat is imported only when a processor is checked or made, so a spec
without processors does not pay for it.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from voicebot.errors import ConfigError

if TYPE_CHECKING:
    from pipecat.processors.frame_processor import FrameProcessor

    #: A processor class, or a function that returns a new processor.
    ProcessorSpec = type[FrameProcessor] | Callable[[], FrameProcessor]
else:
    ProcessorSpec = Callable[[], Any]


def check_processor_spec(point: str, item: object) -> None:
    """Refuse a processor instance when the bot is made, not when a second caller arrives:
    a bot is a spec that serves any number of sessions (``voicebot serve``, tests), and one
    instance linked into two pipelines sends one caller's frames into another's call."""
    from pipecat.processors.frame_processor import FrameProcessor

    if isinstance(item, FrameProcessor):
        name = type(item).__name__
        raise ConfigError(
            f"processors[{point!r}] holds a {name} instance, which every session of the bot "
            f"would share: pass the class ({name}) or a factory (lambda: {name}(...))"
        )
    if not callable(item):
        raise ConfigError(
            f"processors[{point!r}] holds {item!r}, which is neither a FrameProcessor class "
            "nor a function that makes one"
        )


#: Every processor ``make_processor`` has handed out, so a factory that returns the same
#: object twice (``lambda: shared``) is caught too. Weak: a finished session's go away.
_made: weakref.WeakSet[FrameProcessor] = weakref.WeakSet()


def make_processor(spec: ProcessorSpec) -> FrameProcessor:
    """A fresh FrameProcessor for one session: the class or factory is called each time."""
    from pipecat.processors.frame_processor import FrameProcessor

    made = spec()
    if not isinstance(made, FrameProcessor):
        raise ConfigError(f"{spec!r} made {made!r}, which is not a FrameProcessor")
    if made in _made:
        raise ConfigError(
            f"{spec!r} returned a {type(made).__name__} it had returned before, so two "
            "sessions would share it: make the factory build a new one each call"
        )
    _made.add(made)
    return made
