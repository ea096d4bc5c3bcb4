"""A session's conversation state (who is speaking, what is owed) and the feed that keeps it."""

from voicebot.conversation.feed import ConversationFeed
from voicebot.conversation.state import ConversationState, ToolCallInFlight

__all__ = ["ConversationFeed", "ConversationState", "ToolCallInFlight"]
