"""Screenshots of `ablate ui` after the quick start, for docs/ui/ (needs selenium and
Debian's chromium + chromium-driver):

    ablate run studies/pe_vs_coord.yaml && ablate ui &
    python docs/ui/screenshots.py http://127.0.0.1:5000
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from mlflow import MlflowClient
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

HERE = Path(__file__).resolve().parent
ML = "workflowType=machine_learning"
#: MLflow 3's assistant side panel opens by default; its close button is the last in its header
CLOSE_ASSISTANT = """
for (const b of document.querySelectorAll('button[aria-label]'))
  if (/close/i.test(b.getAttribute('aria-label'))) b.click();
"""


def main(url: str, store: str = "sqlite:///mlflow.db", experiment: str = "pe_vs_coord") -> None:
    client = MlflowClient(store)
    eid = client.get_experiment_by_name(experiment).experiment_id
    (parent,) = client.search_runs([eid], "tags.`ablate.kind` = 'study'", max_results=1)
    (best,) = client.search_runs(
        [eid], "tags.`ablate.kind` = 'trial'", order_by=["metrics.test_uar_mean DESC"],
        max_results=1,
    )  # fmt: skip
    base = f"{url}/#/experiments/{eid}/runs"
    pages = {
        "runs.png": f"{base}?{ML}&viewStateShareKey=ablate",
        "study-run.png": f"{base}/{parent.info.run_id}?{ML}",
        "confusion.png": f"{base}/{best.info.run_id}/artifacts/confusion.png?{ML}",
    }
    options = webdriver.ChromeOptions()
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1400,900"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    try:
        for name, page in pages.items():
            driver.get(page)
            time.sleep(12)  # the UI renders, then loads its data
            driver.execute_script(CLOSE_ASSISTANT)
            time.sleep(1)
            driver.save_screenshot(str(HERE / name))
            print(HERE / name)
    finally:
        driver.quit()


if __name__ == "__main__":
    main(*sys.argv[1:])
