"""Provider names → provider classes, so a stage can be given as a short string.

Built-in providers are listed here by import path (importing a vendor module costs nothing
until it is used). Third-party packages add theirs through the ``voicebot.providers``
entry-point group, pointing at a ``Provider`` subclass; its ``kind`` and ``name`` class
attributes say which stage and name it takes::

    [project.entry-points."voicebot.providers"]
    acme-stt = "voicebot_acme:AcmeSTT"
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from importlib.metadata import entry_points

from voicebot.errors import ConfigError, UnknownProviderError
from voicebot.providers.base import KINDS, Kind, Provider, ServiceProvider

ENTRY_POINT_GROUP = "voicebot.providers"

_BUILTIN: dict[tuple[Kind, str], str] = {
    ("transport", "daily"): "voicebot.providers.daily:DailyRoom",
    ("transport", "wav"): "voicebot.transports.wav:WavFile",
    ("transport", "webrtc"): "voicebot.transports.webrtc:WebRTCPeer",
    ("transport", "twilio"): "voicebot.transports.phone.twilio:Twilio",
    ("transport", "telnyx"): "voicebot.transports.phone.telnyx:Telnyx",
    ("transport", "plivo"): "voicebot.transports.phone.plivo:Plivo",
    ("transport", "exotel"): "voicebot.transports.phone.exotel:Exotel",
    ("transport", "teler"): "voicebot.transports.phone.teler:Teler",
    ("transport", "pcm"): "voicebot.transports.phone.pcm:PhoneWebSocket",
    ("vad", "silero"): "voicebot.providers.silero:SileroVAD",
    ("vad", "energy"): "voicebot.providers.energy:EnergyVAD",
    ("turn", "smart-turn"): "voicebot.providers.turn:SmartTurn",
    ("turn", "silence"): "voicebot.providers.turn:SilenceTurn",
    ("turn", "punctuation"): "voicebot.providers.turn:PunctuationTurn",
    ("stt", "local"): "voicebot.providers.local.whisper:WhisperSTT",
    ("stt", "whisper"): "voicebot.providers.local.whisper:WhisperSTT",
    ("stt", "deepgram"): "voicebot.providers.deepgram:DeepgramSTT",
    ("stt", "fake"): "voicebot.testing.fake_stt:FakeSTT",
    ("llm", "local"): "voicebot.providers.local.llama:LlamaLLM",
    ("llm", "llama"): "voicebot.providers.local.llama:LlamaLLM",
    ("llm", "openai"): "voicebot.providers.openai:OpenAILLM",
    ("llm", "fake"): "voicebot.testing.fake_llm:FakeLLM",
    ("tts", "local"): "voicebot.providers.local.piper:PiperTTS",
    ("tts", "piper"): "voicebot.providers.local.piper:PiperTTS",
    ("tts", "cartesia"): "voicebot.providers.cartesia:CartesiaTTS",
    ("tts", "elevenlabs"): "voicebot.providers.elevenlabs:ElevenLabsTTS",
    ("tts", "fake"): "voicebot.testing.fake_tts:FakeTTS",
}

#: Speech-to-speech models (``Bot(realtime=...)``): one replaces the STT, LLM and TTS stages.
_REALTIME: dict[str, str] = {
    "openai": "voicebot.providers.openai_realtime:OpenAIRealtime",
}


@dataclass(frozen=True)
class Registration:
    kind: Kind
    name: str
    target: str  # "module:Class"
    source: str  # "voicebot" or the distribution that registered it

    def load(self) -> type[Provider]:
        module_name, _, attr = self.target.partition(":")
        try:
            cls = getattr(importlib.import_module(module_name), attr)
        except Exception as e:  # a broken plugin must not read as "unknown provider"
            raise ConfigError(
                f"provider {self.kind} {self.name!r} ({self.target}, from {self.source}) "
                f"failed to import: {e}"
            ) from e
        if not (isinstance(cls, type) and issubclass(cls, Provider)):
            raise ConfigError(f"{self.target} (from {self.source}) is not a voicebot Provider")
        return cls


def _warn(message: str) -> None:
    from loguru import logger  # imported here: ~60 ms that a spec-only import need not pay

    logger.warning(message)


def _plugin_registrations() -> list[Registration]:
    found = []
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        source = ep.dist.name if ep.dist is not None else "an entry point"
        try:
            cls = ep.load()
            if not (isinstance(cls, type) and issubclass(cls, Provider)):
                raise TypeError("not a voicebot Provider subclass")
            found.append(Registration(cls.kind, cls.name, ep.value, source))
        except Exception as e:
            _warn(f"ignoring provider entry point {ep.name!r} from {source}: {e}")
    return found


def registrations() -> list[Registration]:
    """Every known provider: built-ins first, then plugins (which may not shadow built-ins)."""
    regs = [Registration(k, n, t, "voicebot") for (k, n), t in _BUILTIN.items()]
    taken = {(r.kind, r.name) for r in regs}
    for reg in _plugin_registrations():
        if (reg.kind, reg.name) in taken:
            _warn(
                f"{reg.source} registers {reg.kind} provider {reg.name!r}, which is taken; ignored"
            )
            continue
        taken.add((reg.kind, reg.name))
        regs.append(reg)
    return regs


def known_names(kind: Kind) -> list[str]:
    return sorted(r.name for r in registrations() if r.kind == kind)


def lookup(kind: Kind, name: str) -> type[Provider]:
    target = _BUILTIN.get((kind, name))
    if target is not None:  # built-ins cannot be shadowed: no need to scan the plugins
        return Registration(kind, name, target, "voicebot").load()
    for reg in registrations():
        if reg.kind == kind and reg.name == name:
            return reg.load()
    raise UnknownProviderError(
        f"unknown {kind} provider {name!r}; known {kind} providers: {', '.join(known_names(kind))}"
    )


def resolve(kind: Kind, spec: str | Provider | object) -> Provider:
    """A provider object for a stage given as an object or as ``"name"`` / ``"name/model"``,
    or for STT/LLM/TTS any Pipecat service, its class or a factory of one
    (``voicebot.providers.pipecat_service``); anything else is a ``ConfigError``."""
    if kind not in KINDS:
        raise ValueError(f"unknown stage kind {kind!r}")
    if isinstance(spec, Provider):
        if is_realtime(spec):
            raise ConfigError(
                f"{type(spec).__name__} replaces the bot's stt, llm and tts: pass it as "
                f"Bot(realtime={type(spec).__name__}(...))"
            )
        if spec.kind != kind:
            raise ConfigError(
                f"{type(spec).__name__} is a {spec.kind} provider and cannot be the bot's {kind}"
            )
        return spec
    if not isinstance(spec, str):
        from voicebot.providers.pipecat_service import as_pipecat_provider

        wrapped = as_pipecat_provider(kind, spec)
        if wrapped is not None:  # a Pipecat service, its class, or a factory of one
            return wrapped
        if isinstance(spec, type) and issubclass(spec, Provider):
            raise ConfigError(
                f"the bot's {kind} is the class {spec.__name__}: pass {spec.__name__}()"
            )
        raise ConfigError(
            f"the bot's {kind} must be a provider object or a name such as "
            f"{known_names(kind)[0]!r}, not {type(spec).__name__}"
        )
    name, slash, model = spec.partition("/")
    cls = lookup(kind, name.strip())
    if slash and not model.strip():
        raise ConfigError(
            f"{spec!r} names no model after '/': give {name.strip()!r} alone, or a model"
        )
    if not model:
        return cls()
    if "model" not in cls.model_fields:
        raise ConfigError(f"{cls.__name__} has no model to choose, so {spec!r} is not valid")
    return cls(model=model)


def is_realtime(provider: Provider) -> bool:
    """Whether ``provider`` is a speech-to-speech model (``Bot(realtime=...)``)."""
    return f"{type(provider).__module__}:{type(provider).__name__}" in _REALTIME.values()


def resolve_realtime(spec: str | Provider | object) -> ServiceProvider:
    """A speech-to-speech provider given as an object or as ``"name"`` / ``"name/model"``
    (``"openai/gpt-realtime"``); anything else is a ``ConfigError``."""
    if isinstance(spec, Provider):
        if not (is_realtime(spec) and isinstance(spec, ServiceProvider)):
            raise ConfigError(
                f"Bot(realtime=...) takes a speech-to-speech model such as OpenAIRealtime(), "
                f"not the {spec.kind} provider {type(spec).__name__}"
            )
        return spec
    if not isinstance(spec, str):
        raise ConfigError(
            f"Bot(realtime=...) takes a provider such as OpenAIRealtime() or a name "
            f"({', '.join(sorted(_REALTIME))}), not {type(spec).__name__}"
        )
    name, _, model = spec.partition("/")
    target = _REALTIME.get(name.strip())
    if target is None:
        raise UnknownProviderError(
            f"unknown realtime provider {name!r}; known realtime providers: "
            f"{', '.join(sorted(_REALTIME))}"
        )
    cls = Registration("llm", name.strip(), target, "voicebot").load()
    provider = cls(model=model) if model else cls()
    assert isinstance(provider, ServiceProvider)
    return provider
