"""`make airflow`'s Airflow (the scheduler tests' one: tests/ops/conftest.py), driven through its
web UI in headless Chromium (Debian's chromium and chromedriver, which .ci/run installs): log in,
see every DAG listed, trigger `catalog` from its page, wait for the run to succeed, keep
screenshots. It runs after the chain tests of this folder, on their lake (one task: the whole
pipeline through the scheduler is what the chain tests run)."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from jobs.orchestration import standalone

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
SHOTS = Path(__file__).resolve().parents[2] / "tests" / "ops" / "screenshots"

pytestmark = pytest.mark.scheduler


@pytest.fixture(scope="module")
def airflow(operated):
    if not (shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER)):
        pytest.skip("needs Debian's chromium and chromium-driver (installed by .ci/run)")
    home = operated.airflow.home
    return operated.airflow.url, standalone.password(home), operated, operated.lake


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


def test_log_in_see_every_dag_trigger_one_and_it_succeeds(airflow, browser, dagbag):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    base, password, operated, lake = airflow
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
    expected = set(operated.api.dag_ids())  # its conf copy: no hourly deliver_due DAG
    assert expected and expected <= set(dagbag.dags)
    wait.until(lambda b: expected <= {a.text for a in b.find_elements(By.CSS_SELECTOR, "a")})
    browser.save_screenshot(str(SHOTS / "dags.png"))

    ddl = lake / "lake" / "catalog" / "trino.sql"
    ddl.unlink(missing_ok=True)
    browser.get(base + "/dags/catalog")
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
        (run,) = [r for r in operated.api.runs("catalog") if r["run_type"] == "manual"]
        if run["state"] in ("success", "failed"):
            break
        time.sleep(5)
    assert run["triggered_by"] == "ui" and run["triggering_user_name"] == standalone.USER
    assert run["state"] == "success", operated.logs()
    browser.refresh()
    time.sleep(3)
    browser.save_screenshot(str(SHOTS / "catalog-run.png"))
    assert ddl.read_text().startswith("-- offerlake")  # the task ran, on the lake
