"""Fuzzing the offer language (hypothesis): whatever the text, parse + check either succeed or
raise DslError, whose every diagnostic has a file, a line and a column inside the text."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dsl.checker import check
from dsl.errors import DslError
from dsl.parser import parse
from tests.unit.test_offer_language import CAR_LOAN, VOCABULARY

SHIPPED = [p.read_text() for p in sorted(Path("conf/campaigns").glob("*.offer"))]
SEEDS = [CAR_LOAN, *SHIPPED]
TOKENS = [
    "campaign",
    "variant",
    "when",
    "otherwise",
    "offer",
    "channels",
    "eligible",
    "and",
    "or",
    "not",
    "in",
    "is",
    "missing",
    "(",
    ")",
    ",",
    '"',
    "%",
    "percent",
    ">=",
    "=",
    "-",
    "*",
    "50,000",
    "1.5m",
    "2026-02-30",
    "2026-01-01",
    "25:61",
    "07:00",
    "follow up with",
    "after",
    "within",
    "days",
    "schedule",
    "weekly on",
    "monday",
    "monthly on day",
    "hourly",
    "holdout",
    "priority",
    "cap",
    "per",
    "valid",
    "to",
    "from",
    "trigger geofence",
    "category",
    "ally",
    "credit_score",
    "segment",
    "\n",
    " ",
    "#",
    "true",
    "false",
    "value",
    "é",
    "\x00",
    "9" * 40,
]
FUZZ = settings(
    max_examples=1500,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def _run(text: str) -> None:
    try:
        check(parse(text, "f.offer"), VOCABULARY)
    except DslError as e:
        lines = text.count("\n") + 1
        for d in e.diagnostics:
            assert d.pos.file == "f.offer" and 1 <= d.pos.line <= lines + 1, d
            assert d.pos.column >= 1 and d.message, d


@st.composite
def mutated(draw) -> str:
    text = draw(st.sampled_from(SEEDS))
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(text)))
        action = draw(st.sampled_from(["insert", "delete", "swap", "duplicate"]))
        if action == "insert":
            text = text[:at] + draw(st.sampled_from(TOKENS)) + text[at:]
        elif action == "delete":
            text = text[:at] + text[at + draw(st.integers(1, 30)) :]
        elif action == "swap" and at + 1 < len(text):
            text = text[:at] + text[at + 1] + text[at] + text[at + 2 :]
        else:
            end = at + draw(st.integers(1, 60))
            text = text[:end] + text[at:end] + text[end:]
    return text


@FUZZ
@given(mutated())
def test_mutated_programs_give_only_positioned_language_errors(text):
    _run(text)


@FUZZ
@given(st.text(max_size=300))
def test_random_text_gives_only_positioned_language_errors(text):
    _run(text)


@FUZZ
@given(st.lists(st.sampled_from(TOKENS), max_size=40).map(" ".join))
def test_random_token_soup_gives_only_positioned_language_errors(text):
    _run(text)


def test_deep_nesting_is_a_language_error_not_a_crash():
    for deep in ("not " * 3000 + "a", "(" * 3000 + "a" + ")" * 3000, "- " * 3000 + "1 > 0"):
        try:
            check(parse(f"campaign x eligible when {deep}", "f.offer"), VOCABULARY)
        except DslError as e:
            assert "nest too deeply" in str(e) or "unknown metric a" in str(e)
