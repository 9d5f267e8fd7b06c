"""Offer templates: conf/templates/<campaign>/<variant>.<channel>.j2, Jinja2 in its sandbox.

A template may use the variant's offer parameters and the STANDARD variables delivery gives
every message. The checker compares the variables each template uses with those (so an
unknown variable fails the campaign at check time, not at send time); delivery renders with
the same environment and StrictUndefined.
"""

from __future__ import annotations

from pathlib import Path

from jinja2 import FileSystemLoader, StrictUndefined, TemplateSyntaxError, meta
from jinja2.sandbox import ImmutableSandboxedEnvironment

STANDARD = frozenset({"first_name", "campaign", "variant", "channel", "send_at", "expires_at"})


def environment(root: Path) -> ImmutableSandboxedEnvironment:
    """Sandboxed (no attribute tricks, no mutation), strict (an undefined name is an error),
    plain text (messages are not HTML; the e-mail adapter sends them as text)."""
    return ImmutableSandboxedEnvironment(
        loader=FileSystemLoader(str(root)),
        undefined=StrictUndefined,
        autoescape=False,
        keep_trailing_newline=False,
    )


def name_of(campaign: str, variant: str, channel: str) -> str:
    return f"{campaign}/{variant}.{channel}"


def scan(root: Path) -> dict[str, frozenset[str] | str]:
    """ "campaign/variant.channel" -> the variables the template uses, or its syntax error."""
    env = environment(root)
    out: dict[str, frozenset[str] | str] = {}
    for path in sorted(root.glob("*/*.j2")):
        name = str(path.relative_to(root).with_suffix(""))
        try:
            out[name] = frozenset(meta.find_undeclared_variables(env.parse(path.read_text())))
        except TemplateSyntaxError as e:
            out[name] = f"{path}:{e.lineno}: {e.message}"
    return out
