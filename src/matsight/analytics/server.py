"""FastAPI server of the visual-analytics app: the built front end plus a small binary API.

Endpoints (``N`` points, ``K <= 32`` attributes):

- ``GET /api/meta`` — attributes, ``n``, threshold, distance, run, mAP, per-attribute metrics.
- ``GET /api/points`` — one binary payload (little-endian): ``uint32`` header length ``H``, ``H`` bytes of
  JSON ``{"n", "k", "arrays": [{"name", "dtype", "offset", "length"}]}``, then the arrays (offsets from the
  start of the data block, 4-byte aligned): ``act``/``fea``/``prd`` ``uint16 [N*2]`` (x, y interleaved,
  quantised by :func:`quantise`; their entries add ``centre`` and ``span`` to undo it),
  ``error float32 [N]``, ``labels uint32 [N]`` (bit j = label of attribute j), ``probs uint8 [N*K]``
  (probability * 255, rounded).
- ``POST /api/select`` — body: raw ``uint32`` point indices; returns TP/TN/FP/FN, precision, recall, F1,
  accuracy overall (micro over attributes) and per attribute, computed with numpy.
- ``POST /api/filter`` — JSON ``{"attributes": [...], "mode": "any"|"all", "by": "label"|"prediction"}``;
  returns raw ``uint32`` indices of the matching points (malformed or wrongly typed JSON: 422).
- ``GET /api/image/{i}`` — the image of point ``i``, log-scaled, as 8-bit PNG.
- ``GET /api/saliency/{i}?attribute=k[&method=fastcam-gradcam]`` — the saliency map of the run's model
  for attribute ``k`` (index) over point ``i``'s image (the model's evaluation crop), as an RGB PNG
  overlay; cached. 404 when the run holds no checkpoint (``/api/meta`` lists the methods, or ``[]``).

Hardening (the app is local unless opened deliberately): requests whose ``Host`` header is not one of
``allowed_hosts`` get 400 (a web page elsewhere cannot read the API through DNS rebinding); request
bodies larger than what a selection of every point needs get 413; the interactive API docs are off
unless ``api_docs``; responses name the run and images relative to their folders, never by absolute
path; images are served only from inside the data folder; every response carries a
Content-Security-Policy that allows the app's own scripts only.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict
from starlette.middleware.trustedhost import TrustedHostMiddleware

from matsight.analytics.saliency_overlay import METHODS as SALIENCY_METHODS
from matsight.analytics.saliency_overlay import SaliencyOverlays, log_grey, png_bytes
from matsight.analytics.schema import SPACES, label_column, prob_column
from matsight.errors import DataLayoutError, UserError

STATIC_DIR = Path(__file__).parent / "static"
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")
SMALL_BODY = 64 * 1024  # bytes: any request but a selection
SECURITY_HEADERS = {
    "content-security-policy": "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; "
    "script-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
}


class FilterSpec(BaseModel):
    """Body of ``POST /api/filter``."""

    model_config = ConfigDict(extra="forbid")
    attributes: list[str] = []
    mode: Literal["any", "all"] = "any"
    by: Literal["label", "prediction"] = "label"


class AnalyticsData:
    """The analytics folder in memory: ``labels bool [N, K]``, ``predicted bool [N, K]``, coordinates;
    ``saliency`` overlays (on ``device``) when the run folder holds the model."""

    def __init__(self, folder: str | Path, device: str = "cpu"):
        folder = Path(folder)
        points_path, meta_path = folder / "points.parquet", folder / "analytics.json"
        for path in (points_path, meta_path):
            if not path.is_file():
                raise DataLayoutError(f"{path}: missing; run `matsight analytics RUN` first to compute the app's data")
        self.folder = folder
        self.meta = json.loads(meta_path.read_text())
        self.attributes: list[str] = list(self.meta["attributes"])
        if len(self.attributes) > 32:
            raise DataLayoutError(f"{meta_path}: {len(self.attributes)} attributes; the app handles at most 32")
        points = pd.read_parquet(points_path)
        missing = [c for a in self.attributes for c in (label_column(a), prob_column(a)) if c not in points]
        if missing:
            raise DataLayoutError(f"{points_path}: missing columns {missing[:4]}; recompute the analytics")
        self.images = points["image"].astype(str).to_numpy()
        self.n = len(points)
        self.threshold = float(self.meta.get("threshold", 0.5))
        self.coordinates = {s: np.ascontiguousarray(points[[f"{s}_x", f"{s}_y"]].to_numpy(np.float32)) for s in SPACES}
        self.error = points["error"].to_numpy(np.float32)
        self.labels = points[[label_column(a) for a in self.attributes]].to_numpy(np.uint8).astype(bool)
        self.probs = points[[prob_column(a) for a in self.attributes]].to_numpy(np.float32)
        self.predicted = self.probs >= self.threshold
        self._pad = -self.n % 64
        self._label_bits, self._predicted_bits = (
            _pack_columns(self.labels, self._pad),
            _pack_columns(self.predicted, self._pad),
        )
        self.image_root = Path(self.meta["data_root"]) / "images"
        run = Path(self.meta.get("run") or folder.parent)
        self.run_name = run.name
        self.saliency = SaliencyOverlays(run, self.image_root, device) if SaliencyOverlays.available(run) else None

    def payload(self) -> bytes:
        """The binary ``/api/points`` payload (layout in the module docstring)."""
        bits = (self.labels.astype(np.uint32) << np.arange(len(self.attributes), dtype=np.uint32)).sum(1)
        coordinates = {s: quantise(self.coordinates[s]) for s in SPACES}
        arrays = [
            *((s, coordinates[s][0]) for s in SPACES),
            ("error", self.error),
            ("labels", bits.astype(np.uint32)),
            ("probs", np.rint(self.probs * 255).astype(np.uint8).ravel()),
        ]
        entries, blocks, offset = [], [], 0
        for name, array in arrays:
            raw = array.astype(array.dtype.newbyteorder("<")).tobytes()
            entries.append(
                {
                    "name": name,
                    "dtype": str(array.dtype),
                    "offset": offset,
                    "length": int(array.size),
                    **(coordinates[name][1] if name in coordinates else {}),
                }
            )
            padded = raw + b"\0" * (-len(raw) % 4)
            blocks.append(padded)
            offset += len(padded)
        header = json.dumps({"n": self.n, "k": len(self.attributes), "arrays": entries}).encode()
        header += b" " * (-len(header) % 4)
        return np.uint32(len(header)).tobytes() + header + b"".join(blocks)

    def select(self, indices: np.ndarray) -> dict:
        """Confusion counts and rates of the points ``indices`` (``int [M]``, duplicates count once),
        overall (micro over attributes) and per attribute."""
        if indices.size and (indices.max() >= self.n):
            raise HTTPException(400, f"index {int(indices.max())} out of range (n = {self.n})")
        # bit-packed along points (uint64 words): three AND + popcount passes over n/8 bytes per attribute
        mask = np.zeros(self.n + self._pad, dtype=bool)
        mask[indices] = True
        chosen = np.packbits(mask, bitorder="little").view(np.uint64)
        labels, predicted = self._label_bits & chosen, self._predicted_bits
        tp = np.bitwise_count(labels & predicted).sum(1)
        fn = np.bitwise_count(labels & ~predicted).sum(1)
        fp = np.bitwise_count(~self._label_bits & predicted & chosen).sum(1)
        tn = int(np.count_nonzero(mask)) - tp - fp - fn
        per = {a: _rates(tp[j], tn[j], fp[j], fn[j]) for j, a in enumerate(self.attributes)}
        return {
            "count": int(np.count_nonzero(mask)),
            "overall": _rates(tp.sum(), tn.sum(), fp.sum(), fn.sum()),
            "per_attribute": per,
        }

    def filter(self, attributes: list[str], mode: str = "any", by: str = "label") -> np.ndarray:
        """Indices ``uint32 [M]`` of points with any/all of ``attributes`` true by label or prediction."""
        unknown = [a for a in attributes if a not in self.attributes]
        if unknown or mode not in ("any", "all") or by not in ("label", "prediction"):
            raise HTTPException(
                400, f"bad filter: unknown attributes {unknown}, mode {mode!r} (any/all), by {by!r} (label/prediction)"
            )
        if not attributes:
            return np.arange(self.n, dtype=np.uint32)
        columns = [self.attributes.index(a) for a in attributes]
        values = (self.labels if by == "label" else self.predicted)[:, columns]
        keep = values.any(1) if mode == "any" else values.all(1)
        return np.flatnonzero(keep).astype(np.uint32)

    def image_png(self, i: int) -> bytes:
        """Point ``i``'s image, ``log1p``-scaled to 8-bit grey PNG."""
        from matsight.data.images import read_image

        path = self._image_path(i)
        try:
            return png_bytes(log_grey(read_image(path, channels=1)[0]))
        except UserError:
            raise HTTPException(404, f"image {i} ({self.images[i]}) cannot be read") from None

    def saliency_png(self, i: int, attribute: int, method: str) -> bytes:
        """PNG overlay of ``method``'s saliency map for ``attribute`` (index) on point ``i``'s image."""
        self._image_path(i)
        if self.saliency is None:
            raise HTTPException(404, f"no saliency: the run {self.run_name} holds no checkpoint.pt")
        if not 0 <= attribute < len(self.attributes) or method not in SALIENCY_METHODS:
            raise HTTPException(
                400,
                f"attribute must be 0..{len(self.attributes) - 1} (got {attribute}), "
                f"method one of {', '.join(SALIENCY_METHODS)} (got {method!r})",
            )
        try:
            return self.saliency.png(str(self.images[i]), attribute, method)
        except UserError:
            raise HTTPException(404, f"image {i} ({self.images[i]}) cannot be read or explained") from None

    def _image_path(self, i: int) -> Path:
        """Point ``i``'s image file; 404 for a point that does not exist or a name that leads outside the
        data folder (``points.parquet`` comes with the run folder: it is data, not a licence to read files)."""
        if not 0 <= i < self.n:
            raise HTTPException(404, f"no point {i} (n = {self.n})")
        path = self.image_root / self.images[i]
        if not path.resolve().is_relative_to(self.image_root.resolve()):
            raise HTTPException(404, f"image {i} lies outside the data folder")
        return path

    def selection_limit(self) -> int:
        """Largest request body the app accepts: every point's index as uint32, plus slack."""
        return 4 * self.n + SMALL_BODY


def quantise(xy: np.ndarray) -> tuple[np.ndarray, dict]:
    """``float32 [N, 2]`` → ``uint16 [N*2]`` (x, y interleaved) and ``{"centre": [cx, cy], "span": s}``:
    both axes share one scale, the longer extent spans 0..65535 and the shorter is centred, so
    ``xy ≈ (q / 65535 - 0.5) * span + centre`` (error ≤ span / 131070)."""
    low, high = xy.min(0), xy.max(0)
    centre, span = (low + high) / 2, max(float((high - low).max()), 1e-12)
    q = np.rint(((xy - centre) / span + 0.5) * 65535).clip(0, 65535).astype(np.uint16)
    return q.ravel(), {"centre": [float(c) for c in centre], "span": span}


def _pack_columns(values: np.ndarray, pad: int) -> np.ndarray:
    """``bool [N, K]`` → ``uint64 [K, (N + pad) / 64]``: each column's bits packed along the points."""
    padded = np.pad(values, ((0, pad), (0, 0)))
    return np.ascontiguousarray(np.packbits(padded.T, axis=1, bitorder="little")).view(np.uint64)


def _rates(tp, tn, fp, fn) -> dict:
    tp, tn, fp, fn = int(tp), int(tn), int(fp), int(fn)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    total = tp + tn + fp + fn
    return {
        "tp": tp,
        "tn": tn,
        "fp": fp,
        "fn": fn,
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "accuracy": (tp + tn) / total if total else 0.0,
    }


class BodyLimit:
    """ASGI middleware: answers 413 to a request whose body exceeds ``max_bytes`` (declared or streamed)."""

    def __init__(self, app, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            return await _too_large(self.max_bytes, send)
        seen = 0

        async def counted():
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.max_bytes:
                raise _BodyTooLarge(413, f"request body larger than {self.max_bytes} bytes")
            return message

        try:
            await self.app(scope, counted, send)
        except _BodyTooLarge:
            await _too_large(self.max_bytes, send)


class _BodyTooLarge(HTTPException):
    """A streamed body ran past the limit (an HTTPException, so FastAPI answers 413 where it reads bodies)."""


async def _too_large(limit: int, send) -> None:
    body = json.dumps({"detail": f"request body larger than {limit} bytes"}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def create_app(
    analytics_dir: str | Path,
    device: str = "cpu",
    allowed_hosts: tuple[str, ...] | None = LOCAL_HOSTS,
    api_docs: bool = False,
) -> FastAPI:
    """The app for one analytics folder (``<run>/analytics``); the payload is built once, at start-up.
    Saliency maps are computed on ``device``. ``allowed_hosts``: the ``Host`` headers answered (None:
    any, for an app opened to the network deliberately); ``api_docs``: serve ``/docs`` and ``/redoc``."""
    data = AnalyticsData(analytics_dir, device)
    payload = data.payload()
    docs = {} if api_docs else {"docs_url": None, "redoc_url": None, "openapi_url": None}
    app = FastAPI(title="matsight app", **docs)
    app.state.data = data
    app.add_middleware(BodyLimit, max_bytes=data.selection_limit())
    if allowed_hosts is not None:
        app.add_middleware(TrustedHostMiddleware, allowed_hosts=list(allowed_hosts))

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        # what was wrong and where, without echoing the input: NaN or infinity in it cannot be JSON
        fields = ("loc", "msg", "type")
        detail = [{key: error.get(key) for key in fields} for error in exc.errors()]
        return JSONResponse({"detail": detail}, status_code=422)

    @app.middleware("http")
    async def security_headers(request: Request, call_next):
        response = await call_next(request)
        response.headers.update(SECURITY_HEADERS)
        return response

    @app.get("/api/meta")
    def meta() -> JSONResponse:
        keys = ("distance", "threshold", "map", "per_attribute")
        saliency = list(SALIENCY_METHODS) if data.saliency is not None else []
        return JSONResponse(
            {
                "attributes": data.attributes,
                "n": data.n,
                "saliency": saliency,
                "run": data.run_name,
                **{k: data.meta.get(k) for k in keys},
            }
        )

    @app.get("/api/points")
    def points() -> Response:
        return Response(payload, media_type="application/octet-stream")

    @app.post("/api/select")
    async def select(request: Request) -> JSONResponse:
        body = await request.body()
        if len(body) % 4:
            raise HTTPException(400, "body must be raw little-endian uint32 indices")
        return JSONResponse(data.select(np.frombuffer(body, dtype="<u4")))

    @app.post("/api/filter")
    def filter_(spec: FilterSpec) -> Response:
        indices = data.filter(spec.attributes, spec.mode, spec.by)
        return Response(indices.astype("<u4").tobytes(), media_type="application/octet-stream")

    @app.get("/api/image/{i}")
    def image(i: int) -> Response:
        return Response(data.image_png(i), media_type="image/png")

    @app.get("/api/saliency/{i}")
    def saliency(i: int, attribute: int, method: str = SALIENCY_METHODS[0]) -> Response:
        return Response(
            data.saliency_png(i, attribute, method), media_type="image/png", headers={"cache-control": "max-age=3600"}
        )

    if (STATIC_DIR / "index.html").is_file():
        app.mount("/", StaticFiles(directory=STATIC_DIR, html=True), name="static")
    else:

        @app.get("/")
        def missing_frontend() -> HTMLResponse:
            return HTMLResponse(
                "<p>The front end is not built: run <code>bash scripts/build_frontend.sh</code>.</p>", status_code=503
            )

    return app
