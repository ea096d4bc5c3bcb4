"""A ``Bot`` as a text agent: the same spec, without the audio stages (docs/text_channels.md).

- ``TextChat`` (``chat.py``): one conversation from Python, replies streamed.
- ``voicebot chat BOT.py`` (``terminal.py``): a conversation in the terminal.
- ``voicebot serve --text BOT.py`` (``api.py``, ``sessions.py``): a JSON/WebSocket API a
  chat platform calls.
- ``TextSession`` (``session.py``): the pipeline, built from the voice session's pieces;
  ``transport.py``: its two text ends.
"""
