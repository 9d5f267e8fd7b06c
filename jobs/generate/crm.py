"""CRM export: one JSON object per line, nested name, address and contact preferences."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from jobs.generate.population import Population
from jobs.generate.vocab import DISTRICT_ZIPS, DISTRICTS, WEEKDAYS

TOPICS = np.array(["loans", "insurance", "investments", "travel", "retail"])


def write_crm(pop: Population, path: Path, seed: int, rows: np.ndarray | None = None) -> int:
    """The customers' records (only `rows`, customer indexes, when given)."""
    rng = np.random.default_rng([seed, 4])
    n = pop.size
    preferred = rng.random((n, 7)) < 0.3
    opt_out = rng.random((n, len(TOPICS))) < 0.1
    quiet_start = rng.choice(["20:00", "21:00", "22:00"], n)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as out:
        for i in range(n) if rows is None else rows.tolist():
            record = {
                "client_id": int(pop.client_id[i]),
                "name": {"first": str(pop.first_name[i]), "last": str(pop.last_name[i])},
                "date_of_birth": str(pop.birth_date[i]),
                "gender": str(pop.gender[i]),
                "email": str(pop.email[i]),
                "phone": str(pop.phone[i]),
                "address": {
                    "street": str(pop.street[i]),
                    "city": "Praha",
                    "district": DISTRICTS[pop.district[i]][0],
                    "zip": str(DISTRICT_ZIPS[pop.district[i]]),
                    "country": "CZ",
                },
                "home_ownership_status": str(pop.home_ownership[i]),
                "occupation": str(pop.occupation[i]),
                "marital_status": str(pop.marital[i]),
                "head_of_household_flag": bool(pop.head_of_household[i]),
                "annual_income": int(pop.monthly_income[i] * 12),
                "client_created_date": str(pop.created[i]),
                "preferences": {
                    "channels": {
                        "email": bool(pop.opt_email[i]),
                        "sms": bool(pop.opt_sms[i]),
                        "push": bool(pop.opt_push[i]),
                        "location": bool(pop.opt_location[i]),
                    },
                    "preferred_days": WEEKDAYS[preferred[i]].tolist(),
                    "quiet_hours": {"start": str(quiet_start[i]), "end": "08:00"},
                    "topics_opt_out": TOPICS[opt_out[i]].tolist(),
                },
            }
            out.write(json.dumps(record, separators=(",", ":")) + "\n")
    return n if rows is None else len(rows)
