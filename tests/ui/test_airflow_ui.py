"""`make airflow`'s Airflow, driven through its web UI in headless Chromium (Debian's chromium and
chromedriver, which .ci/run installs): log in, see every DAG listed, trigger
`offerlake_pipeline` from its page, wait for the run to succeed, keep screenshots."""

from __future__ import annotations

import json
import shutil
import time
import urllib.request
from pathlib import Path

import pytest

from jobs.orchestration import standalone

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
SHOTS = Path(__file__).resolve().parents[2] / "tests" / "ui" / "screenshots"


@pytest.fixture(scope="module")
def airflow(tmp_path_factory, free_port):
    if not (shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER)):
        pytest.skip("needs Debian's chromium and chromium-driver (installed by .ci/run)")
    home = tmp_path_factory.mktemp("airflow-home")
    lake = tmp_path_factory.mktemp("airflow-lake")
    port = free_port()
    process = standalone.start(home, port, str(lake), home / "standalone.log")
    try:
        standalone.wait_until_healthy(port, process, timeout=600)
        yield f"http://localhost:{port}", standalone.password(home), home, lake
    finally:
        import os
        import signal

        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except Exception:
            os.killpg(process.pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                "--window-size=1400,1000"):  # fmt: skip
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


def _runs(base: str, password: str, dag_id: str) -> list[dict]:
    """The DAG's runs, from the REST API with the same login (to wait without polling the UI)."""
    body = json.dumps({"username": standalone.USER, "password": password}).encode()
    request = urllib.request.Request(
        f"{base}/auth/token", body, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        token = json.load(answer)["access_token"]
    request = urllib.request.Request(
        f"{base}/api/v2/dags/{dag_id}/dagRuns", headers={"Authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.load(answer)["dag_runs"]


def test_log_in_see_every_dag_trigger_the_pipeline_and_it_succeeds(airflow, browser, dagbag):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    base, password, home, lake = airflow
    wait = WebDriverWait(browser, 120)
    SHOTS.mkdir(exist_ok=True)

    browser.get(base + "/")
    wait.until(lambda b: b.find_elements(By.NAME, "username"))
    assert "/auth/login" in browser.current_url  # nothing without logging in
    browser.find_element(By.NAME, "username").send_keys(standalone.USER)
    browser.find_element(By.NAME, "password").send_keys("not the password")
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    time.sleep(2)
    assert "/auth/login" in browser.current_url  # a wrong password is refused
    browser.find_element(By.NAME, "password").clear()
    browser.find_element(By.NAME, "password").send_keys(password)
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait.until(lambda b: "/auth/login" not in b.current_url)

    browser.get(base + "/dags")
    expected = set(dagbag.dags)
    wait.until(lambda b: expected <= {a.text for a in b.find_elements(By.CSS_SELECTOR, "a")})
    browser.save_screenshot(str(SHOTS / "dags.png"))

    browser.get(base + "/dags/offerlake_pipeline")
    trigger = wait.until(
        lambda b: b.find_elements(By.CSS_SELECTOR, "[data-testid=trigger-dag-button]")
    )
    trigger[0].click()
    confirm = wait.until(
        lambda b: b.find_elements(
            By.XPATH, "//*[@role='dialog']//button[normalize-space()='Trigger']"
        )
    )
    confirm[0].click()  # the dialog unpauses the DAG on trigger (its default)
    wait.until(lambda b: "/runs/manual__" in b.current_url)

    deadline = time.monotonic() + 900
    while time.monotonic() < deadline:
        (run,) = _runs(base, password, "offerlake_pipeline")
        if run["state"] in ("success", "failed"):
            break
        time.sleep(5)
    assert run["triggered_by"] == "ui" and run["triggering_user_name"] == standalone.USER
    assert run["state"] == "success", (home / "standalone.log").read_text()[-3000:]
    browser.refresh()
    time.sleep(3)
    browser.save_screenshot(str(SHOTS / "offerlake_pipeline-run.png"))
    assert (lake / "lake" / "catalog" / "trino.sql").exists()  # the last stage ran on the lake
