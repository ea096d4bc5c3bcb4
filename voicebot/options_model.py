"""``OptionsModel``: the base of the option objects a bot is declared with (``BargeIn``,
``UserIdle``, ``Prometheus``, ``FailoverPolicy``), so that a bad value is one ``ConfigError``
naming the option and the fix, as for providers, not pydantic's multi-line report."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from voicebot.errors import from_validation_error


class OptionsModel(BaseModel):
    """Frozen, unknown options refused, no infinite or NaN number; errors as ConfigError."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as e:
            raise from_validation_error(type(self).__name__, e, type(self).model_fields) from None
