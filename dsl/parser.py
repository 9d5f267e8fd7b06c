"""Parse `.offer` text into the typed tree of dsl.ast (Lark, LALR).

Every problem, from a stray character to an impossible date, becomes a DslError whose
diagnostics name file, line and column: no Lark exception or traceback reaches the author.
"""

from __future__ import annotations

from datetime import date, time
from functools import cache, reduce
from pathlib import Path

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, VisitError

from dsl.ast import (
    Binary,
    Campaign,
    FollowUp,
    Literal,
    Member,
    Missing,
    Name,
    Param,
    Pos,
    Schedule,
    Trigger,
    Unary,
    Variant,
)
from dsl.errors import Diagnostic, DslError

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
FRIENDLY = {
    "NAME": "a name",
    "NUMBER": "a number",
    "INT": "a whole number",
    "STRING": 'a "quoted string"',
    "DATE": "a date YYYY-MM-DD",
    "TIME": "a time HH:MM",
    "WEEKDAY": "a weekday",
    "COMPARE": "a comparison (>=, <=, =, !=, >, <)",
    "ADD": "+ or -",
    "MUL": "* or /",
    "UNIT": "a unit (months, years, times)",
    "_DAYS": "days",
    "$END": "the end of the file",
}


TOO_DEEP = "expressions nest too deeply (hundreds of levels)"


@cache
def _lark() -> Lark:
    grammar = (Path(__file__).parent / "offer.lark").read_text()
    return Lark(grammar, parser="lalr", propagate_positions=True, maybe_placeholders=False)


def _number(text: str) -> float:
    scale = {"k": 1e3, "m": 1e6}.get(text[-1].lower(), 1.0)
    digits = text[:-1] if scale != 1.0 else text
    return float(digits.replace(",", "")) * scale


class _Build(Transformer):
    """Lark tree -> dsl.ast, collecting problems instead of stopping at the first one."""

    def __init__(self, file: str):
        super().__init__()
        self.file = file
        self.problems: list[Diagnostic] = []

    def _pos(self, item) -> Pos:
        if isinstance(item, Token):
            return Pos(self.file, item.line or 1, item.column or 1)
        if hasattr(item, "line"):  # lark Meta
            return Pos(self.file, getattr(item, "line", 1), getattr(item, "column", 1))
        return item.pos

    def _problem(self, where, message: str, hint: str = "") -> None:
        self.problems.append(Diagnostic(self._pos(where), message, hint))

    # ---- literals ----
    def number(self, children):
        (token,) = children
        return Literal(self._pos(token), _number(token), text=str(token))

    def percent(self, children):
        token = children[0]
        return Literal(self._pos(token), _number(token) / 100, percent=True, text=f"{token}%")

    def string(self, children):
        (token,) = children
        return Literal(self._pos(token), token[1:-1], text=str(token))

    def date(self, children):
        (token,) = children
        return Literal(self._pos(token), self._date(token), text=str(token))

    def boolean(self, children):
        (token,) = children
        return Literal(self._pos(token), token == "true", text=str(token))

    def _date(self, token: Token) -> date:
        try:
            return date.fromisoformat(token)
        except ValueError:
            self._problem(token, f"{token} is not a calendar date", "write dates as YYYY-MM-DD")
            return date(1970, 1, 1)

    def _time(self, token: Token) -> time:
        hours, minutes = (int(p) for p in token.split(":"))
        if hours > 23 or minutes > 59:
            self._problem(
                token, f"{token} is not a time of day", "write times as HH:MM, 00:00-23:59"
            )
            return time(0, 0)
        return time(hours, minutes)

    # ---- expressions ----
    @v_args(meta=True)
    def name(self, meta, children):
        return Name(self._pos(children[0]), str(children[0]))

    @v_args(meta=True)
    def or_(self, meta, children):
        return reduce(lambda a, b: Binary(a.pos, "or", a, b), children)

    @v_args(meta=True)
    def and_(self, meta, children):
        return reduce(lambda a, b: Binary(a.pos, "and", a, b), children)

    @v_args(meta=True)
    def negate(self, meta, children):
        return Unary(self._pos(meta), "not", children[0])

    @v_args(meta=True)
    def minus(self, meta, children):
        return Unary(self._pos(meta), "-", children[0])

    def _chain(self, children):
        out = children[0]
        for op, right in zip(children[1::2], children[2::2], strict=True):
            out = Binary(self._pos(op), str(op), out, right)
        return out

    sum = _chain
    product = _chain

    def compare(self, children):
        left, op, right = children
        return Binary(self._pos(op), str(op), left, right)

    def member(self, children):
        return Member(children[0].pos, children[0], tuple(children[1:]))

    def not_member(self, children):
        values = tuple(children[1:])
        return Member(children[0].pos, children[0], values, negated=True)

    def missing(self, children):
        return Missing(children[0].pos, children[0])

    def present(self, children):
        return Missing(children[0].pos, children[0], negated=True)

    # ---- clauses: (keyword, pos, value) ----
    def daily(self, children):
        (at,) = children
        return "schedule", self._pos(at), Schedule(self._pos(at), "daily", self._time(at))

    @v_args(meta=True)
    def hourly(self, meta, children):
        return "schedule", self._pos(meta), Schedule(self._pos(meta), "hourly")

    def weekly(self, children):
        *days, at = children
        pos = self._pos(days[0])
        numbers = tuple(sorted({WEEKDAYS.index(str(d)) for d in days}))
        return "schedule", pos, Schedule(pos, "weekly", self._time(at), weekdays=numbers)

    def monthly(self, children):
        day, at = children
        if not 1 <= int(day) <= 28:
            self._problem(
                day, f"day {day} of the month", "pick a day from 1 to 28 (every month has it)"
            )
        pos = self._pos(day)
        return "schedule", pos, Schedule(pos, "monthly", self._time(at), day_of_month=int(day))

    def valid_between(self, children):
        start, end = children
        first, last = self._date(start), self._date(end)
        if last < first:
            self._problem(end, f"the campaign ends ({end}) before it starts ({start})")
        return "valid", self._pos(start), (first, last)

    def valid_from(self, children):
        (start,) = children
        return "valid", self._pos(start), (self._date(start), None)

    def topic(self, children):
        return "topic", self._pos(children[0]), str(children[0])

    def priority(self, children):
        (token,) = children
        if int(token) > 100:
            self._problem(token, f"priority {token} is out of range", "use 0 to 100")
        return "priority", self._pos(token), int(token)

    def holdout(self, children):
        (share,) = children
        if not 0 <= share.value <= 1:
            self._problem(share, f"holdout {share.text} is out of range", "use 0% to 100%")
        return "holdout", share.pos, share.value

    def cap(self, children):
        offers, days = children
        for token in (offers, days):
            if int(token) == 0:
                self._problem(token, "a cap of 0", "a cap counts at least 1 offer per 1 day")
        return "cap", self._pos(offers), (int(offers), int(days))

    def expires(self, children):
        (days,) = children
        if int(days) == 0:
            self._problem(days, "an offer that expires after 0 days", "give at least 1 day")
        return "expires", self._pos(days), int(days)

    @v_args(meta=True)
    def value(self, meta, children):
        return "value", children[0].pos, children[0]

    def trigger_category(self, children):
        pos = self._pos(children[0])
        return "trigger", pos, Trigger(pos, "category", children[0][1:-1])

    def trigger_ally(self, children):
        pos = self._pos(children[0])
        return "trigger", pos, Trigger(pos, "ally", children[0][1:-1])

    def eligible(self, children):
        return "eligible", children[0].pos, children[0]

    def condition(self, children):
        return children[0]

    def otherwise(self, children):
        return None

    def param(self, children):
        name, value, *unit = children
        return Param(self._pos(name), str(name), value, str(unit[0]) if unit else None)

    def offer(self, children):
        return tuple(children)

    def channels(self, children):
        return tuple((self._pos(c), str(c)) for c in children)

    def variant(self, children):
        name, when, *rest = children
        params = rest[0] if len(rest) == 2 else ()
        pos = self._pos(name)
        return "variant", pos, Variant(pos, str(name), when, params, rest[-1])

    def follow_up(self, children):
        target, event, days = children
        pos = self._pos(target)
        return "follow_up", pos, FollowUp(pos, str(target), str(event), int(days))

    # ---- campaign ----
    def campaign(self, children):
        name, *rest = children
        title = ""
        if rest and isinstance(rest[0], Token) and rest[0].type == "STRING":
            title = rest.pop(0)[1:-1]
        campaign = Campaign(self._pos(name), str(name), title)
        for keyword, pos, value in rest:
            if keyword == "variant":
                campaign.variants.append(value)
                continue
            if keyword == "follow_up":
                campaign.follow_ups.append(value)
                continue
            if keyword in campaign.clauses:
                first = campaign.clauses[keyword]
                self.problems.append(
                    Diagnostic(pos, f"{keyword} given twice", f"first at line {first.line}")
                )
                continue
            campaign.clauses[keyword] = pos
            self._set(campaign, keyword, value)
        return campaign

    @staticmethod
    def _set(campaign: Campaign, keyword: str, value) -> None:
        if keyword == "valid":
            campaign.valid_from, campaign.valid_to = value
        elif keyword == "expires":
            campaign.expires_days = value
        elif keyword == "eligible":
            campaign.eligible = value
        else:
            setattr(campaign, keyword, value)

    def start(self, children):
        return list(children)


def _expected(parser: Lark, names: set[str]) -> str:
    shown = set()
    for name in names:
        if name in FRIENDLY:
            shown.add(FRIENDLY[name])
            continue
        try:
            pattern = parser.get_terminal(name).pattern
        except KeyError:
            continue
        if pattern.type == "str":
            shown.add(f"'{pattern.value}'")
    return "expected " + (", ".join(sorted(shown)) if shown else "something else")


def _syntax_error(file: str, text: str, error: UnexpectedInput) -> Diagnostic:
    parser = _lark()
    line = getattr(error, "line", -1)
    column = getattr(error, "column", -1)
    if line in (None, -1):  # end of input
        lines = text.splitlines() or [""]
        line, column = len(lines), len(lines[-1]) + 1
    pos = Pos(file, line, column)
    if isinstance(error, UnexpectedCharacters):
        char = text[error.pos_in_stream] if error.pos_in_stream < len(text) else ""
        expected = _expected(parser, set(error.allowed or ()))
        return Diagnostic(pos, f"unexpected character {char!r}", expected)
    if isinstance(error, UnexpectedEOF):
        return Diagnostic(
            pos, "the file ends in the middle of a clause", _expected(parser, set(error.expected))
        )
    token = error.token  # UnexpectedToken
    what = "the end of the file" if token.type == "$END" else f"{str(token)!r}"
    return Diagnostic(pos, f"unexpected {what}", _expected(parser, set(error.expected)))


def parse(text: str, file: str = "<offer>") -> list[Campaign]:
    """The campaigns of one file; DslError on any problem."""
    try:
        tree = _lark().parse(text)
    except UnexpectedInput as e:
        raise DslError([_syntax_error(file, text, e)]) from None
    build = _Build(file)
    try:
        campaigns = build.transform(tree)
    except (VisitError, RecursionError) as e:
        cause = getattr(e, "orig_exc", e)
        if isinstance(cause, RecursionError):
            raise DslError([Diagnostic(Pos(file, 1, 1), TOO_DEEP)]) from None
        raise DslError([Diagnostic(Pos(file, 1, 1), f"cannot read the program: {cause}")]) from None
    if build.problems:
        raise DslError(build.problems)
    return campaigns


def parse_file(path: Path) -> list[Campaign]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise DslError([Diagnostic(Pos(str(path), 1, 1), f"cannot read the file: {e}")]) from None
    return parse(text, str(path))
