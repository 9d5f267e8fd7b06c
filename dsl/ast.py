"""The typed syntax tree of a `.offer` program. Every node knows where it was written."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, time


@dataclass(frozen=True)
class Pos:
    file: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


# ---- expressions ------------------------------------------------------------------------


@dataclass(frozen=True)
class Literal:
    """A number (float), a string, a date or a boolean. Percents are numbers with percent=True
    and value already divided by 100 (10% -> 0.1)."""

    pos: Pos
    value: float | str | date | bool
    percent: bool = False
    text: str = ""  # as written, for messages


@dataclass(frozen=True)
class Name:
    pos: Pos
    name: str


@dataclass(frozen=True)
class Unary:
    pos: Pos
    op: str  # "not", "-"
    operand: Expr


@dataclass(frozen=True)
class Binary:
    pos: Pos
    op: str  # and, or, = != < <= > >=, + - * /
    left: Expr
    right: Expr


@dataclass(frozen=True)
class Member:
    pos: Pos
    operand: Expr
    values: tuple[Literal, ...]
    negated: bool = False


@dataclass(frozen=True)
class Missing:
    pos: Pos
    operand: Expr
    negated: bool = False  # `is present`


Expr = Literal | Name | Unary | Binary | Member | Missing


# ---- campaigns ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Schedule:
    pos: Pos
    every: str  # hourly, daily, weekly, monthly
    at: time | None = None
    weekdays: tuple[int, ...] = ()  # 0 = monday (weekly)
    day_of_month: int | None = None  # monthly


@dataclass(frozen=True)
class Param:
    pos: Pos
    name: str
    value: Literal
    unit: str | None = None


@dataclass(frozen=True)
class Variant:
    pos: Pos
    name: str
    when: Expr | None  # None: otherwise
    params: tuple[Param, ...]
    channels: tuple[tuple[Pos, str], ...]


@dataclass(frozen=True)
class Trigger:
    pos: Pos
    kind: str  # "category" or "ally"
    value: str


@dataclass(frozen=True)
class FollowUp:
    """`follow up with NEXT after EVENT within N days`, written in the earlier campaign."""

    pos: Pos
    campaign: str
    event: str
    within_days: int


@dataclass
class Campaign:
    pos: Pos
    name: str
    title: str = ""
    schedule: Schedule | None = None
    valid_from: date | None = None
    valid_to: date | None = None
    topic: str | None = None
    priority: int = 0
    holdout: float = 0.0  # share 0..1
    cap: tuple[int, int] | None = None  # (offers, per days)
    expires_days: int | None = None
    value: Expr | None = None
    trigger: Trigger | None = None
    eligible: Expr | None = None
    variants: list[Variant] = field(default_factory=list)
    follow_ups: list[FollowUp] = field(default_factory=list)
    clauses: dict[str, Pos] = field(default_factory=dict)  # clause keyword -> where written

    @property
    def file(self) -> str:
        return self.pos.file
