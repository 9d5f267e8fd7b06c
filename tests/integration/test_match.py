"""`offerlake run match` on the modelled small bank: the campaigns due that day, one pass,
preferences, caps, holdout, geo triggers, follow-ups, re-runs, and the planted personas."""

from __future__ import annotations

import json
import shutil
from datetime import datetime, timedelta

import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F

from jobs.cli import main
from jobs.delivery import manifest
from jobs.delivery.handoff import SCHEMA
from jobs.privacy.commands import leakscan
from tests.lakes import SMALL_BANK, copy_lake

DAY = SMALL_BANK.delivery_date  # 2026-01-20, a Tuesday
TEST_CAMPAIGNS = """
campaign savers "A bonus for every customer"
  schedule daily at 09:00
  topic savings
  priority 60
  holdout 20%
  eligible when tenure_days >= 0
  variant rich when clv >= 100k
      offer bonus 500
      channels email, sms
  variant standard otherwise
      offer bonus 100
      channels push, email, sms
  follow up with savers_thanks after accepted within 30 days

campaign savers_thanks
  schedule daily at 09:00
  topic savings
  priority 90
  variant main otherwise
      channels email, sms, push

campaign grocery_nearby
  schedule hourly
  trigger geofence category "grocery"
  topic retail
  priority 95
  variant main otherwise
      offer cashback 5%
      channels push, sms, email

campaign monday_only
  schedule weekly on monday at 10:00
  variant main otherwise
      channels email
"""
BROKEN = "campaign broken\n  schedule daily at 09:00\n  eligible when no_such_metric > 1\n"


@pytest.fixture(scope="module")
def conf(tmp_path_factory):
    """The repository's conf/ plus test campaigns (and their templates) and a broken file."""
    root = tmp_path_factory.mktemp("conf") / "conf"
    shutil.copytree("conf", root)
    (root / "campaigns" / "tests.offer").write_text(TEST_CAMPAIGNS)
    (root / "campaigns" / "zz_broken.offer").write_text(BROKEN)
    for campaign, variant, channels in (
        ("savers", "rich", "email sms"),
        ("savers", "standard", "push email sms"),
        ("savers_thanks", "main", "email sms push"),
        ("grocery_nearby", "main", "push sms email"),
        ("monday_only", "main", "email"),
    ):
        (root / "templates" / campaign).mkdir(exist_ok=True)
        for channel in channels.split():
            (root / "templates" / campaign / f"{variant}.{channel}.j2").write_text(
                "{{ first_name }}: {{ campaign }}"
            )
    return root


@pytest.fixture(scope="module")
def matched(modelled, conf, tmp_path_factory):
    lake = copy_lake(modelled[0], tmp_path_factory.mktemp("matched"))
    lake.conf_dir = conf
    c360 = lake.table("analytics/customer_360")
    tokens = [r.client_id for r in c360.orderBy("client_id").select("client_id").collect()]
    # tokens are random per vault: the two geo visitors are the first customers some channel
    # of grocery_nearby can reach, so the test does not depend on which customers those are
    reach = lake.table("stage/contact_reachability")
    devices = lake.table("stage/location_pings").select("client_id").distinct()
    reachable = (
        c360.join(reach, "client_id", "left")
        .join(devices.withColumn("device", F.lit(True)), "client_id", "left")
        .where(~F.coalesce(F.array_contains("topics_opt_out", "retail"), F.lit(False)))
        .where(
            (F.col("opt_in_push") & F.col("device"))
            | (F.col("opt_in_sms") & F.col("sms"))
            | (F.col("opt_in_email") & F.col("email"))
        )
        .orderBy("client_id")
        .limit(2)
    )
    visitors = [r.client_id for r in reachable.collect()]
    tokens = visitors + [t for t in tokens if t not in visitors]
    # two customers visit a grocery store today; three accepted `savers` three days ago, and
    # one declined it: responses land in stage like the feed's
    events = lake.spark.createDataFrame(
        [
            (tokens[0], "grocery", "ally-1", datetime(2026, 1, 20, 10, 0), DAY),
            (tokens[1], "grocery", "ally-2", datetime(2026, 1, 20, 22, 30), DAY),
            (tokens[1], "grocery", "ally-3", datetime(2026, 1, 20, 23, 0), DAY),
            (tokens[2], "grocery", "ally-1", datetime(2026, 1, 19, 10, 0), DAY - timedelta(1)),
            (tokens[3], "pharmacy", "ally-9", datetime(2026, 1, 20, 10, 0), DAY),
        ],
        "client_id string, category string, ally_id string, entered_at timestamp, event_date date",
    )
    events.write.format("delta").save(str(lake.root / "lake/analytics/geo_events"))
    responses = lake.table("stage/offer_responses")
    planted = [(tokens[i], "accepted") for i in (4, 5, 6)] + [(tokens[7], "declined")]
    rows = [
        {
            **dict.fromkeys(responses.columns),
            "client_id": t,
            "offer_id": "savers",
            "event": event,
            "ts": datetime(2026, 1, 17, 12, 0),
        }
        for t, event in planted
    ]
    frame = lake.spark.createDataFrame(rows, responses.schema)
    frame.write.format("delta").mode("append").save(str(lake.root / "lake/stage/offer_responses"))
    return lake, lake.run("match", DAY), tokens


def _offers(lake):
    return lake.table("analytics/deliverable_offers").where(F.col("run_date") == DAY)


def _outcomes(lake, campaign):
    rows = lake.table("analytics/offer_candidates").where(F.col("campaign") == campaign).collect()
    return {r.client_id: r.outcome for r in rows}


def test_only_valid_campaigns_due_today_run_and_the_broken_one_is_reported(matched):
    lake, results, _ = matched
    (result,) = results.values()
    notes = " ".join(result.notes)
    assert "left out (checker errors): broken" in notes
    campaigns = {r.campaign for r in lake.table("analytics/offer_candidates").collect()}
    assert {"savers", "grocery_nearby", "savers_thanks", "car_loan"} >= campaigns >= {"savers"}
    assert "monday_only" not in campaigns and "broken" not in campaigns
    assert result.rows_read == result.rows_written + result.rows_withheld


def test_every_customer_is_a_candidate_once_and_offers_are_well_formed(matched):
    lake, _, tokens = matched
    outcomes = _outcomes(lake, "savers")
    # savers: `eligible when tenure_days >= 0`, so every customer whose join year reached stage
    # (k-anonymity suppresses it in small groups: no tenure, not eligible)
    c360 = lake.table("analytics/customer_360").where(F.col("tenure_days").isNotNull())
    assert set(outcomes) == {r.client_id for r in c360.select("client_id").collect()}
    assert set(outcomes) <= set(tokens)
    offers = _offers(lake).collect()
    assert offers and all(o.client_id in tokens for o in offers)
    variants = {"rich": {"email", "sms"}, "standard": {"push", "email", "sms"}}
    for o in offers:
        assert o.run_id == f"match-{DAY}" and o.reason and o.send_at < o.expires_at
        if o.campaign == "savers":
            assert o.channel in variants[o.variant]
            assert json.loads(o.parameters) == {
                "bonus": {"value": 500 if o.variant == "rich" else 100}
            }
            assert "eligible when tenure_days >= 0" in o.reason
    selected = {o.client_id for o in offers if o.campaign == "savers"}
    assert selected == {t for t, o in outcomes.items() if o == "selected"}


def test_scheduled_offers_go_out_after_quiet_hours_on_a_preferred_day(matched):
    lake, _, _ = matched
    prefs = lake.table("analytics/customer_360").select("client_id", "preferred_days")
    rows = _offers(lake).where(F.col("campaign") == "savers").join(prefs, "client_id").collect()
    weekday = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
    for r in rows:
        # 09:00 in Prague (UTC+1 in January) is after every customer's quiet hours (end 08:00)
        assert (r.send_at.hour, r.send_at.minute) == (8, 0)
        shift = (r.send_at.date() - DAY).days
        assert 0 <= shift <= 6
        if r.preferred_days:
            assert weekday[r.send_at.weekday()] in r.preferred_days
            assert all(
                weekday[(DAY + timedelta(k)).weekday()] not in r.preferred_days
                for k in range(shift)
            )
        else:
            assert shift == 0


def test_channels_respect_consent_and_reachability(matched):
    lake, _, _ = matched
    consent = lake.table("analytics/customer_360").select(
        "client_id", "opt_in_email", "opt_in_sms", "opt_in_push"
    )
    reach = lake.table("stage/contact_reachability")
    devices = lake.table("stage/location_pings").select("client_id").distinct()
    devices = {r.client_id for r in devices.collect()}
    people = {r.client_id: r for r in consent.join(reach, "client_id", "left").collect()}

    def allowed(token, channel):
        p = people[token]
        reachable = token in devices if channel == "push" else p[channel] is True
        return p[f"opt_in_{channel}"] is True and reachable

    for o in _offers(lake).collect():
        assert allowed(o.client_id, o.channel), o
    variants = {"rich": ("email", "sms"), "standard": ("push", "email", "sms")}
    candidates = lake.table("analytics/offer_candidates").where(F.col("campaign") == "savers")
    for c in candidates.where(F.col("outcome") == "no_channel").collect():
        assert not any(allowed(c.client_id, ch) for ch in variants[c.variant])
    picked = candidates.where(F.col("outcome") == "selected").collect()
    for c in picked:  # the first allowed channel of the variant, in the campaign's order
        first = next(ch for ch in variants[c.variant] if allowed(c.client_id, ch))
        assert c.channel == first


def test_geo_triggered_offers_follow_todays_visits(matched):
    lake, _, tokens = matched
    outcomes = _outcomes(lake, "grocery_nearby")
    assert set(outcomes) == {tokens[0], tokens[1]}  # not yesterday's visit, not the pharmacy
    offers = {
        o.client_id: o for o in _offers(lake).where(F.col("campaign") == "grocery_nearby").collect()
    }
    assert set(offers) == {tokens[0], tokens[1]}
    assert {outcomes[t] for t in offers} == {"selected"}
    # 11:00 in Prague: sent at the visit
    assert offers[tokens[0]].send_at == datetime(2026, 1, 20, 10, 0)
    assert offers[tokens[0]].ally_id == "ally-1"
    # 23:30 in Prague is quiet: the next morning at 08:00 local, for the first visit of the day
    assert offers[tokens[1]].send_at == datetime(2026, 1, 21, 7, 0)
    assert offers[tokens[1]].ally_id == "ally-2"


def test_follow_ups_go_to_the_customers_who_responded(matched):
    lake, _, tokens = matched
    assert set(_outcomes(lake, "savers_thanks")) == {tokens[4], tokens[5], tokens[6]}
    assert _outcomes(lake, "savers")[tokens[7]] == "declined_recently"


def test_caps_hold_per_customer(matched):
    lake, _, _ = matched
    per = _offers(lake).groupBy("client_id").count().collect()
    assert max(r["count"] for r in per) <= 2  # conf/contact_policy.yaml: 2 per run
    outcomes = lake.table("analytics/offer_candidates").groupBy("outcome").count().collect()
    assert {r.outcome for r in outcomes} <= {
        "selected",
        "no_variant",
        "topic_opt_out",
        "declined_recently",
        "no_channel",
        "campaign_cap",
        "customer_run_cap",
        "customer_week_cap",
        "channel_cap",
    }


def test_rerunning_the_same_date_gives_the_same_tables(matched):
    lake, _, _ = matched
    tables = ("analytics/deliverable_offers", "analytics/offer_candidates")
    before = {t: lake.table(t).localCheckpoint() for t in tables}
    lake.run("match", DAY)
    for t in tables:
        assert_df_equality(lake.table(t), before[t], ignore_row_order=True, ignore_nullable=True)


def test_the_shipped_car_loan_finds_the_planted_car_intenders(matched, bank, tmp_path):
    from jobs.match.explain import accuracy, planted_personas, simulate
    from jobs.runtime.context import RunContext
    from jobs.runtime.zones import Side

    lake, _, _ = matched
    found, _, _ = simulate(RunContext(lake.config, Side.LAKE, DAY, _spark=lake.spark))
    onprem = RunContext(lake.config, Side.ONPREM, DAY, _spark=lake.spark)
    tokens_before = lake.table("vault/token_map").count()
    truth = tmp_path / "personas.csv"  # the generator's, and an id the vault never saw
    truth.write_text((bank / "truth" / "personas.csv").read_text() + "99999999,car_intender\n")
    personas = planted_personas(onprem, str(truth))
    assert lake.table("vault/token_map").count() == tokens_before, "--truth mints no token"
    precision, recall, _ = accuracy(found, personas, "car_loan", "car_intender")
    print(f"car_loan vs car_intender: precision {precision:.3f}, recall {recall:.3f}")
    assert personas.where("persona = 'car_intender'").count() >= 1
    assert precision >= 0.9 and recall >= 0.9


def test_dsl_explain_shows_each_rule_with_the_customers_values(matched, capsys):
    lake, _, tokens = matched
    args = ["--lake", str(lake.root), "--conf", str(lake.conf_dir), "dsl", "explain"]
    assert main([*args, "savers", "--token", tokens[0], "--date", str(DAY)]) == 0
    out = capsys.readouterr().out
    assert "tenure_days >= 0" in out and "tenure_days =" in out and "would be chosen" in out
    assert main([*args, "nope", "--token", tokens[0], "--date", str(DAY)]) == 1


def test_the_handoff_carries_the_days_offers_without_holdouts(matched):
    lake, _, _ = matched
    result = lake.run("handoff", DAY)[f"handoff/match-{DAY}"]
    folder = lake.root / "lake" / "handoff" / f"match-{DAY}"
    assert manifest.verify(str(folder)).rows == result.rows_written
    offers = _offers(lake)
    expected = offers.where(~F.col("holdout")).select(*SCHEMA.fieldNames())
    handed = lake.spark.read.parquet(str(folder))
    assert_df_equality(handed, expected, ignore_row_order=True, ignore_nullable=True)
    assert result.rows_withheld == offers.where(F.col("holdout")).count()


def test_delivery_sends_the_handoff_once_and_effectiveness_measures_it(matched):
    lake, _, _ = matched
    lake.run("handoff", DAY)
    run = f"match-{DAY}"
    handed = lake.spark.read.parquet(str(lake.root / "lake" / "handoff" / run))
    # the lake's clock is the end of D (conf/lake.yaml `clock: run_date`): what is due by then
    end_of_day = F.lit(DAY + timedelta(days=1)).cast("timestamp")
    due = handed.where(F.col("send_at") < end_of_day).count()
    result = lake.run("deliver", DAY)[f"delivery/{run}"]
    assert result.rows_read == due > 0 and result.reconciled
    if due < handed.count():
        assert f"not due yet: {handed.count() - due}" in result.notes
    statuses = dict(lake.table("analytics/notifications").groupBy("status").count().collect())
    assert sum(statuses.values()) == due and statuses.get("sent", 0) > 0
    outbox = lake.root / "onprem" / "delivery" / "outbox" / f"{run}.jsonl"
    assert len(outbox.read_text().splitlines()) == statuses["sent"]

    lake.run("effectiveness", DAY)
    kpis = (
        lake.table("analytics/kpis")
        .agg(F.sum("delivered").alias("delivered"), F.sum("holdouts").alias("holdouts"))
        .first()
    )
    # as of D: the offers due by the end of D (quiet hours and preferred days move some later)
    due = F.col("send_at") < F.lit(DAY + timedelta(days=1)).cast("timestamp")
    holdouts = _offers(lake).where(F.col("holdout") & due).count()
    sent = lake.table("analytics/notifications").where("status = 'sent'")
    sent = sent.where(F.col("sent_at") < F.lit(DAY + timedelta(days=1)).cast("timestamp")).count()
    assert (kpis.delivered, kpis.holdouts) == (sent, holdouts) and sent > 0

    _, hits = leakscan(lake.config, lake.spark)
    assert hits == [], "notifications, effectiveness and kpis hold tokens only"


def test_two_campaign_runs_started_together_write_what_one_run_of_both_writes(matched, tmp_path):
    """`offerlake run match --campaign savers` and `--campaign car_loan` for D, started at once:
    each arbitrates every campaign due on D and writes its own rows, so together they write D's
    offers of those campaigns exactly as the run of every campaign did, and the caps hold
    across them (no customer gets more offers on D than `max_offers_per_customer_per_run`)."""
    import subprocess
    import sys

    from delta.tables import DeltaTable

    from jobs.match.policy import ContactPolicy

    lake = copy_lake(matched[0], tmp_path)
    lake.conf_dir = matched[0].conf_dir
    pair = ("savers", "car_loan")
    mine = (F.col("run_date") == DAY) & F.col("campaign").isin(*pair)
    expected = sorted(
        tuple(r) for r in _offers(lake).where(F.col("campaign").isin(*pair)).collect()
    )
    assert {r[3] for r in expected} == set(pair), "both campaigns made offers on D"
    for ref in ("analytics/deliverable_offers", "analytics/offer_candidates"):
        DeltaTable.forPath(lake.spark, str(lake.root / "lake" / ref)).delete(mine)
    runs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "jobs.cli",
                "--lake",
                str(lake.root),
                "--conf",
                str(lake.conf_dir),
                "run",
                "match",
                "--date",
                DAY.isoformat(),
                "--campaign",
                name,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )  # fmt: skip
        for name in pair
    ]
    outputs = [run.communicate(timeout=900)[0] for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    got = sorted(tuple(r) for r in _offers(lake).where(F.col("campaign").isin(*pair)).collect())
    assert got == expected
    cap = ContactPolicy.load(lake.conf_dir).max_offers_per_customer_per_run
    most = _offers(lake).where(~F.col("holdout")).groupBy("client_id").count().agg(F.max("count"))
    assert most.first()[0] <= cap
