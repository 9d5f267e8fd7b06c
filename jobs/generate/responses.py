"""Responses to earlier offers: JSON lines of opened / clicked / accepted / declined events.

Each offer went out on one channel (push, email or sms). A customer has a channel they answer
on: offers sent there are opened and accepted more often, so past responsiveness per channel
shows in the customer model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from jobs.generate.population import Population

PAST_OFFERS = [
    "OFF-CARLOAN-01",
    "OFF-TRAVEL-02",
    "OFF-KIDSAVE-03",
    "OFF-CASHBACK-04",
    "OFF-MORTGAGE-05",
]
CHANNELS = ["push", "email", "sms"]


def write_responses(pop: Population, path: Path, seed: int, share: float = 0.25) -> int:
    """Responses of `share` of the customers to past offers, over the period."""
    rng = np.random.default_rng([seed, 10])
    who = np.flatnonzero(rng.random(pop.size) < share)
    favourite = rng.integers(0, len(CHANNELS), pop.size)
    start = np.datetime64(pop.start, "s")
    path.parent.mkdir(parents=True, exist_ok=True)
    events = 0
    with path.open("w") as out:
        for c in who:
            offer = PAST_OFFERS[rng.integers(0, len(PAST_OFFERS))]
            variant = "A" if rng.random() < 0.5 else "B"
            ts = start + int(rng.integers(0, pop.days * 86400))
            channel = int(rng.integers(0, len(CHANNELS)))
            keen = channel == favourite[c]
            chain = ["sent"]
            if rng.random() < (0.8 if keen else 0.3):
                chain.append("opened")
                if rng.random() < 0.5:
                    chain.append("clicked")
                    accepts = rng.random() < (0.5 if keen else 0.1)
                    chain.append("accepted" if accepts else "declined")
            for event in chain:
                out.write(
                    json.dumps(
                        {
                            "client_id": int(pop.client_id[c]),
                            "offer_id": offer,
                            "variant": variant,
                            "channel": CHANNELS[channel],
                            "event": event,
                            "ts": str(ts) + "Z",
                        }
                    )
                    + "\n"
                )
                ts = ts + int(rng.integers(30, 3 * 86400))
                events += 1
    return events
