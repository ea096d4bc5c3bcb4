"""Serving bots over the network: the browser playground (``voicebot serve``)."""
