"""What a stage prints: per feed and table, rows read = written + quarantined."""

from __future__ import annotations

from collections.abc import Sequence

from rich.table import Table

from jobs.runtime.context import JobResult


def reconciliation_table(title: str, results: Sequence[JobResult]) -> Table:
    table = Table(title=title)
    for name, right in (
        ("feed", False),
        ("table", False),
        ("files", True),
        ("read", True),
        ("written", True),
        ("quarantined", True),
        ("status", False),
    ):
        table.add_column(name, justify="right" if right else "left")
    for r in results:
        if r.error:
            status = f"[red]failed: {r.error}[/red]"
        elif not r.reconciled:
            unexplained = r.rows_read - r.rows_written - r.rows_quarantined - r.rows_withheld
            status = f"[red]{unexplained:,} unexplained[/red]"
        else:
            why = ", ".join(f"{rule} {n:,}" for rule, n in r.rules)
            status = "[green]reconciled[/green]" + (f" ({why})" if why else "")
        status += "".join(f"; {note}" for note in r.notes)
        files = f"{r.files}" + (f" (+{r.skipped_files} done before)" if r.skipped_files else "")
        table.add_row(
            r.feed,
            r.table,
            files,
            f"{r.rows_read:,}",
            f"{r.rows_written:,}",
            f"{r.rows_quarantined:,}",
            status,
        )
    return table


def failures(results: Sequence[JobResult]) -> list[JobResult]:
    return [r for r in results if r.error or not r.reconciled]
