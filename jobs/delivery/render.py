"""Messages from offer templates (dsl/templates.py): the variant's parameters, formatted for
people, plus the standard variables. An e-mail template's first line `Subject: ...` is the
subject; the rest is the body."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from jinja2 import TemplateError

from dsl import templates
from jobs.errors import OfferlakeError


class RenderError(OfferlakeError):
    """A template failed to render (the checker should have caught it)."""


@dataclass(frozen=True)
class Message:
    subject: str
    body: str


def _human(param: dict) -> str:
    """{"value": 0.085, "unit": "percent"} -> "8.5%"; {"value": 60, "unit": "months"} ->
    "60 months"; {"value": 50} -> "50"."""
    value, unit = param.get("value"), param.get("unit")
    if unit == "percent":
        return f"{float(value) * 100:g}%"
    text = f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value)
    return f"{text} {unit}" if unit else text


class Renderer:
    def __init__(self, root: Path) -> None:
        self.env = templates.environment(root)

    def render(
        self, campaign: str, variant: str, channel: str, parameters: str, standard: dict
    ) -> Message:
        name = templates.name_of(campaign, variant, channel)
        values = {k: _human(v) for k, v in json.loads(parameters or "{}").items()}
        values |= {k: _when(v) for k, v in standard.items()}
        values |= {"campaign": campaign, "variant": variant, "channel": channel}
        try:
            text = self.env.get_template(f"{name}.j2").render(values)
        except TemplateError as e:  # the message names the template and variable, not a value
            raise RenderError(f"conf/templates/{name}.j2: {type(e).__name__}: {e}") from None
        first, _, rest = text.partition("\n")
        if first.startswith("Subject:"):
            return Message(first.removeprefix("Subject:").strip(), rest.strip())
        return Message("", text.strip())


def _when(value):
    return value.strftime("%d %B %Y") if isinstance(value, datetime) else value
