"""Load every campaign under conf/campaigns/: parse, check, and split valid from invalid.

An invalid campaign never stops the valid ones: a file that does not parse loses its
campaigns, a campaign with a checker error is left out, and everything else runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dsl.ast import Campaign
from dsl.checker import check
from dsl.errors import Diagnostic, DslError
from dsl.parser import parse_file
from dsl.vocabulary import Vocabulary


@dataclass
class Program:
    campaigns: list[Campaign]  # every campaign that parsed
    diagnostics: list[Diagnostic]

    def invalid(self) -> set[str]:
        """Names of campaigns holding at least one diagnostic."""
        bad = set()
        for d in self.diagnostics:
            owner = _owner(self.campaigns, d)
            if owner is not None:
                bad.add(owner.name)
        return bad

    def valid(self) -> list[Campaign]:
        bad = self.invalid()
        return [c for c in self.campaigns if c.name not in bad]

    def campaign(self, name: str) -> Campaign:
        for c in self.campaigns:
            if c.name == name:
                return c
        raise KeyError(name)


def _owner(campaigns: list[Campaign], d: Diagnostic) -> Campaign | None:
    """The campaign whose text holds the diagnostic: the last one starting before it."""
    before = [
        c
        for c in campaigns
        if c.pos.file == d.pos.file and (c.pos.line, c.pos.column) <= (d.pos.line, d.pos.column)
    ]
    return max(before, key=lambda c: (c.pos.line, c.pos.column), default=None)


def campaign_files(conf_dir: Path) -> list[Path]:
    return sorted((conf_dir / "campaigns").glob("*.offer"))


def load_program(files: list[Path], vocabulary: Vocabulary) -> Program:
    campaigns: list[Campaign] = []
    diagnostics: list[Diagnostic] = []
    for path in files:
        try:
            campaigns += parse_file(path)
        except DslError as e:
            diagnostics += e.diagnostics
    diagnostics += check(campaigns, vocabulary)
    return Program(campaigns, sorted(diagnostics, key=lambda d: (d.pos.file, d.pos.line)))
