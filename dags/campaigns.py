"""One Airflow DAG per campaign, generated from conf/campaigns/*.offer.

A campaign is matched for a day once that day's data is modelled: its DAG runs on the customer
model's Asset (`offerlake_customer_360`), for the dates the event carries. Its `schedule` says on
which of those days it is due and when its offers go out: `daily at 07:00` every day at 07:00,
`weekly on monday, thursday at 09:30` on Mondays and Thursdays, `monthly on day 1 at 10:00` on the
1st (the match writes nothing on other days; `send_at` is the day at that hour in the customer's
time zone). A campaign with `trigger geofence ...` runs whenever `geo_offers` updates the geo
events, for the events' date. A cron clock would not do: it runs for the day on the clock, never
for a day whose data landed late or is backfilled. Each DAG runs the same entry point as
`offerlake run match --campaign NAME`. A campaign the
checker rejects gets no DAG; the checker's messages (file:line:col) show in Airflow as this
file's import error, while the valid campaigns keep their DAGs.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG

from dsl.ast import Campaign, Schedule
from dsl.errors import DslError
from dsl.program import campaign_files, load_program
from dsl.vocabulary import Vocabulary
from jobs.orchestration.alerts import deadline
from jobs.orchestration.assets import CUSTOMER_360, GEO_EVENTS, OFFERS
from jobs.orchestration.stage_operator import OfferlakeOperator, run_args
from jobs.runtime.config import conf_dir

DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def when_due(schedule: Schedule | None) -> str:
    """The schedule in words, for the DAG's page."""
    if schedule is None or schedule.every == "hourly":
        return "every day"
    at = f"at {schedule.at:%H:%M}"
    if schedule.every == "weekly":
        return f"on {', '.join(DAYS[d] for d in schedule.weekdays)} {at}"
    if schedule.every == "monthly":
        return f"on day {schedule.day_of_month} of each month {at}"
    return f"every day {at}"


def campaign_dag(campaign: Campaign) -> DAG:
    start = campaign.valid_from or pendulum.date(2026, 1, 1)
    with DAG(
        dag_id=f"campaign_{campaign.name}",
        schedule=[GEO_EVENTS] if campaign.trigger else [CUSTOMER_360],
        start_date=pendulum.datetime(start.year, start.month, start.day, tz="UTC"),
        end_date=(
            pendulum.datetime(*campaign.valid_to.timetuple()[:3], 23, 59, tz="UTC")
            if campaign.valid_to
            else None
        ),
        catchup=False,
        max_active_runs=1,
        dagrun_timeout=timedelta(minutes=55),
        deadline=deadline(timedelta(minutes=45)),
        tags=["offerlake", "lake", "campaign", campaign.topic or "no topic"],
        doc_md=(
            f"### Campaign `{campaign.name}`\n{campaign.title}\n\n"
            f"From `{campaign.file}` (line {campaign.pos.line}): priority {campaign.priority}, "
            f"due {when_due(campaign.schedule)}, holdout {campaign.holdout:.0%}, variants "
            f"{', '.join(v.name for v in campaign.variants)}. Matches the campaign over "
            "`lake/analytics/customer_360` and writes its rows of "
            "`lake/analytics/deliverable_offers` for the dates of its triggering events "
            "(`offerlake dsl explain` shows why a customer gets it or not)."
        ),
    ) as dag:
        OfferlakeOperator(
            task_id="match",
            args=run_args("match", "--campaign", campaign.name),
            execution_timeout=timedelta(minutes=45),
            outlets=[OFFERS],
            doc_md="Evaluate the campaign over every customer; preferences, caps and holdout.",
        )
    return dag


class CheckerErrors(DAG):
    """Not a DAG: bagging it raises the checker's messages, which Airflow shows as this file's
    import error without dropping the valid campaigns' DAGs."""

    def validate(self):
        raise DslError(self.diagnostics)


_program = load_program(campaign_files(conf_dir()), Vocabulary.load(conf_dir()))
for _campaign in _program.valid():
    globals()[f"campaign_{_campaign.name}"] = campaign_dag(_campaign)
if _program.diagnostics:
    campaign_checker_errors = CheckerErrors(
        dag_id="campaign_checker_errors", schedule=None, start_date=pendulum.datetime(2026, 1, 1)
    )
    campaign_checker_errors.diagnostics = _program.diagnostics
