"""The app in headless Chromium (Playwright): canvases draw, linked selection, filters, hover and
click picking, detail view with the saliency map; hostile attribute and run folder names stay text.

Needs Debian's /usr/bin/chromium (`bash scripts/setup_browser.sh`) and the built front end
(`bash scripts/build_frontend.sh`); with CI=true either missing is a failure, not a skip.
Screenshots go to test-artifacts/app/.
"""

import io
import os
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fake_analytics import write_fake_analytics

from matsight.analytics.server import STATIC_DIR

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--enable-unsafe-swiftshader",
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts" / "app"
pytestmark = pytest.mark.timeout(120)
N = 60  # few enough points for the flower overlay (the app draws flowers for <= 80 in view)


def _require(condition: bool, why: str) -> None:
    if not condition:
        if os.environ.get("CI") == "true":
            pytest.fail(why + " (CI=true: browser tests must run)")
        pytest.skip(why)


def _save_model(run: Path) -> None:
    """An untrained, seeded resnet18 checkpoint in ``run`` so the app offers saliency maps."""
    import torch

    from matsight.models import build_model, save_checkpoint

    torch.manual_seed(0)
    meta = {
        "arch": "resnet18",
        "task": "multilabel",
        "num_outputs": 17,
        "target_names": [f"attr{j}" for j in range(17)],
        "class_names": [],
        "image_size": 64,
        "crop_size": 56,
        "channels": 1,
    }
    save_checkpoint(run / "checkpoint.pt", build_model("resnet18", "multilabel", 17), meta)


@contextmanager
def _serving(folder: Path):
    """The app for ``folder`` on a free local port: yields its URL."""
    import uvicorn

    from matsight.analytics.server import create_app

    _require(CHROMIUM.is_file(), f"{CHROMIUM} missing: run `bash scripts/setup_browser.sh` as root")
    _require((STATIC_DIR / "index.html").is_file(), "front end not built: run `bash scripts/build_frontend.sh`")
    config = uvicorn.Config(create_app(folder), host="127.0.0.1", port=0, log_level="warning")
    instance = uvicorn.Server(config)
    thread = threading.Thread(target=instance.run, daemon=True)
    thread.start()
    while not instance.started:
        time.sleep(0.05)
    port = instance.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        instance.should_exit = True
        thread.join(5)


@pytest.fixture(scope="module")
def chromium():
    """One headless Chromium for the module. ``bypass_csp``: the app's Content-Security-Policy would block the
    test's own injected predicates; it also means the hostile-name test proves the page never builds markup
    from data, without help from the policy."""
    from playwright.sync_api import sync_playwright

    _require(CHROMIUM.is_file(), f"{CHROMIUM} missing: run `bash scripts/setup_browser.sh` as root")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p, tempfile.TemporaryDirectory() as profile:
        context = p.chromium.launch_persistent_context(
            profile,
            executable_path=str(CHROMIUM),
            headless=True,
            args=ARGS,
            viewport={"width": 1400, "height": 1000},
            bypass_csp=True,
        )
        yield context
        context.close()


def _open(chromium, url: str):
    """A new page on ``url``, once the app says it is ready."""
    page = chromium.new_page()
    page.goto(url)
    page.wait_for_selector("body[data-ready=true]", timeout=60000)
    return page


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = write_fake_analytics(tmp_path_factory.mktemp("run") / "analytics", n=N, seed=5)
    _save_model(folder.parent)
    with _serving(folder) as url:
        yield url, pd.read_parquet(folder / "points.parquet")


@pytest.fixture(scope="module")
def page(chromium, server):
    page = _open(chromium, server[0])
    yield page
    page.close()


def _pixels(page, selector: str) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(page.locator(selector).screenshot())).convert("L"), dtype=np.float32)


def test_each_view_draws_points_and_flowers(page):
    assert page.evaluate("document.body.dataset.error") is None
    for space in ("act", "fea", "prd"):
        pixels = _pixels(page, f'.view[data-space="{space}"] .plot')
        assert pixels.std() > 10, f"{space} view looks blank"
        # N points are few enough for flowers on the overlay canvas
        assert int(page.get_attribute(f'.view[data-space="{space}"] canvas.glyphs', "data-flowers")) == N
    page.screenshot(path=ARTIFACTS / "initial.png")


def test_box_selection_links_views_and_metrics(page, server):
    before = _pixels(page, '.view[data-space="act"] .plot')
    page.select_option("#tool", "rectangle")
    box = page.locator('.view[data-space="fea"] canvas.gl').bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.05, box["y"] + box["height"] * 0.05)
    page.mouse.down()
    for t in range(1, 9):  # a box over the upper-left quarter
        page.mouse.move(box["x"] + box["width"] * (0.05 + 0.06 * t), box["y"] + box["height"] * (0.05 + 0.06 * t))
        time.sleep(0.02)
    page.mouse.up()
    page.wait_for_function("document.getElementById('stats').dataset.count > 0", timeout=10000)
    selected = int(page.evaluate("document.body.dataset.selected"))
    assert 0 < selected < N
    assert int(page.get_attribute("#stats", "data-count")) == selected
    overall = page.locator("#stats tr.overall td").all_inner_texts()
    assert int(overall[1]) + int(overall[2]) + int(overall[3]) + int(overall[4]) == selected * 17
    after = _pixels(page, '.view[data-space="act"] .plot')
    assert np.abs(after - before).mean() > 1, "the selection made in FEA did not show in ACT"
    page.fill("#selection-name", "box")
    page.click("#selection-save")
    assert page.locator("#saved li").first.inner_text() == f"box ({selected})"
    page.select_option("#tool", "panZoom")


def test_detail_view_shows_the_image_and_saliency(page):
    page.wait_for_function("document.getElementById('detail-image')?.naturalWidth > 0", timeout=10000)
    image = _pixels(page, "#detail-image")
    assert image.std() > 10
    assert page.locator("#detail-body tbody tr").count() == 17
    page.wait_for_function("document.getElementById('saliency-image')?.naturalWidth > 0", timeout=30000)
    first = page.get_attribute("#saliency-image", "src")
    assert _pixels(page, "#saliency-image").std() > 10
    page.select_option("#saliency-method", "gradcam")
    page.select_option("#saliency-attribute", "attr5")
    page.wait_for_function(
        "document.getElementById('saliency-image').src.includes('attribute=5&method=gradcam')"
        " && document.getElementById('saliency-image').complete",
        timeout=30000,
    )
    assert page.get_attribute("#saliency-image", "src") != first
    assert _pixels(page, "#saliency-image").std() > 10
    page.screenshot(path=ARTIFACTS / "selection.png")


def test_attribute_filter(page, server):
    points = server[1]
    page.check('#filter-attributes input[value="attr0"]')
    page.check('#filter-attributes input[value="attr3"]')
    page.select_option("#filter-mode", "any")
    page.click("#filter-apply")
    expected = int(((points["label__attr0"] == 1) | (points["label__attr3"] == 1)).sum())
    page.wait_for_function(f"document.body.dataset.filtered == {expected}", timeout=10000)
    page.wait_for_function(
        f"document.querySelector('.view[data-space=act] canvas.glyphs').dataset.flowers == {expected}", timeout=10000
    )
    page.screenshot(path=ARTIFACTS / "filtered.png")
    page.click("#filter-clear")
    page.wait_for_function(f"document.body.dataset.filtered == {N}", timeout=10000)


def test_hover_shows_a_tooltip_and_click_opens_the_detail(page):
    x, y = page.evaluate("window.matsight.position('prd', 7)")
    box = page.locator('.view[data-space="prd"] .plot').bounding_box()
    before = _pixels(page, '.view[data-space="act"] canvas.gl')
    page.mouse.move(box["x"] + x, box["y"] + y)
    page.wait_for_function("document.body.dataset.hovered == 7", timeout=5000)
    tooltip = page.locator('.view[data-space="prd"] .tooltip')
    assert tooltip.is_visible() and tooltip.inner_text().startswith("image 7")
    # the hovered point is ringed in the linked ACT view too (drawn on the next animation frame)
    deadline = time.monotonic() + 5
    while np.abs(_pixels(page, '.view[data-space="act"] canvas.gl') - before).max() <= 50:
        assert time.monotonic() < deadline, "the hovered point was not ringed in the ACT view"
        page.wait_for_timeout(50)
    page.mouse.click(box["x"] + x, box["y"] + y)
    page.wait_for_function("document.body.dataset.detail == 7", timeout=5000)
    assert page.get_attribute("#detail-image", "alt") == "image 7"
    page.mouse.move(box["x"] + 2, box["y"] + 2)
    page.wait_for_function("document.body.dataset.hovered == -1", timeout=5000)
    assert not tooltip.is_visible()


HOSTILE = '<img src=x onerror="window.__pwned=(window.__pwned||0)+1">'


def test_hostile_attribute_and_run_names_stay_text(chromium, tmp_path):
    """Attribute (= labels.csv column) names and the run folder's name are data: shown, never executed."""
    attributes = ["plain", HOSTILE, "<b>bold</b>", "a&amp;b"]
    run = tmp_path / 'run <img src=x onerror="window.__pwned=(window.__pwned||0)+1">'
    folder = write_fake_analytics(run / "analytics", n=12, attributes=attributes, seed=3)

    def assert_nothing_ran():
        page.wait_for_timeout(300)  # let any injected image fail to load and fire its handler
        assert page.evaluate("window.__pwned") is None, "a data-derived string ran as script"
        assert page.evaluate("document.querySelectorAll('img[src=x]').length") == 0
        assert not page.evaluate("[...document.querySelectorAll('b')].some(b => b.textContent === 'bold')")

    with _serving(folder) as url:
        page = _open(chromium, url)
        assert_nothing_ran()
        assert HOSTILE in page.inner_text("#summary")
        options = page.eval_on_selector_all("#colour-by option", "els => els.map(e => e.textContent)")
        assert f"label: {HOSTILE}" in options and "probability: a&amp;b" in options
        labels = page.eval_on_selector_all("#filter-attributes label", "els => els.map(e => e.textContent)")
        assert labels == attributes
        # the hovered tooltip, the detail view and a selection's statistics name the attributes too
        x, y = page.evaluate("window.matsight.position('act', 3)")
        box = page.locator('.view[data-space="act"] .plot').bounding_box()
        page.mouse.move(box["x"] + x, box["y"] + y)
        page.mouse.click(box["x"] + x, box["y"] + y)
        page.wait_for_function("document.body.dataset.detail == 3", timeout=5000)
        page.select_option("#tool", "rectangle")
        plot = page.locator('.view[data-space="fea"] canvas.gl').bounding_box()
        page.mouse.move(plot["x"] + 2, plot["y"] + 2)
        page.mouse.down()
        page.mouse.move(plot["x"] + plot["width"] - 2, plot["y"] + plot["height"] - 2, steps=8)
        page.mouse.up()
        page.wait_for_function("document.getElementById('stats').dataset.count > 0", timeout=10000)
        assert HOSTILE in page.inner_text("#stats") and HOSTILE in page.inner_text("#detail-body")
        page.eval_on_selector_all("#filter-attributes input", "els => els[1].click()")  # the hostile one
        page.click("#filter-apply")
        page.wait_for_function("document.body.dataset.filtered !== undefined", timeout=10000)
        assert_nothing_ran()
        page.close()
