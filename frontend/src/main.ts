/**
 * The app: three linked WebGL embeddings, flower overlay, filters, selections, hover, detail view.
 * Attribute names, image names and every other string from the run folder are data: they are put into
 * the page as text (`dom.ts`), never parsed as HTML.
 */
import "./style.css";
import { attributeColour, paint, ramp } from "./colors";
import { h, replace, swatch } from "./dom";
import { drawFlower, type GlyphMode } from "./flowers";
import { decodePoints, errorDistance, label, normalise, prob, SPACES, type PointData, type Space } from "./payload";
import { Scatter, type Tool } from "./scatter";

const MAX_FLOWERS = 80;
const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const value = (id: string) => ($(id) as HTMLSelectElement).value;

interface Meta {
  attributes: string[]; n: number; threshold: number; distance: string; map: number | null;
  /** the run folder's name (data: shown as text) */
  run: string;
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
  $("summary").textContent = `${meta.run} · ${data.n.toLocaleString()} images · ${meta.attributes.length} attributes` +
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
  replace($("colour-by"), h("option", { value: "error" }, "ACT–PRD error"), ...meta.attributes.flatMap((a, j) => [
    h("option", { value: `label:${j}` }, "label: ", a), h("option", { value: `prob:${j}` }, "probability: ", a)]));
  replace($("filter-attributes"), ...meta.attributes.map((a, j) =>
    h("label", {}, h("input", { type: "checkbox", value: a }), swatch(attributeColour(j)), a)));
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
  replace(tip, h("b", {}, `image ${id}`), ` · error ${state.error[id].toFixed(3)}`, h("br"),
    "labels: ", names((j) => label(data, id, j)), h("br"),
    "predicted: ", names((j) => prob(data, id, j) >= meta.threshold));
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
  const row = (name: string, r: Rates, cls = "") => h("tr", { class: cls },
    ...[name, r.tp, r.fp, r.fn, r.tn, r.precision.toFixed(3), r.recall.toFixed(3), r.f1.toFixed(3), r.accuracy.toFixed(3)]
      .map((cell) => h("td", {}, cell)));
  const header = ["attribute", "TP", "FP", "FN", "TN", "precision", "recall", "F1", "accuracy"].map((c) => h("th", {}, c));
  el.classList.remove("muted");
  el.dataset.count = String(stats.count);
  replace(el, h("div", {}, h("b", {}, stats.count.toLocaleString()), " images selected"),
    h("table", {}, h("thead", {}, h("tr", {}, ...header)),
      h("tbody", {}, row("overall (micro)", stats.overall, "overall"), ...meta.attributes.map((a) => row(a, stats.per_attribute[a])))));
}

/** Detail view (G): the image, its labels vs predictions and, with a model, the saliency map of a chosen attribute. */
function showDetail(i: number, data: PointData, meta: Meta): void {
  state.detail = i;
  document.body.dataset.detail = String(i);
  const rows = meta.attributes.map((a, j) => {
    const l = label(data, i, j), p = prob(data, i, j), predicted = p >= meta.threshold;
    const mark = l === predicted ? h("span", { class: "tick" }, "✓") : h("span", { class: "cross" }, l ? "FN" : "FP");
    const fill = h("div");
    fill.style.width = `${(p * 100).toFixed(1)}%`;
    fill.style.background = attributeColour(j);
    return h("tr", {}, h("td", {}, swatch(attributeColour(j)), " ", a), h("td", {}, l ? 1 : 0),
      h("td", {}, h("div", { class: "bar" }, fill)), h("td", {}, p.toFixed(2)), h("td", {}, mark));
  });
  const saliency: Node[] = [h("div", { class: "muted" }, "No saliency: the run folder holds no model checkpoint.")];
  if (meta.saliency.length) {
    let top = 0;
    for (let j = 1; j < meta.attributes.length; j++) if (prob(data, i, j) > prob(data, i, top)) top = j;
    const previous = document.querySelector<HTMLSelectElement>("#saliency-attribute")?.value;
    const chosen = previous ?? String(top);
    const method = document.querySelector<HTMLSelectElement>("#saliency-method")?.value ?? meta.saliency[0];
    const attributeSelect = h("select", { id: "saliency-attribute" }, ...meta.attributes.map((a, j) =>
      h("option", { value: String(j), selected: String(j) === chosen ? "" : undefined }, a)));
    const methodSelect = h("select", { id: "saliency-method" }, ...meta.saliency.map((m) =>
      h("option", { value: m, selected: m === method ? "" : undefined }, m)));
    saliency.splice(0, 1, h("label", {}, "saliency of ", attributeSelect), h("label", {}, "method ", methodSelect),
      h("img", { id: "saliency-image", alt: "saliency map" }), h("div", { class: "muted", id: "saliency-status" }));
  }
  const header = ["attribute", "label", "probability", "", ""].map((c) => h("th", {}, c));
  $("detail-body").classList.remove("muted");
  replace($("detail-body"),
    h("div", {}, h("img", { id: "detail-image", alt: `image ${i}`, src: `api/image/${i}` }),
      h("div", { class: "muted" }, `image ${i} · error ${state.error[i].toFixed(3)}`), ...saliency),
    h("table", {}, h("thead", {}, h("tr", {}, ...header)), h("tbody", {}, ...rows)));
  if (meta.saliency.length) {
    const load = () => {
      const image = $("saliency-image") as HTMLImageElement, status = $("saliency-status");
      status.textContent = "computing…";
      image.onload = () => (status.textContent = "");
      image.onerror = () => (status.textContent = "saliency failed (see the server log)");
      const query = new URLSearchParams({ attribute: value("saliency-attribute"), method: value("saliency-method") });
      image.src = `api/saliency/${i}?${query}`;
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
  $("summary").textContent = `The app failed to start: ${error}`;  // text, never markup
  console.error(error);
});
