"""Scale bench of the visual-analytics app: N synthetic points (default 1,000,000).

Measures server start-up (parquet load + payload build + uvicorn until /api/meta answers), the binary
payload size and download time, time to first render in headless Chromium (page load until all three
WebGL views drew), the server-side selection-statistics latency, a box selection in the browser and
the saliency overlay latency. Prints a markdown table.

    .venv/bin/python bench/app_scale.py [--n 1000000] [--browser/--no-browser]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import uvicorn

from matsight.analytics.server import create_app

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from fake_analytics import write_fake_analytics  # noqa: E402  (test helpers: fake folders of the app's shape)

ARGS = [
    "--enable-unsafe-swiftshader",
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _median_ms(fn, repeats: int = 5) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def _save_model(run: Path) -> None:
    """An untrained ResNet-18 tagger checkpoint (17 outputs, 128 px like the full x-ray demo) in ``run``."""
    from matsight.data.transforms import crop_size_for
    from matsight.models import build_model, save_checkpoint

    meta = {
        "arch": "resnet18",
        "task": "multilabel",
        "num_outputs": 17,
        "target_names": [f"attr{j}" for j in range(17)],
        "class_names": [],
        "image_size": 128,
        "crop_size": crop_size_for(128),
        "channels": 1,
    }
    save_checkpoint(run / "checkpoint.pt", build_model("resnet18", "multilabel", 17), meta)


def _hover_ms(page, n: int) -> float:
    """Median ms from moving the mouse onto a point of the PRD view until the app reports it hovered."""
    box = page.locator('.view[data-space="prd"] .plot').bounding_box()
    times = []
    for i in (n * k // 5 + 11 for k in range(5)):
        x, y = page.evaluate(f"window.matsight.position('prd', {i})")
        start = time.perf_counter()
        page.mouse.move(box["x"] + x, box["y"] + y)
        page.wait_for_function(
            "document.body.dataset.hovered >= 0 && !document.querySelector('.view[data-space=prd] .tooltip').hidden",
            polling=5,
            timeout=60_000,
        )
        times.append((time.perf_counter() - start) * 1000)
        page.mouse.move(box["x"] + 1, box["y"] + 1)
        page.wait_for_function("document.body.dataset.hovered == -1", polling=5, timeout=60_000)
    return statistics.median(times)


def _browser_box_ms(page) -> float:
    """Box-selects the middle 40 % of the FEA view with the mouse; ms from mouse-up until the statistics show."""
    page.select_option("#tool", "rectangle")
    box = page.locator('.view[data-space="fea"] .plot').bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.3)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.7, box["y"] + box["height"] * 0.7, steps=5)
    start = time.perf_counter()
    page.mouse.up()
    page.wait_for_function("document.getElementById('stats').dataset.count > 0", timeout=600_000)
    return (time.perf_counter() - start) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--browser", action=argparse.BooleanOptionalAction, default=True)
    args = parser.parse_args()
    rows: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        folder = write_fake_analytics(Path(tmp) / "analytics", n=args.n, seed=0)
        rows.append(("write fake analytics folder (17 attributes)", f"{time.perf_counter() - start:.1f} s"))
        _save_model(folder.parent)

        start = time.perf_counter()
        app = create_app(folder)
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
        threading.Thread(target=server.run, daemon=True).start()
        while not server.started:
            time.sleep(0.01)
        url = f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}/"
        httpx.get(url + "api/meta").raise_for_status()
        rows.append(("server start-up (load + payload + listen)", f"{time.perf_counter() - start:.2f} s"))

        start = time.perf_counter()
        payload = httpx.get(url + "api/points", timeout=60).content
        rows.append(("points payload size", f"{len(payload) / 2**20:.1f} MiB ({len(payload) / args.n:.0f} B/point)"))
        rows.append(("points payload download (localhost)", f"{(time.perf_counter() - start) * 1000:.0f} ms"))

        data = app.state.data
        rng = np.random.default_rng(0)
        for size in sorted({min(10_000, args.n), args.n // 10, args.n // 2, args.n}):
            index = np.sort(rng.choice(args.n, size, replace=False)).astype("<u4")
            rows.append(
                (
                    f"selection statistics, {size:,} points (server, numpy)",
                    f"{_median_ms(lambda index=index: data.select(index)):.0f} ms",
                )
            )
        index = rng.choice(args.n, args.n // 10, replace=False).astype("<u4")
        body = index.tobytes()

        def post_selection(body: bytes = body) -> None:
            httpx.post(url + "api/select", content=body, timeout=60).raise_for_status()

        rows.append((f"POST /api/select, {len(index):,} points (round trip)", f"{_median_ms(post_selection):.0f} ms"))

        for label, path in (
            ("first: torch import + model load + map", "api/saliency/0?attribute=3"),
            ("another image", "api/saliency/1?attribute=3"),
            ("cached", "api/saliency/1?attribute=3"),
        ):
            start = time.perf_counter()
            httpx.get(url + path, timeout=120).raise_for_status()
            rows.append(
                (
                    f"saliency overlay, ResNet-18 at 128 px, FastCAM × Grad-CAM (CPU): {label}",
                    f"{(time.perf_counter() - start) * 1000:.0f} ms",
                )
            )

        if args.browser:
            from playwright.sync_api import sync_playwright

            with sync_playwright() as p, tempfile.TemporaryDirectory() as profile:
                context = p.chromium.launch_persistent_context(
                    profile,
                    executable_path="/usr/bin/chromium",
                    headless=True,
                    args=ARGS,
                    viewport={"width": 1400, "height": 1000},
                )
                page = context.new_page()
                start = time.perf_counter()
                page.goto(url)
                page.wait_for_selector("body[data-ready=true]", timeout=600_000)
                wall = time.perf_counter() - start
                rows.append(("page ready, headless Chromium + SwiftShader (goto → 3 views drawn)", f"{wall:.2f} s"))
                marks = json.loads(page.evaluate("document.body.dataset.timings"))
                rows.append(("  in page: payload fetched (since navigation start)", f"{marks['fetched'] / 1000:.2f} s"))
                request, response, end = page.evaluate(
                    "(e => [e.requestStart, e.responseStart, e.responseEnd])"
                    "(performance.getEntriesByName(new URL('api/points', location).href)[0])"
                )
                rows.append(
                    (
                        "    of which /api/points: request → first byte, first → last byte",
                        f"{response - request:.0f} ms, {end - response:.0f} ms",
                    )
                )
                rows.append(
                    (
                        "  in page: decode, colours, 3 grid indexes, GPU upload",
                        f"{(marks['uploaded'] - marks['fetched']) / 1000:.2f} s",
                    )
                )
                rows.append(
                    (
                        "  in page: first frame of the 3 views (read back)",
                        f"{(marks['drawn'] - marks['uploaded']) / 1000:.2f} s",
                    )
                )
                rows.append(
                    (
                        "hover: mouse onto a point in PRD → tooltip shown (median of 5 points)",
                        f"{_hover_ms(page, args.n):.0f} ms",
                    )
                )
                ms = _browser_box_ms(page)
                count = int(page.evaluate("document.body.dataset.selected"))
                rows.append((f"box selection in FEA ({count:,} points): mouse-up → statistics shown", f"{ms:.0f} ms"))
                context.close()
        server.should_exit = True

    print(f"\n| {args.n:,} points | measured |\n|---|---|")
    for name, value in rows:
        print(f"| {name} | {value} |")


if __name__ == "__main__":
    main()
