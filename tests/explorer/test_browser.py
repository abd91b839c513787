"""The explorer in a real headless browser: Debian's chromium driven by Selenium through Debian's
chromium-driver (Selenium Manager never downloads anything: the driver's path is given).

One journey, as an auditor would make it: the dashboard; the demo's REJECTED model found through
the search box; its rejected interval and the votes that decided it; a vote followed to its
transaction, both orgs' endorsements verified; a new block appearing on the dashboard without a
reload; the file-check page naming the tampered layer. Then a model page open while the real
workers vote: the votes appear without a reload. Screenshots go to tests/explorer/artifacts/.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.explorer.conftest import ARTIFACTS, wait_until

pytestmark = [pytest.mark.explorer, pytest.mark.network]

CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")


@pytest.fixture(scope="module")
def browser():
    if not (CHROMIUM and DRIVER):
        pytest.fail("chromium and chromium-driver are missing: run network/scripts/install.sh explorer")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1400,1800"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(executable_path=DRIVER), options=options)
    driver.set_page_load_timeout(60)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    try:
        yield driver
    finally:
        driver.quit()


def shot(driver, name: str) -> Path:
    """A full-page screenshot (the window grown to the page's height first)."""
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1400, min(max(height, 900), 6000))
    path = ARTIFACTS / f"{name}.png"
    driver.save_screenshot(str(path))
    driver.set_window_size(1400, 1800)
    return path


def test_an_auditor_follows_a_rejection_to_its_signatures(browser, live_explorer, contract, demo):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    base = live_explorer.url.rstrip("/")
    db = live_explorer.db
    b = browser
    b.get(base + "/")
    assert "Channel dashboard" in b.find_element(By.TAG_NAME, "h1").text
    wait_until(lambda: b.find_elements(By.CSS_SELECTOR, "#latest-blocks tbody tr"), 30, "the latest blocks")
    shot(b, "dashboard")

    # Search for the demo's backdoored model by name; pick the REJECTED one among the results.
    box = b.find_element(By.ID, "search")
    box.send_keys("digits-backdoor", Keys.ENTER)
    wait_until(lambda: "/search" in b.current_url or "/model/" in b.current_url, 30, "the search answer")
    if "/search" in b.current_url:
        rows = b.find_elements(By.CSS_SELECTOR, "#results tbody tr")
        hit = next(r for r in rows if "REJECTED" in r.text)
        hit.find_element(By.TAG_NAME, "a").click()
    wait_until(lambda: "/model/" in b.current_url, 30, "the model page")
    assert b.find_element(By.ID, "status").text == "REJECTED"
    rejected = int(b.find_element(By.ID, "rejected").text.split(",")[0])
    assert f"interval {rejected} rejected" in b.find_element(By.ID, "reason").text
    votes = b.find_elements(By.CSS_SELECTOR, f'#vote-grid td.vote[data-interval="{rejected}"]')
    verdicts = [v.get_attribute("data-verdict") for v in votes]
    assert verdicts.count("REJECT") >= 2, verdicts
    decision = b.find_element(By.CSS_SELECTOR, f'#vote-grid tr[data-interval="{rejected}"] td.decision')
    assert "REJECTED" in decision.text
    assert "indexed to block" in b.find_element(By.ID, "indexed").text
    assert b.find_elements(By.CSS_SELECTOR, "svg.scores polyline.threshold")
    shot(b, "model-rejected")

    # Follow a REJECT vote to its transaction: both orgs' endorsements verified. (By its address: a new
    # block re-renders the live part of the page, which would leave an element in hand stale.)
    reject = next(v for v in votes if v.get_attribute("data-verdict") == "REJECT")
    b.get(reject.find_element(By.CSS_SELECTOR, "a.vote").get_attribute("href"))
    wait_until(lambda: "/tx/" in b.current_url, 30, "the transaction page")
    assert "SubmitVote" in b.find_element(By.CSS_SELECTOR, "code.call").text
    rows = b.find_elements(By.CSS_SELECTOR, "#endorsements tbody tr")
    assert {r.find_elements(By.TAG_NAME, "td")[0].text for r in rows} == {"Org1MSP", "Org2MSP"}
    assert all(r.find_elements(By.CSS_SELECTOR, "span.sig.ok") for r in rows)
    shot(b, "transaction")

    # A new block appears on the dashboard without a reload (server-sent events).
    b.get(base + "/")
    wait_until(lambda: b.find_elements(By.CSS_SELECTOR, "#latest-blocks tbody tr"), 30, "the latest blocks")
    b.execute_script("window.__notReloaded = true")
    newest = "const td = document.querySelector('#latest-blocks tbody tr td'); return td ? td.textContent : '#-1';"
    top = int(b.execute_script(newest).lstrip("#"))
    contract.submit("Ping")
    wait_until(lambda: int(b.execute_script(newest).lstrip("#")) > top, 60, "the new block on the dashboard")
    assert b.execute_script("return window.__notReloaded === true")

    # The file check names the tampered layer of the demo's honest model.
    import json

    from trainproof.ml.hashchain import diff_layers

    check = demo / "check"
    honest, chain = next((m["model_id"], json.loads(m["certificate"])["layer_hashes"]) for m in db.rows("SELECT model_id, certificate FROM models WHERE name = 'digits-honest' "
                                                 "AND status = 'VERIFIED' ORDER BY submitted_at DESC")
                  if not diff_layers(check / "honest.safetensors", json.loads(m["certificate"])["layer_hashes"]))
    b.get(f"{base}/check?model={honest}")
    b.find_element(By.ID, "file").send_keys(str(check / "tampered.safetensors"))
    b.find_element(By.ID, "check-button").click()
    differing = wait_until(lambda: b.find_elements(By.ID, "differing"), 90, "the file check's answer")[0]
    expected = diff_layers(check / "tampered.safetensors", chain)
    assert expected and differing.text == ", ".join(expected)
    assert len(b.find_element(By.ID, "browser-sha").text) == 64
    shot(b, "file-check")
    # Without a model id: the untampered weights are recognised as the honest model's final weights.
    b.get(f"{base}/check")
    b.find_element(By.ID, "file").send_keys(str(check / "honest.safetensors"))
    b.find_element(By.ID, "check-button").click()
    wait_until(lambda: f"final weights (layer hash chain) of model {honest}" in b.find_element(By.ID, "result").text,
               90, "the weights to be recognised")


def test_votes_appear_on_an_open_model_page_without_a_reload(browser, live_explorer, contract, tmp_path):
    """A real run submitted now, its page opened while the workers still replay: each vote shows up
    in the open page's grid through server-sent events, with no reload. (The replays take some
    seconds — a wide MLP, 150 steps per interval — so the page is open before the first vote.)"""
    import secrets

    from selenium.webdriver.common.by import By

    from demo.digits import train_digits
    from trainproof.storage import ArtifactStore
    from trainproof.submission import submit_run

    run_dir = tmp_path / "run"
    train_digits(run_dir, hidden=[512, 512], intervals=2, steps_per_interval=150, seed=secrets.randbelow(2 ** 30) + 1,
                 name="explorer-live-votes")
    store = ArtifactStore.from_state(role="submitter", org="org1")
    try:
        model_id = submit_run(run_dir, contract, store).model_id
    finally:
        store.close()
    url = f"{live_explorer.url.rstrip('/')}/model/{model_id}"

    def opened() -> bool:
        browser.get(url)
        return bool(browser.find_elements(By.ID, "status"))

    wait_until(opened, 30, "the new model's page")
    votes = "return document.querySelectorAll('#vote-grid td.vote[data-verdict]').length"
    assert browser.execute_script(votes) == 0, "votes were already indexed when the page opened"
    browser.execute_script("window.__notReloaded = true")
    wait_until(lambda: browser.execute_script(votes) >= 2, 240, "votes in the open page")
    assert browser.execute_script("return window.__notReloaded === true")
    cast = {v.get_attribute("data-verdict") for v in browser.find_elements(By.CSS_SELECTOR, "#vote-grid td.vote[data-verdict]")}
    assert cast == {"ACCEPT"}, cast  # an honest run
    shot(browser, "model-live-votes")
