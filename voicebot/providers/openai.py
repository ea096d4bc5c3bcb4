"""OpenAI chat completions, or any OpenAI-compatible server, through ``OpenAILLMService``."""

from __future__ import annotations

from typing import ClassVar

from pydantic import SecretStr

from voicebot.providers.base import BuildContext, LLMProvider, settings_kwargs

#: Sent when a compatible local server needs no key; the OpenAI client refuses an empty one.
NO_KEY = "sk-no-key-required"


class OpenAILLM(LLMProvider):
    """OpenAI's streaming chat completions.

    With ``base_url`` (e.g. ``http://127.0.0.1:11434/v1`` for Ollama, a llama.cpp or vLLM
    server) it talks to that server instead; a key becomes optional and only an explicit
    ``api_key=`` is sent there (``OPENAI_API_KEY`` never leaves for another host).
    """

    name: ClassVar[str] = "openai"
    extra: ClassVar[str | None] = "openai"
    requires: ClassVar[tuple[str, ...]] = ("openai", "pipecat.services.openai.llm")
    api_key_env: ClassVar[str | None] = "OPENAI_API_KEY"

    model: str = "gpt-4o-mini"
    api_key: SecretStr | None = None
    base_url: str | None = None
    temperature: float | None = None
    max_tokens: int | None = None

    def check(self, ctx: BuildContext) -> None:
        self.check_installed()
        if self.base_url is None:
            self.resolve_api_key(ctx)

    def build(self, ctx: BuildContext):  # type: ignore[no-untyped-def]
        from pipecat.services.openai.llm import OpenAILLMService

        if self.base_url is None:
            key = self.resolve_api_key(ctx)
        else:
            # Only an explicit key goes to another server: OPENAI_API_KEY is OpenAI's.
            key = self.api_key.get_secret_value() if self.api_key else NO_KEY
        settings = OpenAILLMService.Settings(
            model=self.model,
            system_instruction=ctx.system_prompt,
            **settings_kwargs(temperature=self.temperature, max_completion_tokens=self.max_tokens),
        )
        return OpenAILLMService(api_key=key, base_url=self.base_url, settings=settings)
