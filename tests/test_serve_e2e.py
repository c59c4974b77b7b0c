"""End to end in a real headless Chromium (Debian's chromium + chromium-driver, driven by Selenium; nothing is downloaded):
fill in the situation form by keyboard, submit it, read the statuses and a source quote, open a concept page, and check
the layout at phone width. Screenshots go to the test's tmp dir and to tests/artifacts/ (gitignored) for review.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from serve_helpers import Server

CHROMIUM = next((p for p in ("/usr/bin/chromium", shutil.which("chromium") or "", shutil.which("chromium-browser") or "") if p and os.path.exists(p)), None)
CHROMEDRIVER = next((p for p in ("/usr/bin/chromedriver", shutil.which("chromedriver") or "") if p and os.path.exists(p)), None)
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
QUOTE = "Hip osteoarthritis with pain and stiffness affecting function"

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no chromium binary (apt-get install chromium chromium-driver; .ci/run does)")


@pytest.fixture(scope="module")
def server():
    s = Server("--timeout", "20")
    yield s
    s.stop()


@pytest.fixture(scope="module")
def browser():
    assert CHROMEDRIVER, "chromium is installed but chromedriver is not: apt-get install chromium-driver"
    os.environ.setdefault("SE_AVOID_STATS", "true")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1280,900",
                "--no-first-run", "--disable-extensions", "--disable-background-networking", "--lang=en-GB"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


def screenshot(driver, name: str, tmp_path: Path, full: bool = False) -> None:
    if full:  # headless Chromium captures the window: grow it to the page (capped)
        width = driver.execute_script("return window.innerWidth")
        height = min(driver.execute_script("return document.documentElement.scrollHeight"), 6000)
        driver.set_window_size(width, height)
        driver.execute_script("window.scrollTo(0, 0)")
    ARTIFACTS.mkdir(exist_ok=True)
    for folder in (tmp_path, ARTIFACTS):
        path = folder / name
        assert driver.save_screenshot(str(path)), path
        assert path.stat().st_size > 1000


def test_situation_form_in_a_real_browser(server, browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(browser, 20)
    browser.set_window_size(1280, 900)
    browser.get(server.url)
    assert "Clinical disclaimer" in browser.find_element(By.CSS_SELECTOR, ".disclaimer").text
    # suggestions cover labels, synonyms and codes
    suggestions = {o.get_attribute("value") for o in browser.find_elements(By.CSS_SELECTOR, "#finding-options option")}
    assert {"hipkg:HipOsteoarthritis", "ICD10CM:M16"} <= suggestions

    finding = browser.find_element(By.ID, "finding-1")
    finding.send_keys("ICD10CM:M16.12")
    # keyboard only: Tab to "Add another finding", Enter adds and focuses a new entry
    finding.send_keys(Keys.TAB)
    add = browser.switch_to.active_element
    assert add.get_attribute("data-add") == "finding"
    add.send_keys(Keys.ENTER)
    second = browser.switch_to.active_element
    assert second.get_attribute("id") == "finding-2"
    second.send_keys("hip OA")  # a synonym, resolved by the server
    allergy = browser.find_element(By.ID, "allergy-1")
    allergy.send_keys("lidocaine")
    allergy.send_keys(Keys.ENTER)  # submits the form

    wait.until(EC.presence_of_element_located((By.ID, "answer-title")))
    page = browser.find_element(By.TAG_NAME, "main").text
    for status in ("fits", "check", "not-indicated"):
        heading = browser.find_element(By.ID, f"h-{status}").text
        assert status in heading
    assert "(0)" not in browser.find_element(By.ID, "h-fits").text
    # an allergy to lidocaine, one local anaesthetic of several: the options with one are a check, with the question
    assert "(0)" not in browser.find_element(By.ID, "h-check").text
    assert QUOTE in page
    assert "another agent of the category" in page
    assert "Clinical disclaimer" in browser.find_element(By.CSS_SELECTOR, ".disclaimer").text
    screenshot(browser, "serve-desktop.png", tmp_path, full=True)

    # phone width: nothing overflows sideways
    browser.set_window_size(390, 844)
    browser.get(browser.current_url)
    wait.until(EC.presence_of_element_located((By.ID, "answer-title")))
    assert browser.execute_script("return document.documentElement.scrollWidth <= window.innerWidth + 1")
    browser.execute_script("window.scrollTo(0, 0)")
    screenshot(browser, "serve-phone-form.png", tmp_path)
    browser.execute_script("document.getElementById('status-fits').scrollIntoView()")
    screenshot(browser, "serve-phone-answer.png", tmp_path)

    # a concept page from the answer
    browser.set_window_size(1280, 900)
    browser.find_element(By.LINK_TEXT, "hip osteoarthritis").click()
    wait.until(EC.presence_of_element_located((By.TAG_NAME, "h1")))
    assert browser.find_element(By.TAG_NAME, "h1").text == "hip osteoarthritis"
    body = browser.find_element(By.TAG_NAME, "main").text
    assert "coxarthrosis" in body and "ICD10CM:M16" in body and "What it indicates or contraindicates" in body
    assert "Clinical disclaimer" in browser.find_element(By.CSS_SELECTOR, ".disclaimer").text
    screenshot(browser, "serve-concept.png", tmp_path, full=True)
    browser.set_window_size(390, 844)
    assert browser.execute_script("return document.documentElement.scrollWidth <= window.innerWidth + 1")
    screenshot(browser, "serve-phone-concept.png", tmp_path)


MATRIX_EXAMPLES = ("osteoarthritis-diabetes-hyperglycaemia", "osteoarthritis-lidocaine-allergy", "prosthesis-hip-undated")


@pytest.mark.parametrize("width, height", [(1280, 800), (390, 844)])
def test_the_matrix_is_in_the_first_screen_with_named_cells_and_each_quote_once(server, browser, tmp_path, width, height):
    """#17: the answer page opens on the option matrix (above the folded form) at desktop and phone sizes; every
    sub-cell has an accessible name; no quote is shown twice."""
    import json
    from urllib.parse import urlencode

    from selenium.webdriver.common.by import By

    repo = Path(__file__).resolve().parent.parent
    browser.set_window_size(width, height)
    for name in MATRIX_EXAMPLES:
        situation = json.loads((repo / "examples" / f"{name}.json").read_text())
        query = urlencode([("finding", f) for f in situation["findings"]] + [("allergy", a) for a in situation.get("allergies", [])])
        browser.get(f"{server.url}?{query}")
        viewport = browser.execute_script("return window.innerHeight")
        box = browser.execute_script("const r = document.querySelector('svg.matrix').getBoundingClientRect(); return [r.top, r.bottom, r.width];")
        assert 0 <= box[0] and box[1] <= viewport, f"{name} at {width}x{height}: the matrix spans {box[:2]}, the screen {viewport}"
        cells = browser.find_elements(By.CSS_SELECTOR, "svg.matrix .cell")
        assert len(cells) == 63 and all((c.get_attribute("aria-label") or "").count(":") >= 1 for c in cells)
        quotes = [q.text for q in browser.find_elements(By.CSS_SELECTOR, "blockquote.quote p")]
        assert quotes and len(quotes) == len(set(quotes)), f"{name}: a quote appears twice"
        assert len(browser.find_elements(By.CSS_SELECTOR, "p.disclaimer")) == 1
        assert browser.execute_script("return document.documentElement.scrollWidth <= window.innerWidth + 1")
        screenshot(browser, f"matrix-{name}-{width}x{height}.png", tmp_path)
