"""kill -9 anywhere: each stage's process is killed (SIGKILL, its Spark JVM with it) at kill points
between its commits (jobs/runtime/faults.py), then run again to the end. What it leaves must
equal an uninterrupted run's: every Delta table, the handoff, the outbox (no message twice) and
what the vault opens to (no key lost).

The stages: ingest, privacy, model, match, handoff, deliver, erase, rotate. A stage's kill points
are the ones an uninterrupted run of it passes, in order (`#n` is the n-th). `make test` kills
each stage once at a seeded point, then re-runs it in this process; `make kill`
(OFFERLAKE_KILLS=2) kills it twice in a row at two seeded points (the second process is a re-run
of the first) before that. `make soak` (OFFERLAKE_SOAK=1) kills a fresh copy at every point, one
by one.
OFFERLAKE_KILL_REPORT names a JSON file that receives every trial (stage, points, where each
process died, differences found).
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from jobs.cli import main
from jobs.runtime import faults
from jobs.runtime.config import DEFAULT_CONF_DIR
from tests.lakes import (
    SMALL_BANK,
    Lake,
    copy_lake,
    copy_raw,
    fresh_lake,
)
from tests.snapshots import differences, duplicate_messages, snapshot, token_canon, vault_contents

D = SMALL_BANK.delivery_date
SOAK = os.environ.get("OFFERLAKE_SOAK") == "1"
SEED = int(os.environ.get("OFFERLAKE_KILL_SEED", "29"))
KILLS = int(os.environ.get("OFFERLAKE_KILLS", "1"))  # kills in a row per trial (not soak)
REPORT = os.environ.get("OFFERLAKE_KILL_REPORT")
TRIALS: list[dict] = []


@pytest.fixture(scope="module", autouse=True)
def report():
    yield
    if REPORT:
        tried = sum(len(t["kills"]) for t in TRIALS)
        summary = {
            "seed": SEED,
            "soak": SOAK,
            "kill points tried": tried,
            "differences found": sum(len(t["differences"]) for t in TRIALS),
            "messages sent twice": sum(t["messages sent twice"] for t in TRIALS),
            "trials": TRIALS,
        }
        Path(REPORT).write_text(json.dumps(summary, indent=1) + "\n")


def _cli(lake: Lake, argv: list[str], kill_at: str, trace: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, faults.ENV: kill_at, faults.TRACE: str(trace)}
    conf = Path(lake.conf_dir or DEFAULT_CONF_DIR)
    command = [sys.executable, "-m", "jobs.cli", "--conf", str(conf), "--lake", str(lake.root)]
    command += argv
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=1800)


def kill_plans(stage: str, points: list[str]) -> list[list[int]]:
    """Which kill points each trial kills at, in turn: every point alone (soak), or KILLS seeded
    points of the stage in a row."""
    assert points, f"{stage}: an uninterrupted run passed no kill point"
    if SOAK:
        return [[n] for n in range(1, len(points) + 1)]
    rng = random.Random(f"{SEED}:{stage}")
    return [sorted(rng.sample(range(1, len(points) + 1), min(KILLS, len(points))))]


def killed_then_rerun(lake: Lake, argv: list[str], kills: list[int], tmp: Path) -> list[str]:
    """`offerlake <argv>` in a process killed at each point in turn (each a re-run of the last),
    then once more to the end in this process. Where each process died."""
    died = []
    for n in kills:
        trace = tmp / f"kill-{n}.trace"
        done = _cli(lake, argv, f"#{n}", trace)
        passed = trace.read_text().splitlines() if trace.exists() else []
        if done.returncode == -9:
            died.append(passed[-1])
        elif done.returncode == 0:
            died.append(f"#{n} not reached: the re-run finished after {len(passed)} points")
        else:
            raise AssertionError(
                f"offerlake {' '.join(argv)} failed (exit {done.returncode}) before kill #{n}:\n"
                + done.stdout[-3000:]
                + done.stderr[-3000:]
            )
    assert main([*_lake_args(lake), *argv]) == 0, f"the re-run of {argv} failed"
    return died


def _lake_args(lake: Lake) -> list[str]:
    conf = ["--conf", str(lake.conf_dir)] if lake.conf_dir else []
    return [*conf, "--lake", str(lake.root)]


def check(
    stage: str,
    base: Lake,
    argv: list[str],
    reference: Lake,
    points: list[str],
    tmp_path: Path,
    across_vaults: bool = False,
) -> None:
    """Every trial of the stage, on its own copy of base, ends where `reference` (an
    uninterrupted run on the same base) is. `across_vaults`: the reference was gated by another
    vault (same keys), so tokens are compared by their blind index."""
    canon = token_canon(reference.root) if across_vaults else {}
    want = snapshot(reference.root, canon)
    want_vault = vault_contents(reference, canon) if _has_vault(reference) else None
    found = []
    for i, kills in enumerate(kill_plans(stage, points)):
        trial = copy_lake(base, tmp_path / f"trial-{i}")
        died = killed_then_rerun(trial, argv, kills, tmp_path / f"trial-{i}")
        mine = token_canon(trial.root) if across_vaults else {}
        diff = differences(snapshot(trial.root, mine), want)
        if want_vault is not None:
            got_vault = vault_contents(trial, mine)
            diff += [f"vault {k}: differs" for k in want_vault if got_vault[k] != want_vault[k]]
        twice = duplicate_messages(trial.root)
        TRIALS.append(
            {
                "stage": stage,
                "points": len(points),
                "kills": [f"#{n}" for n in kills],
                "died at": died,
                "differences": diff,
                "messages sent twice": twice,
            }
        )
        print(f"{stage}: killed at {died}: {len(diff)} difference(s)")
        found.append((kills, died, diff, twice))
        shutil.rmtree(trial.root)
    assert all(not diff and not twice for _, _, diff, twice in found), found


def _has_vault(lake: Lake) -> bool:
    return (lake.root / "onprem" / "vault" / "keys" / "_delta_log").is_dir()


def _run(stage: str, day=D) -> list[str]:
    return ["run", stage, "--date", day.isoformat()]


def test_ingest_killed_anywhere_lands_what_one_run_lands(bank, ingested, tmp_path):
    lake, _ = ingested
    base = fresh_lake(bank, tmp_path / "base", lake.spark)
    check("ingest", base, _run("ingest"), lake, lake.kill_points["ingest"], tmp_path)


def test_the_gate_killed_anywhere_tokenizes_what_one_run_does(ingested, gated, tmp_path):
    """The trial's vault has the reference's keys (a vault's first commit), so values have the
    same blind indexes; tokens, random per run, are compared through them."""
    lake, _ = gated
    base = copy_raw(ingested[0], tmp_path / "base")
    shutil.copytree(lake.root / "onprem" / "keys", base.root / "onprem" / "keys")
    shutil.copytree(lake.root / "onprem/vault/keys", base.root / "onprem/vault/keys")
    check("privacy", base, _run("privacy"), lake, lake.kill_points["privacy"], tmp_path, True)


def test_the_model_killed_anywhere_computes_what_one_run_does(gated, tmp_path):
    """The reference is modelled here, on a copy of the same base: the session's `modelled`
    was made from `gated` before other tests used it (one CI run found 37 customer_360 rows
    apart from it)."""
    base = copy_lake(gated[0], tmp_path / "base")
    reference = copy_lake(base, tmp_path / "reference")
    faults.reset()
    assert main(["--lake", str(reference.root), *_run("model")]) == 0
    check("model", base, _run("model"), reference, faults.passed(), tmp_path)


class Chain:
    """The modelled bank through match and handoff for D and delivery on the day D's last offer
    is due (the local clock is the end of the run's day; quiet hours and preferred days hold
    offers to later days), uninterrupted, with a copy of the lake before and after each stage
    and each stage's kill points and command.

    The campaigns hold no one out here: the small bank selects very few offers (one, in one CI
    run), and a holdout (a hash of the random token) then left nothing to deliver now and then."""

    def __init__(self, modelled: Lake, root: Path) -> None:
        self.before: dict[str, Lake] = {}
        self.after: dict[str, Lake] = {}
        self.points: dict[str, list[str]] = {}
        self.argv = {"match": _run("match"), "handoff": _run("handoff")}
        lake = copy_lake(modelled, root / "running")
        lake.conf_dir = _without_holdout(Path(modelled.conf_dir or DEFAULT_CONF_DIR), root)
        for stage in ("match", "handoff", "deliver"):
            if stage == "deliver":
                self.argv[stage] = _run(stage, _last_due(lake))
            self.before[stage] = copy_lake(lake, root / f"before-{stage}")
            faults.reset()
            assert main([*_lake_args(lake), *self.argv[stage]]) == 0
            self.points[stage] = faults.passed()
            self.after[stage] = copy_lake(lake, root / f"after-{stage}")


def _without_holdout(conf: Path, root: Path) -> Path:
    copy = root / "conf"
    shutil.copytree(conf, copy)
    for offer in (copy / "campaigns").glob("*.offer"):
        text = offer.read_text()
        assert "holdout" in text
        offer.write_text(re.sub(r"holdout \d+%", "holdout 0%", text))
    return copy


def _last_due(lake: Lake):
    offers = lake.table("analytics/deliverable_offers").where("not holdout")
    return offers.agg(F.max(F.to_date("send_at"))).first()[0]


@pytest.fixture(scope="module")
def chain(modelled, tmp_path_factory) -> Chain:
    chain = Chain(modelled[0], tmp_path_factory.mktemp("chain"))
    handoff = chain.after["handoff"].root / "lake" / "handoff" / f"match-{D}"
    assert list(handoff.glob("part-*.parquet")), "the bank's day hands nothing off"
    assert "deliver:sent" in chain.points["deliver"], "the delivery sends nothing"
    return chain


@pytest.mark.parametrize("stage", ["match", "handoff", "deliver"])
def test_a_campaign_stage_killed_anywhere_ends_as_one_run(chain, stage, tmp_path):
    """Match, handoff and delivery: the same offers, files and messages, none sent twice."""
    before, after = chain.before[stage], chain.after[stage]
    check(stage, before, chain.argv[stage], after, chain.points[stage], tmp_path)


def _one_customer(lake: Lake) -> int:
    return lake.table("raw/crm_clients").orderBy("client_id").first().client_id


@pytest.mark.parametrize(
    "command",
    [["vault", "erase", "--client-id"], ["vault", "rotate"]],
    ids=["erase", "rotate"],
)
def test_a_vault_command_killed_anywhere_ends_as_one_run(chain, command, tmp_path):
    """An erasure (of the first customer) and a key rotation, on the lake after delivery: the
    same tables, nothing of the customer left, every other value still opens."""
    base = chain.after["deliver"]
    argv = [*command, str(_one_customer(base))] if command[1] == "erase" else command
    reference = copy_lake(base, tmp_path / "reference")
    faults.reset()
    assert main(["--lake", str(reference.root), *argv]) == 0
    check(command[1], base, argv, reference, faults.passed(), tmp_path)
