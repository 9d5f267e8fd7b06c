"""The language's one error type: every problem carries file, line and column."""

from __future__ import annotations

from dataclasses import dataclass

from dsl.ast import Pos
from jobs.errors import OfferlakeError


@dataclass(frozen=True)
class Diagnostic:
    pos: Pos
    message: str
    hint: str = ""

    def __str__(self) -> str:
        hint = f"; {self.hint}" if self.hint else ""
        return f"{self.pos}: error: {self.message}{hint}"


class DslError(OfferlakeError):
    """One or more problems in .offer files, each `file:line:col: error: ...`."""

    def __init__(self, diagnostics: list[Diagnostic]):
        self.diagnostics = sorted(diagnostics, key=lambda d: (d.pos.file, d.pos.line, d.pos.column))
        super().__init__("\n".join(str(d) for d in self.diagnostics))

    @classmethod
    def summary(cls, diagnostics: list[Diagnostic], files: int) -> DslError:
        """One line for the end of `dsl check`, after the diagnostics themselves."""
        error = cls(diagnostics)
        error.args = (f"{len(diagnostics)} error(s) in {files} campaign file(s)",)
        return error
