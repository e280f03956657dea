"""Screenshots of what a fresh browser shows of `ablate ui`, for docs/ui.md (needs selenium
and Debian's chromium + chromium-driver). Headless Chromium at 1600x1000, a new profile
for every picture, as a reader who has never opened MLflow:

    ablate ui --tracking-uri sqlite:///docs/results/emodb-recipe-cpu.db --port 5000 &
    python docs/ui/screenshots.py http://127.0.0.1:5000 docs/results/emodb-recipe-cpu.db pe_vs_coord

It opens the link `ablate ui` prints for the experiment (the default view of its question),
the question's pooled (or study) run, the top trial's confusion matrix, and the plain
experiment URL that MLflow 3 opens on its empty GenAI page; the first picture is taken
before and after closing MLflow's Assistant panel, which a fresh browser opens over a
quarter of the page.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from mlflow import MlflowClient
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

HERE = Path(__file__).resolve().parent
ML = "workflowType=machine_learning"
#: what keeps MLflow 3.17's Assistant panel closed (tests/browser.py checks the same)
ASSISTANT_CLOSED = {
    "mlflow.assistant.fab.autoOpenedOnFirstLoad_v1": "true",
    "mlflow.assistant.panelOpen_v1": "false",
}
#: seconds for the UI to render and load its data
SETTLE_S = 15


def _browser() -> webdriver.Chrome:
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--window-size=1600,1000", "--no-first-run"):  # fmt: skip
        options.add_argument(flag)
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


def _shoot(url: str, page: str, name: str, assistant_closed: bool = True) -> None:
    """``page`` in a fresh browser, saved as docs/ui/``name``."""
    driver = _browser()
    try:
        if assistant_closed:
            driver.get(f"{url}/health")  # the UI's origin, to set its flags before it loads
            for key, value in ASSISTANT_CLOSED.items():
                driver.execute_script(f"localStorage.setItem('{key}', '{value}')")
        driver.get(page)
        time.sleep(SETTLE_S)
        driver.save_screenshot(str(HERE / name))
        print(HERE / name)
    finally:
        driver.quit()


def main(url: str, store: str, experiment: str = "pe_vs_coord") -> None:
    client = MlflowClient(f"sqlite:///{Path(store).resolve()}")
    found = client.get_experiment_by_name(experiment)
    eid = found.experiment_id
    view = json.loads(found.tags["mlflow.sharedViewState.ablate"])
    (first,) = client.search_runs(
        [eid], view["searchFilter"], order_by=["metrics.`rank` ASC"], max_results=1
    )
    (best,) = client.search_runs(
        [eid], "tags.`ablate.kind` = 'trial'", order_by=["metrics.test_uar_mean DESC"],
        max_results=1,
    )  # fmt: skip
    base = f"{url}/#/experiments/{eid}"
    link = f"{base}/runs?{ML}&viewStateShareKey={first.data.tags['ablate.question']}"
    _shoot(url, link, "first-visit.png", assistant_closed=False)
    _shoot(url, link, "runs.png")
    _shoot(url, f"{base}/runs/{first.info.run_id}?{ML}", "study-run.png")
    _shoot(url, f"{base}/runs/{best.info.run_id}/artifacts/confusion.png?{ML}", "confusion.png")
    _shoot(url, base, "plain-url.png")


if __name__ == "__main__":
    main(*sys.argv[1:])
