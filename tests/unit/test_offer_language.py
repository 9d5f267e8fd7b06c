"""The offer language: grammar, typed tree, checker errors with positions (dsl/)."""

from __future__ import annotations

from datetime import date, time

import pytest

from dsl.ast import Binary, Literal, Member, Missing, Name, Unary
from dsl.checker import check
from dsl.errors import DslError
from dsl.parser import parse
from dsl.program import load_program
from dsl.templates import scan as scan_templates
from dsl.vocabulary import Vocabulary

VOCABULARY = Vocabulary(
    columns={
        "spend_fuel_two_wheeler_90d": "number",
        "balance_min_6m": "number",
        "deposits_first_2w_min_6m": "number",
        "credit_score": "number",
        "segment": "string",
        "age_band": "string",
        "opt_in_location": "boolean",
        "client_created_date": "date",
        "preferred_days": "list",
    },
    descriptions={},
    categories=frozenset({"cafe", "fuel"}),
    topics=frozenset({"loans", "retail"}),
    templates=dict.fromkeys(
        {"car_loan/prime.push", "car_loan/prime.email", "car_loan/standard.sms", "vip/main.email"}
        | {"x/main.push", "x/a.push", "x/b.push", "x/c.push", "x/d.push"},
        frozenset(),
    ),
)

CAR_LOAN = """\
# a comment
campaign car_loan "Car loan for two-wheeler commuters"
  schedule daily at 07:00
  valid 2026-01-01 to 2026-12-31
  topic loans
  priority 80
  holdout 10%
  cap 1 per 14 days
  expires after 7 days
  value credit_score * 2 + 10

  eligible when
      deposits_first_2w_min_6m >= 50,000   # deposits
      and balance_min_6m >= 300k
      and spend_fuel_two_wheeler_90d > 0
      and segment in ("young professional", "family")

  variant prime when credit_score >= 750
      offer rate 8.5 percent, tenure 60 months, code "CAR60"
      channels push, email
  variant standard otherwise
      offer rate 10.5%
      channels sms

  follow up with vip after accepted within 30 days

campaign vip
  schedule monthly on day 1 at 10:00
  variant main otherwise
      channels email
"""


def errors(text: str, vocabulary: Vocabulary = VOCABULARY) -> list[str]:
    """Every diagnostic of the program, as `file:line:col: error: ...` lines."""
    try:
        campaigns = parse(text, "t.offer")
    except DslError as e:
        return [str(d) for d in e.diagnostics]
    return [str(d) for d in check(campaigns, vocabulary)]


def one(clauses: str, variants: str = "variant main otherwise channels push") -> str:
    return f"campaign x\n  schedule hourly\n{clauses}\n{variants}\n"


def test_every_clause_of_a_campaign_reaches_the_tree():
    car_loan, vip = parse(CAR_LOAN, "t.offer")
    assert (car_loan.name, car_loan.title) == ("car_loan", "Car loan for two-wheeler commuters")
    assert (car_loan.schedule.every, car_loan.schedule.at) == ("daily", time(7, 0))
    assert (car_loan.valid_from, car_loan.valid_to) == (date(2026, 1, 1), date(2026, 12, 31))
    assert (car_loan.topic, car_loan.priority, car_loan.holdout) == ("loans", 80, 0.1)
    assert (car_loan.cap, car_loan.expires_days) == ((1, 14), 7)
    assert car_loan.value.op == "+" and car_loan.value.left.op == "*"
    prime, standard = car_loan.variants
    assert prime.name == "prime" and prime.when.op == ">="
    assert [(p.name, p.value.value, p.unit) for p in prime.params] == [
        ("rate", 0.085, None),
        ("tenure", 60.0, "months"),
        ("code", "CAR60", None),
    ]
    assert [c for _, c in prime.channels] == ["push", "email"]
    assert standard.when is None and standard.params[0].value.value == 0.105
    (follow,) = car_loan.follow_ups
    assert (follow.campaign, follow.event, follow.within_days) == ("vip", "accepted", 30)
    assert vip.schedule.day_of_month == 1 and vip.schedule.at == time(10, 0)
    assert check([car_loan, vip], VOCABULARY) == []


def test_positions_point_at_what_was_written():
    car_loan, _ = parse(CAR_LOAN, "t.offer")
    assert (car_loan.pos.line, car_loan.pos.column) == (2, 10)
    deposits = car_loan.eligible.left.left.left.left
    assert isinstance(deposits, Name) and (deposits.pos.line, deposits.pos.column) == (13, 7)
    assert str(car_loan.variants[1].pos) == "t.offer:21:11"


def test_other_schedules_triggers_and_open_ended_validity():
    (c,) = parse(
        "campaign c schedule weekly on friday, monday at 09:30 valid from 2026-03-01 "
        'trigger geofence category "cafe" variant v otherwise channels push'
    )
    assert (c.schedule.every, c.schedule.weekdays) == ("weekly", (0, 4))
    assert (c.valid_from, c.valid_to) == (date(2026, 3, 1), None)
    assert (c.trigger.kind, c.trigger.value) == ("category", "cafe")
    (c,) = parse(
        'campaign c schedule hourly trigger geofence ally "osm-n1" '
        "variant v otherwise channels push"
    )
    assert (c.schedule.every, c.trigger.kind, c.trigger.value) == ("hourly", "ally", "osm-n1")


@pytest.mark.parametrize(
    "written, value",
    [
        ("50000", 50000),
        ("50,000", 50000),
        ("50k", 50000),
        ("1,250,000", 1250000),
        ("1.5m", 1500000),
        ("0.25", 0.25),
        ("12.5%", 0.125),
        ("12.5 percent", 0.125),
    ],
)
def test_numbers_read_as_people_write_them(written, value):
    (c,) = parse(one(f"eligible when credit_score >= {written}"))
    assert c.eligible.right.value == pytest.approx(value)


@pytest.mark.parametrize(
    "clause, message",
    [
        ("eligible when credit_score >= 50,00", "1:44: error: unexpected ','"),  # 2-digit group
        ("valid 2026-02-30 to 2026-03-01", "is not a calendar date"),
        ("valid 2026-2-01 to 2026-03-01", "unexpected"),
        ("schedule daily at 7:00", "unexpected"),
        ("holdout 101%", "holdout 101% is out of range"),
        ("holdout 10", "expected"),
        ("priority 120", "priority 120 is out of range"),
        ("valid 2026-05-01 to 2026-04-01", "ends (2026-04-01) before it starts"),
        ("cap 0 per 7 days", "a cap of 0"),
        ("priority 1 priority 2", "priority given twice; first at line"),
    ],
)
def test_strict_values_and_their_messages(clause, message):
    text = f"campaign x {clause}\n  variant main otherwise channels push"
    (found,) = [e for e in errors(text) if "has no schedule" not in e]
    assert found.startswith("t.offer:") and message in found, found


def test_precedence_of_not_and_or_and_arithmetic():
    (c,) = parse(
        one("eligible when opt_in_location or credit_score > 1 and not balance_min_6m - 2 * 3 < 0")
    )
    assert isinstance(c.eligible, Binary) and c.eligible.op == "or"
    right = c.eligible.right
    assert right.op == "and" and isinstance(right.right, Unary) and right.right.op == "not"
    arithmetic = right.right.operand.left
    assert arithmetic.op == "-" and arithmetic.right.op == "*"


def test_membership_and_missing_values():
    (c,) = parse(
        one('eligible when age_band not in ("10-20", "20-30") and credit_score is present')
    )
    member, present = c.eligible.left, c.eligible.right
    assert isinstance(member, Member) and member.negated
    assert [v.value for v in member.values] == ["10-20", "20-30"]
    assert isinstance(present, Missing) and present.negated
    assert all(isinstance(v, Literal) for v in member.values)


@pytest.mark.parametrize(
    "text, expected",
    [
        (
            "campaign x\n  eligible when credit_score >=\n",
            "t.offer:2:30: error: unexpected the end",
        ),
        (
            "campaign x\n  schedule daily at 07:00 $\n",
            "t.offer:2:27: error: unexpected character '$'",
        ),
        ("campaign 5x", "t.offer:1:10: error: unexpected character '5'"),
        (
            'campaign x\n  trigger geofence category "cafe\n',
            "t.offer:2:29: error: unexpected character '\"'",
        ),
        ("campaign x\n  offer rate 1", "t.offer:2:3: error: unexpected 'offer'"),
    ],
)
def test_syntax_errors_name_file_line_and_column(text, expected):
    (found,) = errors(text)
    assert found.startswith(expected), found


def test_unknown_names_get_a_suggestion_at_their_position():
    text = one("eligible when spend_fuel_90d > 0 and credit_scor > 1")
    assert errors(text) == [
        "t.offer:3:15: error: unknown metric spend_fuel_90d; "
        "did you mean spend_fuel_two_wheeler_90d?",
        "t.offer:3:38: error: unknown metric credit_scor; did you mean credit_score?",
    ]


@pytest.mark.parametrize(
    "condition, message",
    [
        ('segment > "a"', "'>' compares numbers or dates, not strings"),
        ("segment = 5", "cannot compare segment (string) with 5 (number)"),
        ("credit_score and opt_in_location", "credit_score is a number; 'and' needs a boolean"),
        ("credit_score", "credit_score is a number; eligible when needs a boolean"),
        ("not credit_score", "'not' needs a boolean"),
        ('credit_score in (1, "a")', '"a" is a string, credit_score is a number'),
        ("preferred_days = 1", "preferred_days is a list"),
        (
            "client_created_date >= 2026-01-01 and segment + 1 > 2",
            "segment is a string; '+' needs a number",
        ),
    ],
)
def test_type_errors(condition, message):
    (found,) = errors(one(f"eligible when {condition}"))
    assert found.startswith("t.offer:3:") and message in found, found


def test_dates_compare_with_dates_and_booleans_stand_alone():
    assert errors(one("eligible when client_created_date < 2026-01-01 and opt_in_location")) == []
    assert errors(one("eligible when opt_in_location = true and credit_score is missing")) == []


def test_unreachable_and_duplicate_variants():
    text = one(
        "",
        "variant a when credit_score > 1 channels push\n"
        "variant b when credit_score > 1 channels push\n"
        "variant c otherwise channels push\n"
        "variant d when credit_score > 5 channels push\n"
        "variant a when false channels push\n",
    )
    found = errors(text, VOCABULARY)
    assert any(
        "5:9: error: variant b can never be chosen; variant a has the same condition" in e
        for e in found
    )
    assert any(
        "7:9: error: variant d can never be chosen; variant c (otherwise)" in e for e in found
    )
    assert any("8:9: error: variant a given twice; first at line 4" in e for e in found)
    (no_false,) = errors(
        one("", "variant a when false channels push\nvariant b otherwise channels push")
    )
    assert "variant a can never be chosen; its condition is false" in no_false


def test_channels_templates_topics_categories():
    vocabulary = Vocabulary(**{**VOCABULARY.__dict__, "templates": {"x/main.push": frozenset()}})
    found = errors(
        one(
            'topic loan\n trigger geofence category "cafes"',
            "variant main otherwise channels push, fax, push, email",
        ),
        vocabulary,
    )
    assert found == [
        "t.offer:3:7: error: unknown topic loan; did you mean loans?",
        "t.offer:4:28: error: unknown geofence category 'cafes'; did you mean cafe?",
        "t.offer:5:39: error: unknown channel fax; one of push, email, sms",
        "t.offer:5:44: error: channel push given twice",
        "t.offer:5:50: error: no template for variant main by email; "
        "add conf/templates/x/main.email.j2",
    ]


def test_templates_use_only_the_variants_parameters_and_the_message_variables(tmp_path):
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "main.push.j2").write_text("{{ first_name }}: {{ rate }} for {{ tenor }}")
    (tmp_path / "x" / "main.sms.j2").write_text("{% if rate %}{{ rate }")
    vocabulary = Vocabulary(**{**VOCABULARY.__dict__, "templates": scan_templates(tmp_path)})
    found = errors(
        one(
            "", "variant main otherwise offer rate 8.5 percent, tenure 60 months channels push, sms"
        ),
        vocabulary,
    )
    assert len(found) == 2
    assert found[0].startswith(
        "t.offer:4:74: error: template conf/templates/x/main.push.j2 uses tenor, "
        "which variant main does not give; did you mean tenure?"
    )
    assert found[1].startswith(
        "t.offer:4:80: error: template conf/templates/x/main.sms.j2 does not"
    )
    assert "main.sms.j2:1:" in found[1]


def test_campaign_level_problems():
    found = errors("campaign x variant v otherwise channels push\ncampaign x schedule hourly")
    assert "t.offer:1:10: error: campaign x has no schedule" in found[0]
    assert any("2:10: error: campaign x defined twice; first at t.offer:1:10" in e for e in found)


def test_follow_ups_resolve_and_do_not_cycle():
    programs = (
        "campaign a schedule hourly variant m otherwise channels push\n"
        "  follow up with b after accepted within 30 days\n"
        "campaign b schedule hourly variant m otherwise channels push\n"
        "  follow up with c after opened within 7 days\n"
        "campaign c schedule hourly variant m otherwise channels push\n"
        "  follow up with a after declined within 7 days\n"
        "  follow up with d after accept within 0 days\n"
    )
    vocabulary = Vocabulary(
        **{
            **VOCABULARY.__dict__,
            "templates": dict.fromkeys((f"{c}/m.push" for c in "abc"), frozenset()),
        }
    )
    found = errors(programs, vocabulary)
    assert found == [
        "t.offer:6:18: error: follow-ups form a cycle: a -> b -> c -> a; "
        "a campaign cannot follow itself, directly or not",
        "t.offer:7:18: error: unknown response accept; did you mean accepted?",
        "t.offer:7:18: error: a follow-up within 0 days; give at least 1 day",
        "t.offer:7:18: error: unknown campaign d",
    ]


def test_an_invalid_campaign_does_not_stop_the_valid_ones(tmp_path):
    good = tmp_path / "good.offer"
    good.write_text(CAR_LOAN.replace("credit_score >= 750", "credit_scor >= 750"))
    broken = tmp_path / "broken.offer"
    broken.write_text("campaign y schedule daily at 99:00 variant m otherwise channels push")
    program = load_program([good, broken], VOCABULARY)
    assert program.invalid() == {"car_loan"}
    assert [c.name for c in program.valid()] == ["vip"]
    assert {d.pos.file for d in program.diagnostics} == {str(good), str(broken)}


def test_dsl_check_on_the_shipped_campaigns_and_on_a_broken_file(tmp_path, capsys):
    from jobs.cli import main

    assert main(["dsl", "check"]) == 0
    assert "no errors" in capsys.readouterr().out
    bad = tmp_path / "bad.offer"
    bad.write_text("campaign x\n  schedule hourly\n  eligible when fuel_spend_two_wheeler_9d > 0\n")
    assert main(["dsl", "check", str(bad)]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        f"{bad}:1:10: error: campaign x has no variant; "
        "add `variant main otherwise offer ... channels push`",
        f"{bad}:3:17: error: unknown metric fuel_spend_two_wheeler_9d; "
        "did you mean fuel_spend_two_wheeler_90d?",
    ]


def test_the_vocabulary_reads_conf():
    from pathlib import Path

    vocabulary = Vocabulary.load(Path("conf"))
    assert vocabulary.columns["fuel_spend_two_wheeler_90d"] == "number"
    assert vocabulary.columns["balance_never_below_300k_6m"] == "boolean"
    assert vocabulary.columns["life_stage"] == "string"
    assert vocabulary.columns["opt_in_location"] == "boolean"
    assert vocabulary.columns["segment"] == "string"
    assert "email" not in vocabulary.columns and "client_id" not in vocabulary.columns
    assert {"cafe", "bank", "grocery"} <= vocabulary.categories
    assert "car_loan/prime.push" in vocabulary.templates


@pytest.mark.parametrize(
    "condition",
    [
        "a >= 50k and (b or not c) and d in (1, 2)",
        "(a - b) - c > a - (b - c) or x / (y * z) = 1",
        "not (a > 1 and b < 2) and -(c + 1) >= 0",
        'e not in ("x", "y") or f is missing and g is present',
        "a * 10% > 2026-01-01 or true = false",
    ],
)
def test_rendered_conditions_parse_back_to_the_same_rule(condition):
    from dsl.checker import shape
    from dsl.compiler import render

    (c,) = parse(f"campaign x eligible when {condition}")
    (again,) = parse(f"campaign x eligible when {render(c.eligible)}")
    assert shape(again.eligible) == shape(c.eligible)
