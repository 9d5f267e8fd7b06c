"""Mainframe files: fixed-length EBCDIC (cp037) records laid out by conf/copybooks/*.cpy."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import numpy as np

from jobs.generate.population import Population

EBCDIC = "cp037"
_OVERPUNCH_POSITIVE = 0xC0  # sign lives in the zone nibble of the last digit
_OVERPUNCH_NEGATIVE = 0xD0


def text(value: str, length: int) -> bytes:
    """PIC X(n): EBCDIC text, space padded (0x40), cut to length."""
    return value[:length].ljust(length).encode(EBCDIC)


def zoned(value: int, digits: int) -> bytes:
    """PIC 9(n): unsigned zoned decimal, one EBCDIC digit (0xF0-0xF9) per byte."""
    if value < 0 or value >= 10**digits:
        raise ValueError(f"{value} does not fit PIC 9({digits})")
    return str(value).zfill(digits).encode(EBCDIC)


def signed_zoned(value: Decimal, digits: int, scale: int) -> bytes:
    """PIC S9(n)V9(s): zoned decimal with the sign overpunched on the last digit."""
    units = int((abs(value) * 10**scale).to_integral_value())
    raw = bytearray(zoned(units, digits + scale))
    raw[-1] = (_OVERPUNCH_NEGATIVE if value < 0 else _OVERPUNCH_POSITIVE) | (raw[-1] & 0x0F)
    return bytes(raw)


def packed(value: Decimal, digits: int, scale: int) -> bytes:
    """PIC S9(n)V9(s) COMP-3: two digits a byte, sign nibble C (+) or D (-) last."""
    units = int((abs(value) * 10**scale).to_integral_value())
    total = digits + scale
    if units >= 10**total:
        raise ValueError(f"{value} does not fit S9({digits})V9({scale}) COMP-3")
    nibbles = str(units).zfill(total + (total + 1) % 2) + ("D" if value < 0 else "C")
    return bytes.fromhex(nibbles)


def binary(value: int, length: int) -> bytes:
    """PIC S9(n) COMP: big-endian two's complement (2 bytes up to 4 digits, 4 up to 9)."""
    return value.to_bytes(length, "big", signed=True)


def _yyyymmdd(days: np.ndarray) -> list[int]:
    return [int(s.replace("-", "")) for s in days.astype("datetime64[D]").astype(str)]


def _write(path: Path, length: int, records: list[bytes]) -> int:
    data = b"".join(records)
    if len(data) % length:
        raise AssertionError(f"{path}: records are not {length} bytes each")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return len(data) // length


def write_accounts(
    pop: Population, opening: np.ndarray, path: Path, status: np.ndarray | None = None
) -> int:
    """One record per customer's account; ACCOUNT-STATUS "A" (open) unless `status` says "C"."""
    created = _yyyymmdd(pop.created)
    status = np.full(pop.size, "A") if status is None else status
    records = [
        zoned(int(acc), 10)
        + zoned(int(branch), 5)
        + text(str(freq), 20)
        + zoned(day, 8)
        + packed(Decimal(f"{bal:.2f}"), 11, 2)
        + signed_zoned(Decimal(limit), 7, 2)
        + text(state, 1)
        + text("", 4)
        for acc, branch, freq, day, bal, limit, state in zip(
            pop.client_id.tolist(),
            pop.account_branch.tolist(),
            pop.account_frequency.tolist(),
            created,
            opening.tolist(),
            (-(pop.monthly_income // 2)).astype(int).tolist(),
            status.tolist(),
            strict=True,
        )
    ]
    return _write(path, 64, records)


def write_dispositions(pop: Population, path: Path) -> int:
    records = [
        zoned(d, 10) + zoned(c, 10) + zoned(a, 10) + text(t, 10)
        for d, c, a, t in zip(
            pop.disp_id.tolist(),
            pop.disp_client.tolist(),
            pop.disp_account.tolist(),
            pop.disp_type.tolist(),
            strict=True,
        )
    ]
    return _write(path, 40, records)


def write_cards(pop: Population, path: Path) -> int:
    records = [
        zoned(cid, 10)
        + zoned(disp, 10)
        + text(kind, 10)
        + text(number, 16)
        + zoned(day, 8)
        + binary(index, 2)
        + packed(Decimal(int(limit)), 9, 2)
        + text("", 2)
        for cid, disp, kind, number, day, index, limit in zip(
            pop.card_id.tolist(),
            pop.card_disp.tolist(),
            pop.card_type.tolist(),
            pop.card_number.tolist(),
            _yyyymmdd(pop.card_issued),
            pop.card_index.tolist(),
            pop.card_limit.tolist(),
            strict=True,
        )
    ]
    return _write(path, 64, records)
