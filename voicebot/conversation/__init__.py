"""A session's conversation state (who is speaking, what is owed, which turn, what was said
and heard) and the feed that keeps it."""

from voicebot.conversation.feed import ConversationFeed
from voicebot.conversation.state import ConversationState, ToolCallInFlight
from voicebot.conversation.turn import Turn

__all__ = ["ConversationFeed", "ConversationState", "ToolCallInFlight", "Turn"]
