"""Check parsed campaigns against the vocabulary and against each other.

Names (metrics, attributes, segments, categories, topics, templates, other campaigns), types
(number, string, date, boolean), ranges, duplicates, unreachable variants and follow-up cycles.
Every finding is a Diagnostic with file, line, column and, where one helps, a hint such as
"did you mean ...?". `check` reports every problem of every file at once.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, replace
from datetime import date

from dsl import templates
from dsl.ast import Binary, Campaign, Expr, Literal, Member, Missing, Name, Pos, Unary, Variant
from dsl.errors import Diagnostic
from dsl.parser import TOO_DEEP
from dsl.vocabulary import BOOLEAN, CHANNELS, DATE, EVENTS, LIST, NUMBER, STRING, Vocabulary

ORDERED = {NUMBER, DATE}  # types with < <= > >=


def _literal_type(lit: Literal) -> str:
    if isinstance(lit.value, bool):
        return BOOLEAN
    if isinstance(lit.value, float):
        return NUMBER
    if isinstance(lit.value, date):
        return DATE
    return STRING


def _suggest(name: str, known) -> str:
    close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.6)
    return f"did you mean {close[0]}?" if close else ""


def shape(expr: Expr | None):
    """The expression without positions: equal shapes are the same condition."""
    if expr is None:
        return None
    if isinstance(expr, Literal | Name):
        return replace(
            expr, pos=Pos("", 0, 0), **({"text": ""} if isinstance(expr, Literal) else {})
        )
    if isinstance(expr, Unary):
        return ("unary", expr.op, shape(expr.operand))
    if isinstance(expr, Binary):
        return ("binary", expr.op, shape(expr.left), shape(expr.right))
    if isinstance(expr, Member):
        return ("in", expr.negated, shape(expr.operand), tuple(shape(v) for v in expr.values))
    return ("missing", expr.negated, shape(expr.operand))


@dataclass
class _Types:
    vocabulary: Vocabulary
    problems: list[Diagnostic]

    def of(self, expr: Expr) -> str | None:
        """The expression's type; None once a problem inside it is reported."""
        if isinstance(expr, Literal):
            return _literal_type(expr)
        if isinstance(expr, Name):
            kind = self.vocabulary.columns.get(expr.name)
            if kind is None:
                self._fail(
                    expr.pos,
                    f"unknown metric {expr.name}",
                    _suggest(expr.name, self.vocabulary.columns),
                )
            elif kind == LIST:
                self._fail(expr.pos, f"{expr.name} is a list", "campaigns compare single values")
                return None
            return kind
        if isinstance(expr, Unary):
            want = BOOLEAN if expr.op == "not" else NUMBER
            return want if self.expect(expr.operand, want, f"'{expr.op}'") else None
        if isinstance(expr, Member):
            kind = self.of(expr.operand)
            for value in expr.values:
                if kind and _literal_type(value) != kind:
                    what = f"{value.text} is a {_literal_type(value)}"
                    self._fail(value.pos, f"{what}, {self._what(expr.operand)} is a {kind}")
            return BOOLEAN
        if isinstance(expr, Missing):
            self.of(expr.operand)
            return BOOLEAN
        return self._binary(expr)

    def _binary(self, expr: Binary) -> str | None:
        if expr.op in ("and", "or"):
            ok = self.expect(expr.left, BOOLEAN, f"'{expr.op}'")
            ok = self.expect(expr.right, BOOLEAN, f"'{expr.op}'") and ok
            return BOOLEAN if ok else None
        if expr.op in "+-*/":
            ok = self.expect(expr.left, NUMBER, f"'{expr.op}'")
            ok = self.expect(expr.right, NUMBER, f"'{expr.op}'") and ok
            return NUMBER if ok else None
        left, right = self.of(expr.left), self.of(expr.right)
        if left is None or right is None:
            return None
        if left != right:
            left_is = f"{self._what(expr.left)} ({left})"
            self._fail(
                expr.pos, f"cannot compare {left_is} with {self._what(expr.right)} ({right})"
            )
            return None
        if expr.op not in ("=", "!=") and left not in ORDERED:
            self._fail(
                expr.pos,
                f"'{expr.op}' compares numbers or dates, not {left}s",
                "use = or != (or `in (...)`)",
            )
            return None
        return BOOLEAN

    def expect(self, expr: Expr, want: str, where: str) -> bool:
        kind = self.of(expr)
        if kind is not None and kind != want:
            self._fail(expr.pos, f"{self._what(expr)} is a {kind}; {where} needs a {want}")
            return False
        return kind is not None

    @staticmethod
    def _what(expr: Expr) -> str:
        if isinstance(expr, Name):
            return expr.name
        if isinstance(expr, Literal):
            return expr.text
        return "the expression"

    def _fail(self, pos: Pos, message: str, hint: str = "") -> None:
        self.problems.append(Diagnostic(pos, message, hint))


def _variants(c: Campaign, vocabulary: Vocabulary, types: _Types, out: list[Diagnostic]) -> None:
    if not c.variants:
        out.append(
            Diagnostic(
                c.pos,
                f"campaign {c.name} has no variant",
                "add `variant main otherwise offer ... channels push`",
            )
        )
    seen: dict[str, Variant] = {}
    conditions: dict = {}
    catch_all: Variant | None = None
    for v in c.variants:
        if v.name in seen:
            out.append(
                Diagnostic(
                    v.pos, f"variant {v.name} given twice", f"first at line {seen[v.name].pos.line}"
                )
            )
        seen.setdefault(v.name, v)
        if catch_all is not None:
            out.append(
                Diagnostic(
                    v.pos,
                    f"variant {v.name} can never be chosen",
                    f"variant {catch_all.name} (otherwise) before it takes everyone left",
                )
            )
        elif v.when is not None and shape(v.when) in conditions:
            first = conditions[shape(v.when)]
            out.append(
                Diagnostic(
                    v.pos,
                    f"variant {v.name} can never be chosen",
                    f"variant {first.name} has the same condition and comes first",
                )
            )
        elif v.when is not None and shape(v.when) == shape(Literal(v.pos, False)):
            out.append(
                Diagnostic(v.pos, f"variant {v.name} can never be chosen", "its condition is false")
            )
        if v.when is None:
            catch_all = catch_all or v
        else:
            conditions.setdefault(shape(v.when), v)
            types.expect(v.when, BOOLEAN, f"variant {v.name}'s condition")
        params: set[str] = set()
        for p in v.params:
            if p.name in params:
                out.append(Diagnostic(p.pos, f"offer parameter {p.name} given twice"))
            params.add(p.name)
        channels: set[str] = set()
        for pos, channel in v.channels:
            if channel not in CHANNELS:
                out.append(
                    Diagnostic(
                        pos,
                        f"unknown channel {channel}",
                        _suggest(channel, CHANNELS) or f"one of {', '.join(CHANNELS)}",
                    )
                )
            elif channel in channels:
                out.append(Diagnostic(pos, f"channel {channel} given twice"))
            else:
                _template(c, v, pos, channel, params, vocabulary, out)
            channels.add(channel)


def _template(
    c: Campaign,
    v: Variant,
    pos: Pos,
    channel: str,
    params: set[str],
    vocabulary: Vocabulary,
    out: list[Diagnostic],
) -> None:
    """The variant's template for the channel exists, parses, and uses only the variant's
    parameters and the standard message variables."""
    name = templates.name_of(c.name, v.name, channel)
    used = vocabulary.templates.get(name)
    where = f"conf/templates/{name}.j2"
    if used is None:
        out.append(
            Diagnostic(pos, f"no template for variant {v.name} by {channel}", f"add {where}")
        )
    elif isinstance(used, str):
        out.append(Diagnostic(pos, f"template {where} does not parse: {used}"))
    else:
        known = params | templates.STANDARD
        for variable in sorted(used - known):
            out.append(
                Diagnostic(
                    pos,
                    f"template {where} uses {variable}, which variant {v.name} does not give",
                    _suggest(variable, known)
                    or f"give it in the offer line, or use one of {', '.join(sorted(known))}",
                )
            )


def _campaign(c: Campaign, vocabulary: Vocabulary, out: list[Diagnostic]) -> None:
    types = _Types(vocabulary, out)
    if c.schedule is None:
        out.append(
            Diagnostic(
                c.pos, f"campaign {c.name} has no schedule", "add e.g. `schedule daily at 07:00`"
            )
        )
    if c.topic is not None and c.topic not in vocabulary.topics:
        pos = c.clauses["topic"]
        out.append(
            Diagnostic(
                pos,
                f"unknown topic {c.topic}",
                _suggest(c.topic, vocabulary.topics)
                or "topics are listed in conf/contact_policy.yaml",
            )
        )
    if (
        c.trigger is not None
        and c.trigger.kind == "category"
        and c.trigger.value not in vocabulary.categories
    ):
        out.append(
            Diagnostic(
                c.trigger.pos,
                f"unknown geofence category {c.trigger.value!r}",
                _suggest(c.trigger.value, vocabulary.categories)
                or "categories are listed in conf/geofence.yaml",
            )
        )
    if c.eligible is not None:
        types.expect(c.eligible, BOOLEAN, "eligible when")
    if c.value is not None:
        types.expect(c.value, NUMBER, "value")
    _variants(c, vocabulary, types, out)
    for f in c.follow_ups:
        if f.event not in EVENTS:
            out.append(
                Diagnostic(
                    f.pos,
                    f"unknown response {f.event}",
                    _suggest(f.event, EVENTS) or f"one of {', '.join(EVENTS)}",
                )
            )
        if f.within_days == 0:
            out.append(Diagnostic(f.pos, "a follow-up within 0 days", "give at least 1 day"))


def _cycles(campaigns: dict[str, Campaign], out: list[Diagnostic]) -> None:
    """Follow-ups must form no cycle: a -> b -> a would offer the two for ever."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done

    def visit(name: str, path: list[str]) -> None:  # path ends with name
        state[name] = 1
        for f in campaigns[name].follow_ups:
            if state.get(f.campaign) == 1:
                loop = " -> ".join([*path[path.index(f.campaign) :], f.campaign])
                hint = "a campaign cannot follow itself, directly or not"
                out.append(Diagnostic(f.pos, f"follow-ups form a cycle: {loop}", hint))
            elif f.campaign in campaigns and f.campaign not in state:
                visit(f.campaign, [*path, f.campaign])
        state[name] = 2

    for name in sorted(campaigns):
        if name not in state:
            visit(name, [name])


def check(campaigns: list[Campaign], vocabulary: Vocabulary) -> list[Diagnostic]:
    """Every problem of these campaigns (from any number of files), in file order."""
    try:
        return _check(campaigns, vocabulary)
    except RecursionError:
        return [Diagnostic(c.pos, TOO_DEEP) for c in campaigns[:1]]


def _check(campaigns: list[Campaign], vocabulary: Vocabulary) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    by_name: dict[str, Campaign] = {}
    for c in campaigns:
        if c.name in by_name:
            first = by_name[c.name].pos
            out.append(Diagnostic(c.pos, f"campaign {c.name} defined twice", f"first at {first}"))
            continue
        by_name[c.name] = c
        _campaign(c, vocabulary, out)
    for c in by_name.values():
        for f in c.follow_ups:
            if f.campaign not in by_name:
                out.append(
                    Diagnostic(
                        f.pos, f"unknown campaign {f.campaign}", _suggest(f.campaign, by_name)
                    )
                )
    _cycles(by_name, out)
    return sorted(out, key=lambda d: (d.pos.file, d.pos.line, d.pos.column))
