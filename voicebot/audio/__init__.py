"""Audio files and offline analysis: reading and writing WAVs, finding speech in them."""

from voicebot.audio.segments import Segment, speech_segments
from voicebot.audio.wav import AudioFileError, Pcm, read_wav, write_wav

__all__ = ["AudioFileError", "Pcm", "Segment", "read_wav", "speech_segments", "write_wav"]
