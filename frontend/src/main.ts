/** The app: three linked WebGL embeddings, flower overlay, filters, selections, hover, detail view. */
import "./style.css";
import { attributeColour, paint, ramp } from "./colors";
import { drawFlower, type GlyphMode } from "./flowers";
import { decodePoints, errorDistance, label, normalise, prob, SPACES, type PointData, type Space } from "./payload";
import { Scatter, type Tool } from "./scatter";

const MAX_FLOWERS = 80;
const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const value = (id: string) => ($(id) as HTMLSelectElement).value;

interface Meta {
  attributes: string[]; n: number; threshold: number; distance: string; map: number | null;
  /** saliency methods the server can compute ([] without a model checkpoint) */
  saliency: string[];
}
interface Rates { tp: number; tn: number; fp: number; fn: number; precision: number; recall: number; f1: number; accuracy: number }
interface Stats { count: number; overall: Rates; per_attribute: Record<string, Rates> }

const state = {
  plots: {} as Record<Space, Scatter>,
  glyphs: {} as Record<Space, HTMLCanvasElement>,
  selection: new Uint32Array(0) as Uint32Array,
  saved: new Map<string, Uint32Array>(),
  error: new Float32Array(0) as Float32Array,
  maxError: 1e-9,
  detail: -1,
};

/** Marks a stage's end (ms since navigation start) on `body[data-timings]` for the scale bench. */
const timings: Record<string, number> = {};
function mark(stage: string): void {
  timings[stage] = Math.round(performance.now());
  document.body.dataset.timings = JSON.stringify(timings);
}

async function main(): Promise<void> {
  const [meta, buffer] = await Promise.all([
    fetch("api/meta").then((r) => r.json() as Promise<Meta>),
    fetch("api/points").then((r) => r.arrayBuffer()),
  ]);
  mark("fetched");
  const data = decodePoints(buffer);
  setError(data.error);
  $("summary").textContent = `${data.n.toLocaleString()} images · ${meta.attributes.length} attributes` +
    (meta.map != null ? ` · mAP ${meta.map.toFixed(3)}` : "");
  ($("distance") as HTMLSelectElement).value = meta.distance === "cosine" ? "cosine" : "euclidean";
  buildControls(meta);
  ($("point-size") as HTMLInputElement).value = String(data.n > 200_000 ? 2 : data.n > 20_000 ? 3 : 4);
  const colours = colouring(data, "error");
  for (const space of SPACES) createPlot(space, data, meta, colours);
  mark("uploaded");
  await Promise.all(SPACES.map((space) => state.plots[space].firstFrame()));
  mark("drawn");
  wireControls(data, meta);
  SPACES.forEach((s) => drawGlyphs(s, data, meta));
  document.body.dataset.fetchMs = String(timings.fetched);
  document.body.dataset.renderMs = String(Math.round(performance.now()));
  // test hook: where point i is drawn (CSS pixels within the plot of `space`)
  (window as unknown as { matsight: object }).matsight = { position: (space: Space, i: number) => state.plots[space].toScreen(i) };
  document.body.dataset.ready = "true";
}

function setError(error: Float32Array): void {
  state.error = error;
  state.maxError = error.reduce((m, e) => (e > m ? e : m), 1e-9);
}

function buildControls(meta: Meta): void {
  $("colour-by").innerHTML = `<option value="error">ACT–PRD error</option>` + meta.attributes.map((a, j) =>
    `<option value="label:${j}">label: ${a}</option><option value="prob:${j}">probability: ${a}</option>`).join("");
  $("filter-attributes").innerHTML = meta.attributes.map((a, j) =>
    `<label><input type="checkbox" value="${a}" /><span class="swatch" style="background:${attributeColour(j)}"></span>${a}</label>`).join("");
}

/** Point colours RGBA8 [n*4] for the "colour by" choice `how` (error, label:j, prob:j). */
function colouring(data: PointData, how: string): Uint8Array {
  const z = new Float32Array(data.n);
  if (how === "error") {
    for (let i = 0; i < data.n; i++) z[i] = state.error[i] / state.maxError;
    return paint(z, ramp(64));
  }
  const [kind, jText] = how.split(":");
  const j = Number(jText);
  for (let i = 0; i < data.n; i++) z[i] = kind === "label" ? Number(label(data, i, j)) : prob(data, i, j);
  return paint(z, kind === "label" ? ["#c9ced6", attributeColour(j)] : ramp(64));
}

function createPlot(space: Space, data: PointData, meta: Meta, colours: Uint8Array): void {
  const view = document.querySelector<HTMLElement>(`.view[data-space="${space}"]`)!;
  const { x, y } = normalise(data.coords[space]);
  const plot = new Scatter(view.querySelector("canvas.gl")!, view.querySelector("canvas.lasso")!, x, y, {
    select: (ids) => select(ids, data, meta),
    hover: (id, px, py) => onHover(space, id, px, py, data, meta),
    click: (id) => showDetail(id, data, meta),
    view: () => drawGlyphs(space, data, meta),
  });
  plot.pointSize = Number(($("point-size") as HTMLInputElement).value);
  plot.setColours(colours);
  state.plots[space] = plot;
  state.glyphs[space] = view.querySelector("canvas.glyphs")!;
}

/** Flowers over the points in view when at most MAX_FLOWERS are visible; otherwise the overlay stays clear. */
function drawGlyphs(space: Space, data: PointData, meta: Meta): void {
  const canvas = state.glyphs[space], plot = state.plots[space];
  if (!canvas || !plot) return;
  const ratio = window.devicePixelRatio || 1;
  const { clientWidth: width, clientHeight: height } = canvas;
  canvas.width = width * ratio; canvas.height = height * ratio;
  const ctx = canvas.getContext("2d")!;
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  const inView = plot.pointsInView(MAX_FLOWERS);
  canvas.dataset.flowers = "0";
  if (!inView || inView.length === 0) return;
  const r = Math.max(8, Math.min(24, Math.sqrt((width * height) / inView.length) * 0.3));
  const selected = state.selection.length ? new Set(state.selection) : null;
  const mode = value("glyph-mode") as GlyphMode;
  for (const i of inView) {
    ctx.globalAlpha = selected && !selected.has(i) ? 0.2 : 1;
    const [px, py] = plot.toScreen(i);
    const petals = meta.attributes.map((_, j) => ({ label: label(data, i, j), prob: prob(data, i, j), colour: attributeColour(j) }));
    drawFlower(ctx, px, py, r, petals, mode, state.error[i] / state.maxError, meta.threshold);
  }
  ctx.globalAlpha = 1;
  canvas.dataset.flowers = String(inView.length);
}

/** The point under the cursor: ringed in all three views, a tooltip in this one. */
function onHover(space: Space, id: number, px: number, py: number, data: PointData, meta: Meta): void {
  SPACES.forEach((s) => state.plots[s].setHover(id));
  const tip = document.querySelector<HTMLElement>(`.view[data-space="${space}"] .tooltip`)!;
  document.body.dataset.hovered = String(id);
  if (id < 0) { tip.hidden = true; return; }
  const names = (pick: (j: number) => boolean) => meta.attributes.filter((_, j) => pick(j)).join(", ") || "none";
  tip.innerHTML = `<b>image ${id}</b> · error ${state.error[id].toFixed(3)}<br>labels: ${names((j) => label(data, id, j))}` +
    `<br>predicted: ${names((j) => prob(data, id, j) >= meta.threshold)}`;
  tip.style.left = `${px + 12}px`; tip.style.top = `${py + 12}px`;
  tip.hidden = false;
}

/** Makes `indices` (ascending) the selection: highlighted in all views, its statistics and first image shown. */
async function select(indices: Uint32Array, data: PointData, meta: Meta): Promise<void> {
  SPACES.forEach((s) => state.plots[s].setSelection(indices));
  state.selection = indices;
  document.body.dataset.selected = String(indices.length);
  SPACES.forEach((s) => drawGlyphs(s, data, meta));
  if (indices.length) showDetail(indices[0], data, meta);  // ids are ascending: the first is the smallest
  await showStats(indices, meta);
}

async function showStats(indices: Uint32Array, meta: Meta): Promise<void> {
  const el = $("stats");
  if (!indices.length) { el.textContent = "No selection."; el.dataset.count = "0"; return; }
  const stats = (await fetch("api/select", { method: "POST", body: indices.slice(), headers: { "content-type": "application/octet-stream" } })
    .then((r) => r.json())) as Stats;
  const row = (name: string, r: Rates, cls = "") =>
    `<tr class="${cls}"><td>${name}</td><td>${r.tp}</td><td>${r.fp}</td><td>${r.fn}</td><td>${r.tn}</td>` +
    `<td>${r.precision.toFixed(3)}</td><td>${r.recall.toFixed(3)}</td><td>${r.f1.toFixed(3)}</td><td>${r.accuracy.toFixed(3)}</td></tr>`;
  el.classList.remove("muted");
  el.dataset.count = String(stats.count);
  el.innerHTML = `<div><b>${stats.count.toLocaleString()}</b> images selected</div><table><thead><tr><th>attribute</th><th>TP</th><th>FP</th>` +
    `<th>FN</th><th>TN</th><th>precision</th><th>recall</th><th>F1</th><th>accuracy</th></tr></thead><tbody>` +
    row("overall (micro)", stats.overall, "overall") + meta.attributes.map((a) => row(a, stats.per_attribute[a])).join("") + "</tbody></table>";
}

/** Detail view (G): the image, its labels vs predictions and, with a model, the saliency map of a chosen attribute. */
function showDetail(i: number, data: PointData, meta: Meta): void {
  state.detail = i;
  document.body.dataset.detail = String(i);
  const rows = meta.attributes.map((a, j) => {
    const l = label(data, i, j), p = prob(data, i, j), predicted = p >= meta.threshold;
    const mark = l === predicted ? `<span class="tick">✓</span>` : `<span class="cross">${l ? "FN" : "FP"}</span>`;
    return `<tr><td><span class="swatch" style="background:${attributeColour(j)}"></span> ${a}</td><td>${l ? 1 : 0}</td>` +
      `<td><div class="bar"><div style="width:${(p * 100).toFixed(1)}%;background:${attributeColour(j)}"></div></div></td>` +
      `<td>${p.toFixed(2)}</td><td>${mark}</td></tr>`;
  }).join("");
  let saliency = `<div class="muted">No saliency: the run folder holds no model checkpoint.</div>`;
  if (meta.saliency.length) {
    let top = 0;
    for (let j = 1; j < meta.attributes.length; j++) if (prob(data, i, j) > prob(data, i, top)) top = j;
    const previous = document.querySelector<HTMLSelectElement>("#saliency-attribute")?.value;
    const chosen = previous ?? String(top);
    const method = document.querySelector<HTMLSelectElement>("#saliency-method")?.value ?? meta.saliency[0];
    saliency = `<label>saliency of <select id="saliency-attribute">${meta.attributes.map((a, j) =>
      `<option value="${j}"${String(j) === chosen ? " selected" : ""}>${a}</option>`).join("")}</select></label>` +
      `<label>method <select id="saliency-method">${meta.saliency.map((m) =>
        `<option${m === method ? " selected" : ""}>${m}</option>`).join("")}</select></label>` +
      `<img id="saliency-image" alt="saliency map" /><div class="muted" id="saliency-status"></div>`;
  }
  $("detail-body").classList.remove("muted");
  $("detail-body").innerHTML = `<div><img id="detail-image" alt="image ${i}" src="api/image/${i}" />` +
    `<div class="muted">image ${i} · error ${state.error[i].toFixed(3)}</div>${saliency}</div>` +
    `<table><thead><tr><th>attribute</th><th>label</th><th>probability</th><th></th><th></th></tr></thead><tbody>${rows}</tbody></table>`;
  if (meta.saliency.length) {
    const load = () => {
      const image = $("saliency-image") as HTMLImageElement, status = $("saliency-status");
      status.textContent = "computing…";
      image.onload = () => (status.textContent = "");
      image.onerror = () => (status.textContent = "saliency failed (see the server log)");
      image.src = `api/saliency/${i}?attribute=${value("saliency-attribute")}&method=${encodeURIComponent(value("saliency-method"))}`;
    };
    $("saliency-attribute").addEventListener("change", load);
    $("saliency-method").addEventListener("change", load);
    load();
  }
}

function wireControls(data: PointData, meta: Meta): void {
  const plots = () => SPACES.map((s) => state.plots[s]);
  const redrawGlyphs = () => SPACES.forEach((s) => drawGlyphs(s, data, meta));
  const recolour = () => {
    const colours = colouring(data, value("colour-by"));
    plots().forEach((plot) => plot.setColours(colours));
  };
  window.addEventListener("resize", () => { plots().forEach((plot) => plot.render()); redrawGlyphs(); });
  $("colour-by").addEventListener("change", recolour);
  $("glyph-mode").addEventListener("change", redrawGlyphs);
  $("distance").addEventListener("change", () => {
    setError(errorDistance(data, value("distance") as "euclidean" | "cosine"));
    redrawGlyphs();
    if (value("colour-by") === "error") recolour();
  });
  $("tool").addEventListener("change", () => plots().forEach((plot) => (plot.tool = value("tool") as Tool)));
  $("point-size").addEventListener("input", () => plots().forEach((plot) => {
    plot.pointSize = Number(($("point-size") as HTMLInputElement).value);
    plot.render();
  }));
  $("filter-apply").addEventListener("click", async () => {
    const attributes = [...document.querySelectorAll<HTMLInputElement>("#filter-attributes input:checked")].map((c) => c.value);
    const body = JSON.stringify({ attributes, mode: value("filter-mode"), by: value("filter-by") });
    const response = await fetch("api/filter", { method: "POST", body, headers: { "content-type": "application/json" } });
    const kept = new Uint32Array(await response.arrayBuffer());
    const hidden = new Uint8Array(data.n).fill(1);
    for (const i of kept) hidden[i] = 0;
    plots().forEach((plot) => plot.setHidden(hidden));
    $("filter-count").textContent = `${kept.length.toLocaleString()} of ${data.n.toLocaleString()} images shown`;
    document.body.dataset.filtered = String(kept.length);
  });
  $("filter-clear").addEventListener("click", () => {
    plots().forEach((plot) => plot.setHidden(null));
    $("filter-count").textContent = "";
    document.body.dataset.filtered = String(data.n);
  });
  $("selection-save").addEventListener("click", () => {
    if (!state.selection.length) return;
    const input = $("selection-name") as HTMLInputElement;
    const name = input.value.trim() || `selection ${state.saved.size + 1}`;
    state.saved.set(name, state.selection);
    input.value = "";
    const item = document.createElement("li");
    item.textContent = `${name} (${state.selection.length.toLocaleString()})`;
    const indices = state.selection;
    item.addEventListener("click", () => select(indices, data, meta));
    $("saved").appendChild(item);
  });
  $("selection-clear").addEventListener("click", () => select(new Uint32Array(0), data, meta));
}

main().catch((error) => {
  document.body.dataset.error = String(error);
  $("summary").textContent = `The app failed to start: ${error}`;
  console.error(error);
});
