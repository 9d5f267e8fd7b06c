"""A generated bank's state in OUT/truth/, which `generate --continue` goes on from: bank.json
(the spec, the last day delivered, the next account-transaction id, the customers who joined per
continued day) and accounts.npy (each account's opening and closing balance, and whether it is
closed)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path

import numpy as np

from jobs.errors import OfferlakeError

STATE = "bank.json"
ACCOUNTS = "accounts.npy"  # one record per account: opening, closing, closed
FIELDS = [("opening", "f8"), ("closing", "f8"), ("closed", "?")]


class NoBankError(OfferlakeError):
    """The folder holds no bank that `generate` wrote."""


@dataclass
class BankState:
    customers: int
    days: int
    seed: int
    start: str
    through: str  # the last day delivered
    next_trans_id: int
    joined: list[int] = field(default_factory=list)  # new customers per continued day, in order

    @property
    def first_day(self) -> date:
        return date.fromisoformat(self.start)


def save_state(
    out: Path, state: BankState, opening: np.ndarray, closing: np.ndarray, closed: np.ndarray
) -> None:
    """Write the state beside the truth, each file whole (written aside, then renamed); the JSON
    last. Both are byte-identical for the same state (no time stamps, unlike a .npz)."""
    truth = out / "truth"
    truth.mkdir(parents=True, exist_ok=True)
    records = np.zeros(len(opening), dtype=FIELDS)
    records["opening"], records["closing"], records["closed"] = opening, closing, closed
    with (truth / f"{ACCOUNTS}.tmp").open("wb") as handle:
        np.save(handle, records)
    (truth / f"{ACCOUNTS}.tmp").replace(truth / ACCOUNTS)
    (truth / f"{STATE}.tmp").write_text(json.dumps(asdict(state), indent=1) + "\n")
    (truth / f"{STATE}.tmp").replace(truth / STATE)


def load_state(out: Path) -> tuple[BankState, dict[str, np.ndarray]]:
    path = out / "truth" / STATE
    if not path.is_file():
        raise NoBankError(f"{out}: no bank to continue ({path} is missing; run `generate` first)")
    state = BankState(**json.loads(path.read_text()))
    records = np.load(out / "truth" / ACCOUNTS)
    return state, {name: records[name].copy() for name, _ in FIELDS}


def closing_balances(
    previous: np.ndarray, account_id: np.ndarray, balance: np.ndarray
) -> np.ndarray:
    """Each account's balance after its last movement (rows grouped by account, in order), else
    its previous closing balance."""
    closing = previous.copy()
    if len(account_id):
        last = np.flatnonzero(np.append(account_id[1:] != account_id[:-1], True))
        closing[account_id[last] - 1] = balance[last]
    return closing
