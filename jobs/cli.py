"""The `offerlake` command: generate a bank, run one stage, or run the whole pipeline."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from jobs.errors import ConfigError, OfferlakeError, StageFailedError
from jobs.pipeline import MEASURE_STAGES, STAGE_NAMES, STAGES, run_pipeline, run_stage
from jobs.reconciliation import failures, reconciliation_table
from jobs.runtime.config import LakeConfig
from jobs.runtime.context import RunContext
from jobs.runtime.landing import landing_inventory
from jobs.runtime.zones import Side

console = Console(stderr=True, soft_wrap=True)
out = Console(width=None if sys.stdout.isatty() else 160)  # logs keep whole tables


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a date YYYY-MM-DD") from None


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not a positive whole number")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="offerlake",
        description="Privacy-safe bank offers: a Spark + Delta data lake pipeline.",
    )
    parser.add_argument(
        "--lake", help="lake root folder or s3a:// URI (default: conf/lake.yaml, or OFFERLAKE_LAKE)"
    )
    parser.add_argument("--conf", type=Path, help="conf/ folder (default: the repository's)")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    gen = commands.add_parser(
        "generate",
        help="write a synthetic bank into every landing feed",
        description="Write one coherent synthetic bank (all feeds, "
        "planted personas with ground truth in truth/personas.csv).",
    )
    gen.add_argument("--customers", type=_positive, default=2000)
    gen.add_argument(
        "--days", type=_positive, default=90, help="days of history (with --continue: new days)"
    )
    gen.add_argument("--seed", type=int, default=42)
    gen.add_argument("--start", type=_date, default=None, help="first day (default 2026-01-01)")
    gen.add_argument("--out", type=Path, help="folder to write into (default: the lake root)")
    gen.add_argument("--workers", type=_positive, default=2)
    gen.add_argument(
        "--continue",
        dest="continue_from",
        type=Path,
        metavar="DIR",
        help="write the next --days days of the bank generated into DIR, each in its own "
        "delivery folder",
    )

    run = commands.add_parser(
        "run",
        help="run one pipeline stage for a date",
        description="Run one stage: " + ", ".join(STAGE_NAMES),
    )
    run.add_argument("stage", choices=STAGE_NAMES)
    run.add_argument("--date", type=_date, default=date.today())
    run.add_argument(
        "--feed", action="append", metavar="FEED", help="ingest: only this feed (repeatable)"
    )
    run.add_argument("--campaign", metavar="NAME", help="match: only this campaign")

    pipe = commands.add_parser("pipeline", help="run every stage in order for a date")
    pipe.add_argument("--date", type=_date, default=date.today())
    pipe.add_argument(
        "--measure",
        action="store_true",
        help=f"only {', '.join(MEASURE_STAGES)} and the leak scan: take in the day's feeds and "
        "measure the offers already sent, making no new ones",
    )
    pipe.set_defaults(closing=True)  # the closing summary and report (the demo: its last run)

    demo = commands.add_parser(
        "demo",
        help="generate a bank, run the pipeline on its last day, then measure the next day",
        description="What `make demo` runs, in one process and one Spark session: generate a "
        "bank into the lake's landing zone, run the whole pipeline for its delivery date D, land "
        "the customers' reactions to D's offers (simulate-reactions), and run the measuring "
        "stages for D + 1 (`pipeline --measure`), which ingest them and measure them (effective "
        "rate, lift) and write the report.",
    )
    demo.add_argument("--customers", type=_positive, default=2000)
    demo.add_argument("--days", type=_positive, default=90)
    demo.add_argument("--seed", type=int, default=42)

    public = commands.add_parser(
        "ingest-public",
        help="land real public datasets (Berka, TabFormer, ...) and ingest them",
        description="Copy public datasets into their feeds' landing folders and ingest them "
        "with the matching source format (see conf/sources/*.yaml).",
    )
    for name, what in (
        ("berka", "Berka/PKDD'99 *.asc files"),
        ("tabformer", "IBM TabFormer card transactions, users and cards CSV"),
        ("carddemo", "AWS CardDemo folder (cpy/ and data/EBCDIC/)"),
        ("ga", "Google Analytics 360 sessions as JSON lines (gzip)"),
        ("geolife", "GeoLife folder of users (<user>/Trajectory/*.plt)"),
        ("osm", "OpenStreetMap GeoJSON POIs (any depth)"),
    ):
        public.add_argument(f"--{name}", type=Path, metavar="DIR", help=what)
    public.add_argument("--date", type=_date, default=date.today(), help="delivery date")

    commands.add_parser("stages", help="list the pipeline's stages in order")

    report = commands.add_parser(
        "report",
        help="write the self-contained HTML effectiveness report",
        description="Effective rate by campaign and channel, lift with its interval, funnel, "
        "trend by day and top allies, from lake/analytics (run `run effectiveness` first).",
    )
    report.add_argument("--date", type=_date, default=date.today(), help="as-of date")
    report.add_argument(
        "--out", type=Path, help="HTML file (default: <lake root>/reports/offerlake-<date>.html)"
    )

    commands.add_parser(
        "leakscan",
        help="look for personal data in every lake table; exit 1 on any hit",
        description="Compare every value of every stage, analytics and handoff table with the "
        "raw PII values and PII detectors (e-mail, phone, card number with Luhn, IBAN, CRM names).",
    )
    features = commands.add_parser("features", help="browse the customer model's metric catalog")
    feature_commands = features.add_subparsers(
        dest="features_command", required=True, metavar="ACTION"
    )
    listing = feature_commands.add_parser(
        "list", help="every metric (name, type, source, description)"
    )
    listing.add_argument("--grep", help="only metrics whose name or description matches (regex)")
    describe = feature_commands.add_parser("describe", help="how one metric is computed")
    describe.add_argument("name")
    query = commands.add_parser(
        "query",
        help="an analyst query over the lake's tables (DuckDB or Spark)",
        description="Run a named query (effective_rate, segment_sizes, top_allies) or any SQL "
        "over views named <zone>_<table> (e.g. analytics_kpis, stage_allies).",
    )
    query.add_argument("sql", help="a query name or SQL text")
    query.add_argument("--engine", choices=["duckdb", "spark"], default="duckdb")
    profile = commands.add_parser(
        "profile",
        help="a customer's served profile, read by token from DynamoDB (conf/serving.yaml)",
        description="What `run serve` wrote for one customer token: the served metrics and "
        "segments, the customer_360 date and when the item expires. Exit 1 when there is none.",
    )
    profile.add_argument("token", help="the customer token (customer_360's client_id)")
    react = commands.add_parser(
        "simulate-reactions",
        help="land the customers' reactions to D's delivered offers (demo: plants a lift)",
        description="After `run deliver` for D: a share of the customers told about an ally buy "
        "there by card within minutes, a share of the others accept; holdouts hear nothing. "
        "Lands the purchases and responses as the next card_transactions / offer_responses "
        "deliveries (on-prem landing), for the days they happen.",
    )
    react.add_argument("--date", type=_date, required=True, help="the delivery's date (D)")
    react.add_argument("--buy-rate", type=float, help="share told of an ally who buy (0.4)")
    react.add_argument("--accept-rate", type=float, help="share of the others who accept (0.25)")
    react.add_argument("--seed", type=int, default=42)
    sim = commands.add_parser(
        "simulate-route",
        help="ride a customer through the city and print the offers that fire near stores",
    )
    sim.add_argument("--from", dest="start", required=True, metavar="LAT,LON")
    sim.add_argument("--to", dest="end", required=True, metavar="LAT,LON")
    sim.add_argument(
        "--customer",
        help="a customer token whose CRM location consent applies (default: a simulated "
        "customer who opted in)",
    )
    sim.add_argument("--speed-kmh", type=float, default=30.0)
    sim.add_argument("--every-seconds", type=float, default=20.0, help="seconds between pings")
    sim.add_argument(
        "--date", type=_date, help="day of the ride (default: the last day with pings in stage)"
    )
    sim.add_argument("--html", type=Path, metavar="FILE", help="also draw the route as a map")
    dsl = commands.add_parser("dsl", help="check and explain campaigns (conf/campaigns/*.offer)")
    dsl_commands = dsl.add_subparsers(dest="dsl_command", required=True, metavar="ACTION")
    check = dsl_commands.add_parser(
        "check",
        help="parse and check campaigns; exit 1 on any error (file:line:col: error: ...)",
    )
    check.add_argument(
        "files", nargs="*", type=Path, help="*.offer files (default: conf/campaigns/*.offer)"
    )
    explain = dsl_commands.add_parser(
        "explain", help="one customer against one campaign, rule by rule (values, pass/fail)"
    )
    explain.add_argument("campaign")
    explain.add_argument("--token", required=True, help="the customer's client token")
    explain.add_argument("--date", type=_date, default=date.today())
    simulate = dsl_commands.add_parser(
        "simulate",
        help="the day's matching without delivering: counts per campaign, variant, channel, "
        "outcome and the overlap between campaigns",
    )
    simulate.add_argument("--date", type=_date, default=date.today())
    simulate.add_argument(
        "--truth",
        type=Path,
        metavar="PERSONAS_CSV",
        help="generator ground truth (truth/personas.csv): precision and recall of --campaign "
        "against --persona (on-prem: client ids are tokenized through the vault)",
    )
    simulate.add_argument("--campaign", default="car_loan")
    simulate.add_argument("--persona", default="car_intender")
    vault = commands.add_parser("vault", help="operate the on-prem vault (audit-logged)")
    vault_commands = vault.add_subparsers(dest="vault_command", required=True, metavar="ACTION")
    detok = vault_commands.add_parser("detokenize", help="print the clear value of a token")
    detok.add_argument("--token", required=True)
    detok.add_argument(
        "--purpose", default="operator lookup", help="why (written to the audit log)"
    )
    erase = vault_commands.add_parser(
        "erase",
        help="forget customers: shred their data keys, delete their rows everywhere (resumable)",
    )
    who = erase.add_mutually_exclusive_group(required=True)
    who.add_argument("--client-id")
    who.add_argument(
        "--client-ids-file", type=Path, help="one client id per line: all erased in one plan"
    )
    vault_commands.add_parser(
        "rotate", help="new key-encryption key; data keys re-wrapped, nothing re-encrypted"
    )
    return parser


def _generate(args: argparse.Namespace, config: LakeConfig) -> None:
    from jobs.generate.bank import DEFAULT_START, BankSpec, generate_bank

    if getattr(args, "continue_from", None):
        _continue(args.continue_from, args.days)
        return
    target = args.out or Path(config.onprem_root)
    spec = BankSpec(args.customers, args.days, args.seed, args.start or DEFAULT_START)
    report = generate_bank(spec, target, workers=args.workers, progress=sys.stderr.isatty())
    table = Table(
        title=f"synthetic bank: {spec.customers} customers, {spec.days} days, seed {spec.seed}"
    )
    table.add_column("file")
    table.add_column("rows", justify="right")
    for name, count in report.counts.items():
        table.add_row(name, f"{count:,}")
    out.print(table)
    out.print(f"landing: {target / 'onprem' / 'landing'} (delivery date {report.delivery_date})")


def _continue(folder: Path, days: int) -> None:
    from jobs.generate.days import continue_bank

    reports = continue_bank(folder, days)
    names = sorted({name for report in reports for name in report.counts})
    table = Table(title=f"{folder}: {days} more day(s)")
    table.add_column("file")
    for report in reports:
        table.add_column(str(report.delivery_date), justify="right")
    for name in names:
        table.add_row(name, *(f"{report.counts.get(name, 0):,}" for report in reports))
    out.print(table)


def _demo(args: argparse.Namespace, config: LakeConfig) -> None:
    import time

    from jobs.generate.bank import BankSpec

    began = time.perf_counter()
    bank = argparse.Namespace(**vars(args), start=None, out=None, workers=2)
    _generate(bank, config)
    day = BankSpec(args.customers, args.days, args.seed).delivery_date
    # the summary and the report close the demo, after the day that measures the offers
    _pipeline(argparse.Namespace(date=day, measure=False, closing=False), config)
    reactions = argparse.Namespace(date=day, buy_rate=None, accept_rate=None, seed=args.seed)
    _simulate_reactions(reactions, config)
    _pipeline(argparse.Namespace(date=day + timedelta(days=1), measure=True, closing=True), config)
    out.print(f"demo: {time.perf_counter() - began:,.0f} s in all")


def _print_landing(config: LakeConfig) -> None:
    table = Table(title="landing zone")
    for column in ("feed", "delivery", "files", "MB"):
        table.add_column(column, justify="right" if column in ("files", "MB") else "left")
    for row in landing_inventory(config):
        table.add_row(row.feed, row.delivery, str(row.files), f"{row.bytes / 1e6:,.1f}")
    out.print(table)


def _pipeline(args: argparse.Namespace, config: LakeConfig) -> None:
    from jobs.runtime.spark import build_spark
    from jobs.summary import summary

    _print_landing(config)
    names = MEASURE_STAGES if args.measure else STAGE_NAMES
    with _progress([*names, "leakscan"]) as watch:
        result = run_pipeline(config, args.date, watch, names)
    for name, results in result.results.items():
        out.print(reconciliation_table(f"{name} for {args.date}", results))
    out.print(result.leak_table)
    table = Table(title=f"{'measuring ' if args.measure else ''}pipeline for {args.date}")
    for column in ("stage", "side", "seconds", "status", "what it does"):
        table.add_column(column, justify="right" if column == "seconds" else "left")
    for s in (s for s in STAGES if s.name in names):
        status = f"{sum(r.rows_written for r in result.results[s.name]):,} rows written"
        table.add_row(s.name, s.side.value, f"{result.seconds[s.name]:.1f}", status, s.summary)
    hits = len(result.leak_hits)
    verdict = "[green]0 hits[/green]" if not hits else f"[red]{hits} hits[/red]"
    table.add_row("leakscan", "lake", f"{result.seconds['leakscan']:.1f}", verdict, "no PII")
    table.add_row("total", "", f"{sum(result.seconds.values()):.1f}", "", "", style="bold")
    if args.closing:
        for part in summary(config, args.date, build_spark(config)):
            out.print(part)
    out.print(table)
    out.print(f"lake root: {config.lake_root}")
    if args.closing and "://" not in config.lake_root:
        from jobs.effectiveness.report import ReportError

        try:
            out.print(f"report: {_write_report(config, args.date, None)}")
        except ReportError as missing:  # nothing was sent yet: no kpis to report on
            out.print(f"report: none ({missing})")
    bad = [r for results in result.results.values() for r in failures(results)]
    if bad:
        raise StageFailedError(f"pipeline: {len(bad)} feeds/tables failed (see the tables above)")
    from jobs.privacy.commands import raise_on_hits

    raise_on_hits(result.leak_hits)


@contextmanager
def _progress(steps: list[str]) -> Iterator:
    """A live line per step on stderr (spinner, then a tick and its time)."""
    columns = (SpinnerColumn(finished_text="[green]✓[/green]"), TextColumn("{task.description}"),
               TimeElapsedColumn())  # fmt: skip
    with Progress(*columns, console=console, transient=False) as progress:
        ids = {step: progress.add_task(f"{step} [dim](waiting)[/dim]", start=False, total=1)
               for step in steps}  # fmt: skip

        @contextmanager
        def watch(step: str) -> Iterator[None]:
            progress.start_task(ids[step])
            progress.update(ids[step], description=f"{step} [cyan]running[/cyan]")
            yield
            progress.update(ids[step], description=step, completed=1)

        yield watch


def _run_stage(args: argparse.Namespace, config: LakeConfig) -> list:
    """`offerlake run STAGE`; `--feed` narrows ingest, `--campaign` narrows match (what the
    per-feed and per-campaign Airflow tasks run)."""
    if args.feed and args.stage != "ingest" or args.campaign and args.stage != "match":
        raise ConfigError("--feed goes with `run ingest`, --campaign with `run match`")
    if args.feed:
        from jobs.ingest.run import run as ingest

        return ingest(RunContext(config, Side.ONPREM, args.date), args.feed)
    if args.campaign:
        from jobs.match.run import run_campaign

        return run_campaign(RunContext(config, Side.LAKE, args.date), args.campaign)
    return run_stage(args.stage, config, args.date)


def _write_report(config: LakeConfig, day: date, target: Path | None) -> Path:
    from jobs.effectiveness import report

    if target is None:
        if "://" in config.lake_root:
            raise ConfigError("report: the lake is not a local folder; give --out FILE")
        target = Path(config.lake_root) / "reports" / f"offerlake-{day.isoformat()}.html"
    return report.write(RunContext(config, Side.LAKE, day), target)


def _ingest_public(args: argparse.Namespace, config: LakeConfig) -> None:
    from jobs.ingest.public import LAYOUTS, ingest_public

    sources = {name: getattr(args, name) for name in LAYOUTS if getattr(args, name)}
    if not sources:
        raise ConfigError("ingest-public: name at least one dataset, e.g. --berka DIR")
    results = ingest_public(config, sources, args.date)
    out.print(reconciliation_table(f"public datasets landed on {args.date}", results))
    bad = failures(results)
    if bad:
        raise StageFailedError(f"ingest-public: {len(bad)} feeds/tables failed")


def _leakscan(config: LakeConfig) -> None:
    from jobs.privacy.commands import leakscan, raise_on_hits

    table, hits = leakscan(config)
    out.print(table)
    raise_on_hits(hits)


def _features(args: argparse.Namespace, config: LakeConfig) -> None:
    from jobs.model.catalog import load_catalog
    from jobs.model.features import describe, listing

    catalog = load_catalog(config.conf_dir)
    if args.features_command == "list":
        out.print(listing(catalog, args.grep))
    else:
        out.print(describe(catalog, args.name))


def _cell(value) -> str:
    if value is None:
        return ""
    return f"{value:,.4g}" if isinstance(value, float) else str(value)


def _query(args: argparse.Namespace, config: LakeConfig) -> None:
    """Lake-side: the SQL is checked (one read-only query over the lake's views) and the engine
    can reach nothing else (jobs/catalog/analyst_sql.py)."""
    from jobs.catalog.queries import QUERIES

    sql = QUERIES.get(args.sql, args.sql)
    if args.engine == "duckdb":
        from jobs.catalog import duckdb_lake

        result = duckdb_lake.query(config, sql)
        columns, rows = result.columns, result.fetchall()
    else:
        from jobs.catalog.queries import spark_query
        from jobs.runtime.context import RunContext
        from jobs.runtime.zones import Side

        frame = spark_query(RunContext(config, Side.LAKE, date.today()), sql)
        columns, rows = frame.columns, [tuple(r) for r in frame.collect()]
    table = Table(title=args.sql if args.sql in QUERIES else "query")
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*(_cell(v) for v in row))
    out.print(table)


def _profile(args: argparse.Namespace, config: LakeConfig) -> int:
    from jobs.serving import store
    from jobs.serving.settings import load

    found = store.get(load(config.conf_dir).dynamodb, args.token)
    if found is None:
        console.print(f"offerlake profile: no profile for token {args.token}", highlight=False)
        return 1

    def number(value):  # DynamoDB numbers come back as Decimal
        return int(value) if value == value.to_integral_value() else float(value)

    print(json.dumps(found, default=number, indent=2, sort_keys=True))
    return 0


def _simulate_reactions(args: argparse.Namespace, config: LakeConfig) -> None:
    from jobs.generate.reactions import simulate
    from jobs.runtime.context import RunContext
    from jobs.runtime.zones import Side

    ctx = RunContext(config, Side.ONPREM, args.date)
    rates = {"buy_rate": args.buy_rate, "accept_rate": args.accept_rate}
    done = simulate(ctx, seed=args.seed, **{k: v for k, v in rates.items() if v is not None})
    out.print(
        f"{done.run_id}: of {done.sent:,} notifications sent, {done.purchases:,} bought at the "
        f"ally, {done.acceptances:,} accepted, {done.unmatched:,} would have bought but hold no "
        "card (or ally) the bank knows"
    )
    for path in done.files:
        out.print(f"landed {path}")


def _simulate_route(args: argparse.Namespace, config: LakeConfig) -> None:
    from pyspark.sql import functions as F

    from jobs.geofence import allies, route
    from jobs.geofence.settings import GeofenceSettings
    from jobs.runtime import delta_io
    from jobs.runtime.context import RunContext
    from jobs.runtime.zones import Side

    ride = route.Route(
        route.parse_point(args.start),
        route.parse_point(args.end),
        args.speed_kmh,
        args.every_seconds,
    )
    ctx = RunContext(config, Side.LAKE, date.today())
    day = args.date
    if day is None and delta_io.is_delta(ctx.spark, ctx.path("stage/location_pings")):
        day = ctx.read("stage/location_pings").agg(F.max(F.to_date("ts"))).first()[0]
    day = day or date.today()
    customers = None
    customer = args.customer or route.SIMULATED
    if args.customer:
        customers = ctx.read("stage/crm_clients").select("client_id", "opt_in_location")
    settings = GeofenceSettings.load(config.conf_dir)
    track, good, fired = route.simulate(ctx.spark, allies.of_lake(ctx), customers, ride,
                                        day, customer, settings)  # fmt: skip
    table = Table(title=f"offers fired along the route on {day} ({len(track)} pings)")
    for column in ("#", "time", "ally", "category", "offer", "discount", "metres", "dwell s"):
        table.add_column(column)
    for n, e in enumerate(fired, 1):
        discount = f"{e.discount_pct:g}%" if e.discount_pct is not None else ""
        table.add_row(str(n), f"{e.entered_at:%H:%M:%S}", e.name, e.category, str(e.offer_id),
                      discount, f"{e.distance_m:.0f}", str(e.dwell_seconds))  # fmt: skip
    out.print(table if fired else f"no offer fired along the route ({len(track)} pings)")
    if args.html:
        title = f"Route {args.start} -> {args.end} on {day}"
        page = route.svg_page(track, route.fence_shapes(good, track), fired, title)
        args.html.write_text(page)
        out.print(f"map: {args.html}")


def _dsl(args: argparse.Namespace, config: LakeConfig) -> None:
    from dsl.errors import DslError
    from dsl.program import campaign_files, load_program
    from dsl.vocabulary import Vocabulary

    if args.dsl_command == "explain":
        _dsl_explain(args, config)
        return
    if args.dsl_command == "simulate":
        _dsl_simulate(args, config)
        return
    files = args.files or campaign_files(config.conf_dir)
    program = load_program(files, Vocabulary.load(config.conf_dir))
    for diagnostic in program.diagnostics:
        print(diagnostic)
    if program.diagnostics:
        raise DslError.summary(program.diagnostics, len(files))
    names = ", ".join(c.name for c in program.campaigns)
    out.print(f"{len(program.campaigns)} campaigns in {len(files)} files: no errors ({names})")


def _dsl_explain(args: argparse.Namespace, config: LakeConfig) -> None:
    from jobs.match.explain import explain
    from jobs.runtime.context import RunContext
    from jobs.runtime.zones import Side

    out.print(explain(RunContext(config, Side.LAKE, args.date), args.campaign, args.token))


def _dsl_simulate(args: argparse.Namespace, config: LakeConfig) -> None:
    from jobs.match.explain import accuracy, simulate
    from jobs.runtime.context import RunContext
    from jobs.runtime.zones import Side

    found, counts, overlap = simulate(RunContext(config, Side.LAKE, args.date))
    out.print(counts)
    out.print(overlap)
    if args.truth:
        from jobs.match.explain import planted_personas

        onprem = RunContext(config, Side.ONPREM, args.date)
        personas = planted_personas(onprem, str(args.truth))
        out.print(accuracy(found, personas, args.campaign, args.persona)[2])


def _vault(args: argparse.Namespace, config: LakeConfig) -> None:
    from jobs.privacy import commands

    if args.vault_command == "detokenize":
        out.print(commands.detokenize(config, args.token, args.purpose), highlight=False)
    elif args.vault_command == "erase":
        if args.client_ids_file is not None:
            from jobs.privacy.erasure import read_client_ids

            ids = read_client_ids(args.client_ids_file)
        else:
            ids = [args.client_id]
        out.print(commands.erase(config, ids))
    elif args.vault_command == "rotate":
        out.print(commands.rotate(config))


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        config = LakeConfig.load(conf=args.conf, lake=args.lake)
        if args.command == "generate":
            _generate(args, config)
        elif args.command == "run":
            results = _run_stage(args, config)
            out.print(reconciliation_table(f"{args.stage} for {args.date}", results))
            bad = failures(results)
            if bad:
                raise StageFailedError(
                    f"{args.stage}: {len(bad)} of {len(results)} feeds/tables failed or do not "
                    "reconcile (see the table above)"
                )
        elif args.command == "pipeline":
            _pipeline(args, config)
        elif args.command == "demo":
            _demo(args, config)
        elif args.command == "ingest-public":
            _ingest_public(args, config)
        elif args.command == "report":
            out.print(f"report: {_write_report(config, args.date, args.out)}")
        elif args.command == "leakscan":
            _leakscan(config)
        elif args.command == "vault":
            _vault(args, config)
        elif args.command == "dsl":
            _dsl(args, config)
        elif args.command == "features":
            _features(args, config)
        elif args.command == "query":
            _query(args, config)
        elif args.command == "simulate-reactions":
            _simulate_reactions(args, config)
        elif args.command == "profile":
            return _profile(args, config)
        elif args.command == "simulate-route":
            _simulate_route(args, config)
        elif args.command == "stages":
            for s in STAGES:
                out.print(f"{s.name:<14} {s.side.value:<7} {s.summary}")
        return 0
    except OfferlakeError as exc:
        if args.debug:
            console.print_exception()
        console.print(f"[red]offerlake: {exc}[/red]", highlight=False)
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(main())
