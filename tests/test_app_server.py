"""The app's API: binary payload decoding, selection statistics vs scikit-learn, filters, images;
hardening (Host header, body size, malformed JSON, no API docs, no absolute paths, images only from the
data folder) and 100 concurrent mixed requests against a real server."""

import io
import json
import os

import numpy as np
import pandas as pd
import pytest
from fake_analytics import fake_points, write_fake_analytics
from fastapi.testclient import TestClient
from PIL import Image
from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score

from matsight.analytics.server import create_app
from matsight.errors import DataLayoutError

ATTRIBUTES = [f"a{j}" for j in range(5)]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return write_fake_analytics(tmp_path_factory.mktemp("run") / "analytics", n=300, attributes=ATTRIBUTES, seed=3)


LOCAL = "http://127.0.0.1:8050"


def local_client(app) -> TestClient:
    """A client that sends ``Host: 127.0.0.1:8050``, as a browser on this machine does."""
    return TestClient(app, base_url=LOCAL)


@pytest.fixture(scope="module")
def client(folder):
    return local_client(create_app(folder))


def decode(payload: bytes) -> tuple[dict, dict]:
    size = int(np.frombuffer(payload[:4], "<u4")[0])
    header = json.loads(payload[4 : 4 + size])
    base = 4 + size
    arrays = {
        e["name"]: np.frombuffer(payload, np.dtype(e["dtype"]).newbyteorder("<"), e["length"], base + e["offset"])
        for e in header["arrays"]
    }
    return header, arrays


def test_fake_points_schema():
    points = fake_points(50, ATTRIBUTES, seed=1)
    assert len(points) == 50 and points["act_x"].dtype == np.float32 and points["label__a0"].dtype == np.uint8
    assert points[[f"prob__{a}" for a in ATTRIBUTES]].to_numpy().min() >= 0
    assert fake_points(50, ATTRIBUTES, seed=1).equals(points)


def test_payload_round_trips(client, folder):
    points = pd.read_parquet(folder / "points.parquet")
    header, arrays = decode(client.get("/api/points").content)
    assert header["n"] == 300 and header["k"] == 5
    fea = next(e for e in header["arrays"] if e["name"] == "fea")
    xy = (arrays["fea"].reshape(-1, 2) / 65535 - 0.5) * fea["span"] + fea["centre"]
    np.testing.assert_allclose(xy, points[["fea_x", "fea_y"]].to_numpy(), atol=fea["span"] / 131070 + 1e-6)
    assert arrays["fea"].max() == 65535 and arrays["fea"].min() == 0
    for j, a in enumerate(ATTRIBUTES):
        np.testing.assert_array_equal((arrays["labels"] >> j) & 1, points[f"label__{a}"])
        np.testing.assert_allclose(
            arrays["probs"].reshape(-1, 5)[:, j] / 255, points[f"prob__{a}"], atol=0.5 / 255 + 1e-6
        )
    assert client.get("/api/meta").json()["attributes"] == ATTRIBUTES


def test_selection_statistics_match_sklearn(client, folder):
    points = pd.read_parquet(folder / "points.parquet")
    index = np.random.default_rng(0).choice(300, 120, replace=False).astype("<u4")
    stats = client.post("/api/select", content=index.tobytes()).json()
    assert stats["count"] == 120
    y = points[[f"label__{a}" for a in ATTRIBUTES]].to_numpy()[index]
    p = (points[[f"prob__{a}" for a in ATTRIBUTES]].to_numpy()[index] >= 0.5).astype(int)
    for j, a in enumerate(ATTRIBUTES):
        got = stats["per_attribute"][a]
        assert got["precision"] == pytest.approx(precision_score(y[:, j], p[:, j], zero_division=0))
        assert got["recall"] == pytest.approx(recall_score(y[:, j], p[:, j], zero_division=0))
        assert got["f1"] == pytest.approx(f1_score(y[:, j], p[:, j], zero_division=0))
        assert got["accuracy"] == pytest.approx(accuracy_score(y[:, j], p[:, j]))
        assert got["tp"] + got["tn"] + got["fp"] + got["fn"] == 120
    assert stats["overall"]["f1"] == pytest.approx(f1_score(y, p, average="micro"))
    assert client.post("/api/select", content=np.array([300], "<u4").tobytes()).status_code == 400


def test_filters(client, folder):
    points = pd.read_parquet(folder / "points.parquet")

    def run(**spec):
        return np.frombuffer(client.post("/api/filter", json=spec).content, "<u4")

    a0, a1 = points["label__a0"] == 1, points["label__a1"] == 1
    np.testing.assert_array_equal(run(attributes=["a0", "a1"], mode="any"), np.flatnonzero(a0 | a1))
    np.testing.assert_array_equal(run(attributes=["a0", "a1"], mode="all"), np.flatnonzero(a0 & a1))
    np.testing.assert_array_equal(run(attributes=["a2"], by="prediction"), np.flatnonzero(points["prob__a2"] >= 0.5))
    assert len(run(attributes=[])) == 300
    assert client.post("/api/filter", json={"attributes": ["nope"]}).status_code == 400


def test_image_endpoint_is_log_scaled_png(client):
    response = client.get("/api/image/1")
    assert response.headers["content-type"] == "image/png"
    image = np.asarray(Image.open(io.BytesIO(response.content)))
    assert image.shape == (32, 32) and image.dtype == np.uint8 and image.max() == 255
    # log scaling lifts the faint background well above the linear 20/60000 of full scale
    assert np.median(image) > 40
    assert client.get("/api/image/999").status_code == 404


def test_missing_folder_is_a_user_error(tmp_path):
    with pytest.raises(DataLayoutError, match="points.parquet"):
        create_app(tmp_path)


@pytest.fixture(scope="module")
def model_folder(tmp_path_factory):
    """A fake analytics folder whose run holds an (untrained, seeded) resnet18 over 64-px images."""
    import torch

    from matsight.models import build_model, save_checkpoint

    folder = write_fake_analytics(
        tmp_path_factory.mktemp("run") / "analytics", n=20, attributes=ATTRIBUTES, seed=4, image_size=64
    )
    torch.manual_seed(0)
    meta = {
        "arch": "resnet18",
        "task": "multilabel",
        "num_outputs": len(ATTRIBUTES),
        "target_names": ATTRIBUTES,
        "class_names": [],
        "image_size": 64,
        "crop_size": 56,
        "channels": 1,
    }
    save_checkpoint(folder.parent / "checkpoint.pt", build_model("resnet18", "multilabel", len(ATTRIBUTES)), meta)
    return folder


def test_saliency_overlay_is_the_attributes_map_on_the_crop(model_folder):
    import torch

    from matsight.analytics.saliency_overlay import blend, log_grey
    from matsight.data.images import read_image
    from matsight.data.transforms import center_crop, resize_square
    from matsight.models import load_model
    from matsight.saliency import GradCAM

    app = create_app(model_folder)
    client = local_client(app)
    assert client.get("/api/meta").json()["saliency"][:2] == ["fastcam-gradcam", "gradcam"]
    model, _ = load_model(model_folder.parent)
    data = app.state.data
    crop = center_crop(resize_square(torch.from_numpy(read_image(data.image_root / data.images[3])), 64), 56)
    grey = log_grey(crop[0].numpy())
    overlays = []
    for k in (1, 4):
        response = client.get(f"/api/saliency/3?attribute={k}&method=gradcam")
        assert response.status_code == 200 and response.headers["content-type"] == "image/png"
        overlay = np.asarray(Image.open(io.BytesIO(response.content)))
        expected = blend(grey, GradCAM(model).attribute(crop[None], target=k)[0].detach().numpy())
        assert overlay.shape == (56, 56, 3)
        np.testing.assert_allclose(overlay.astype(int), expected.astype(int), atol=1)
        assert overlay.std() > 10 and np.abs(overlay[..., 0].astype(int) - overlay[..., 2]).max() > 30  # coloured
        overlays.append(overlay)
    assert np.abs(overlays[0].astype(int) - overlays[1]).mean() > 1, "the attribute changes the map"
    cache = data.saliency._cached_png
    hits = cache.cache_info().hits
    assert (
        client.get("/api/saliency/3?attribute=4&method=gradcam").content
        == client.get("/api/saliency/3?attribute=4&method=gradcam").content
    )
    assert cache.cache_info().hits == hits + 2
    image = data.image_root / data.images[3]
    stat = image.stat()
    os.utime(image, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # the file replaced while the app runs
    misses = cache.cache_info().misses
    assert client.get("/api/saliency/3?attribute=4&method=gradcam").status_code == 200
    assert cache.cache_info().misses == misses + 1, "a changed image file is explained afresh"
    assert client.get("/api/saliency/3?attribute=1").status_code == 200  # default method: FastCAM x Grad-CAM
    assert client.get("/api/saliency/3?attribute=5").status_code == 400
    assert client.get("/api/saliency/3?attribute=0&method=nope").status_code == 400
    assert client.get("/api/saliency/99?attribute=0").status_code == 404


def test_saliency_needs_a_checkpoint(client):
    assert client.get("/api/meta").json()["saliency"] == []
    response = client.get("/api/saliency/0?attribute=0")
    assert response.status_code == 404 and "checkpoint" in response.json()["detail"]


def test_only_local_host_headers_are_answered(folder):
    app = create_app(folder)
    for host in ("127.0.0.1:8050", "localhost:8050", "localhost"):
        assert TestClient(app, base_url=f"http://{host}").get("/api/meta").status_code == 200
    for host in ("attacker.example:8050", "192.168.1.20:8050", "127.0.0.1.attacker.example"):
        assert TestClient(app, base_url=f"http://{host}").get("/api/meta").status_code == 400, host
    opened = TestClient(create_app(folder, allowed_hosts=None), base_url="http://192.168.1.20:8050")
    assert opened.get("/api/meta").status_code == 200  # --host 0.0.0.0 opens it deliberately


def test_bodies_are_capped_and_bad_json_is_422(client):
    limit = 4 * 300 + 64 * 1024
    big = client.post("/api/select", content=b"\0" * (limit + 4))
    assert big.status_code == 413

    def streamed():
        for _ in range(limit // 4096 + 2):
            yield b"\0" * 4096

    assert client.post("/api/select", content=streamed()).status_code == 413  # no Content-Length
    assert client.post("/api/select", content=b"\0" * 8).status_code == 200
    headers = {"content-type": "application/json"}
    bodies = (b"{", b"[1, 2]", b'{"attributes": 5}', b'{"mode": "some"}', b'{"by": 1}', b'{"x": 1}')
    # NaN and infinity parse as JSON numbers in Python but cannot be echoed back in a JSON answer
    bodies += (b'{"attributes": [1e999]}', b'{"attributes": NaN}', b'{"mode": -Infinity}')
    for body in bodies:
        assert client.post("/api/filter", content=body, headers=headers).status_code == 422, body
    assert client.post("/api/filter", content=b"\xff", headers=headers).status_code == 400  # not UTF-8
    assert client.post("/api/filter", content=b'{"attributes": ["a0"]}', headers=headers).status_code == 200


def test_no_api_docs_and_no_absolute_paths(client, folder):
    for path in ("/docs", "/redoc", "/openapi.json"):
        assert client.get(path).status_code == 404, path
    meta = client.get("/api/meta")
    assert meta.json()["run"] == folder.parent.name
    assert str(folder.parent) not in meta.text and "/tmp" not in meta.text
    assert "content-security-policy" in meta.headers and "script-src 'self'" in meta.headers["content-security-policy"]
    with_docs = local_client(create_app(folder, api_docs=True))
    assert with_docs.get("/openapi.json").status_code == 200


def test_images_outside_the_data_folder_are_not_served(tmp_path):
    folder = write_fake_analytics(tmp_path / "run" / "analytics", n=4, attributes=ATTRIBUTES, seed=2)
    points = pd.read_parquet(folder / "points.parquet")
    secret = tmp_path / "secret.png"
    Image.fromarray(np.full((8, 8), 200, np.uint8)).save(secret)
    points.loc[0, "image"] = "../../secret.png"
    points.to_parquet(folder / "points.parquet", index=False)
    client = local_client(create_app(folder))
    response = client.get("/api/image/0")
    assert response.status_code == 404 and "outside" in response.json()["detail"]
    assert client.get("/api/image/1").status_code == 200


def test_hundred_concurrent_mixed_requests_have_no_errors(folder):
    import threading
    import time
    from concurrent.futures import ThreadPoolExecutor

    import httpx
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(create_app(folder), host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    index = np.arange(0, 300, 3, dtype="<u4").tobytes()
    requests = [
        ("GET", "/api/meta", None),
        ("GET", "/api/points", None),
        ("POST", "/api/select", index),
        ("POST", "/api/filter", json.dumps({"attributes": ["a0", "a2"], "mode": "all"}).encode()),
        ("GET", "/api/image/7", None),
    ] * 20
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as http:

            def send(request):
                method, path, body = request
                headers = {"content-type": "application/json" if path == "/api/filter" else "application/octet-stream"}
                return http.request(method, path, content=body, headers=headers).status_code

            with ThreadPoolExecutor(16) as pool:
                statuses = list(pool.map(send, requests))
    finally:
        server.should_exit = True
        thread.join(5)
    assert len(statuses) == 100 and set(statuses) == {200}, statuses


def test_built_front_end_needs_no_inline_script():
    """The Content-Security-Policy allows the app's own script files only: the built page has no inline code."""
    import re

    from matsight.analytics.server import STATIC_DIR

    index = STATIC_DIR / "index.html"
    if not index.is_file():
        pytest.skip("front end not built: run `bash scripts/build_frontend.sh`")
    html = index.read_text()
    scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", html, flags=re.S)
    assert scripts and all("src=" in attributes and not body.strip() for attributes, body in scripts)
    assert not re.search(r"\son[a-z]+\s*=", html), "inline event handler in index.html"
