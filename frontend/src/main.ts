/** The app: linked WebGL embeddings (regl-scatterplot), flower overlay, filters, selections, detail view. */
import createScatterplot from "regl-scatterplot";
import "./style.css";
import { attributeColour, ramp } from "./colors";
import { drawFlower, type GlyphMode } from "./flowers";
import { decodePoints, errorDistance, label, normalise, prob, SPACES, type PointData, type Space } from "./payload";

const MAX_FLOWERS = 80;
const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

interface Meta { attributes: string[]; n: number; threshold: number; distance: string; map: number | null }
interface Rates { tp: number; tn: number; fp: number; fn: number; precision: number; recall: number; f1: number; accuracy: number }
interface Stats { count: number; overall: Rates; per_attribute: Record<string, Rates> }

type Plot = ReturnType<typeof createScatterplot>;
const state = {
  plots: {} as Record<Space, Plot>,
  glyphs: {} as Record<Space, HTMLCanvasElement>,
  selection: new Uint32Array(0) as Uint32Array<ArrayBufferLike>,
  saved: new Map<string, Uint32Array<ArrayBufferLike>>(),
  error: new Float32Array(0) as Float32Array<ArrayBufferLike>,
};

async function main(): Promise<void> {
  const started = performance.now();
  const [meta, buffer] = await Promise.all([
    fetch("api/meta").then((r) => r.json() as Promise<Meta>),
    fetch("api/points").then((r) => r.arrayBuffer()),
  ]);
  const data = decodePoints(buffer);
  document.body.dataset.fetchMs = String(Math.round(performance.now() - started));
  $("summary").textContent = `${data.n.toLocaleString()} images · ${meta.attributes.length} attributes` +
    (meta.map != null ? ` · mAP ${meta.map.toFixed(3)}` : "");
  ($("distance") as HTMLSelectElement).value = meta.distance === "cosine" ? "cosine" : "euclidean";
  state.error = errorDistance(data, ($("distance") as HTMLSelectElement).value as "euclidean" | "cosine");
  buildControls(meta);
  await Promise.all(SPACES.map((space) => createPlot(space, data, meta)));
  wireControls(data, meta);
  document.body.dataset.ready = "true";
  document.body.dataset.renderMs = String(Math.round(performance.now() - started));
}

function buildControls(meta: Meta): void {
  const colourBy = $("colour-by") as HTMLSelectElement;
  colourBy.innerHTML = `<option value="error">ACT–PRD error</option>` + meta.attributes.map((a, j) =>
    `<option value="label:${j}">label: ${a}</option><option value="prob:${j}">probability: ${a}</option>`).join("");
  $("filter-attributes").innerHTML = meta.attributes.map((a, j) =>
    `<label><input type="checkbox" value="${a}" /><span class="swatch" style="background:${attributeColour(j)}"></span>${a}</label>`).join("");
}

/** Colour values in [0, 1] per point, and the palette they index. */
function colouring(data: PointData, how: string): { z: Float32Array; palette: string[] } {
  const z = new Float32Array(data.n);
  if (how === "error") {
    let max = 1e-9;
    for (const e of state.error) max = Math.max(max, e);
    state.error.forEach((e, i) => (z[i] = e / max));
    return { z, palette: ramp(64) };
  }
  const [kind, jText] = how.split(":");
  const j = Number(jText);
  for (let i = 0; i < data.n; i++) z[i] = kind === "label" ? Number(label(data, i, j)) : prob(data, i, j);
  return { z, palette: kind === "label" ? ["#c9ced6", attributeColour(j)] : ramp(64) };
}

async function createPlot(space: Space, data: PointData, meta: Meta): Promise<void> {
  const view = document.querySelector<HTMLElement>(`.view[data-space="${space}"]`)!;
  const canvas = view.querySelector<HTMLCanvasElement>("canvas.gl")!;
  const glyphs = view.querySelector<HTMLCanvasElement>("canvas.glyphs")!;
  const { width, height } = canvas.getBoundingClientRect();
  const plot = createScatterplot({
    canvas, width, height, pointSize: 4, pointSizeSelected: 2, pointOutlineWidth: 1, backgroundColor: "#ffffff",
    lassoColor: "#0072B2", lassoMinDelay: 5, lassoMinDist: 2, opacityInactiveMax: 0.25, performanceMode: data.n > 500000,
    pointColorActive: "#D55E00", pointColorHover: "#000000",
  } as any);
  state.plots[space] = plot;
  state.glyphs[space] = glyphs;
  const { x, y } = normalise(data.coords[space]);
  const { z, palette } = colouring(data, "error");
  plot.set({ colorBy: "valueA", pointColor: palette } as any);
  await plot.draw({ x, y, z } as any, { zDataType: "continuous" } as any);
  plot.subscribe("select", ({ points }: { points: number[] }) => onSelect(space, Uint32Array.from(points), data, meta));
  plot.subscribe("deselect", () => onSelect(space, new Uint32Array(0), data, meta));
  plot.subscribe("view", () => drawGlyphs(space, data, meta));
  drawGlyphs(space, data, meta);
}

function glyphMode(): GlyphMode { return ($("glyph-mode") as HTMLSelectElement).value as GlyphMode; }

/** Flowers over the points in view when few enough are visible; otherwise the overlay stays clear. */
function drawGlyphs(space: Space, data: PointData, meta: Meta): void {
  const canvas = state.glyphs[space], plot = state.plots[space];
  const ratio = window.devicePixelRatio || 1;
  const { width, height } = canvas.getBoundingClientRect();
  canvas.width = width * ratio; canvas.height = height * ratio;
  const ctx = canvas.getContext("2d")!;
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  const inView = (plot.get as any)("pointsInView") as number[];
  canvas.dataset.flowers = "0";
  if (!inView || inView.length === 0 || inView.length > MAX_FLOWERS) return;
  const r = Math.max(8, Math.min(24, Math.sqrt((width * height) / inView.length) * 0.3));
  const maxError = state.error.reduce((m, e) => Math.max(m, e), 1e-9);
  const selected = new Set(state.selection.length ? state.selection : []);
  for (const i of inView) {
    ctx.globalAlpha = selected.size && !selected.has(i) ? 0.2 : 1;
    const position = (plot as any).getScreenPosition(i) as [number, number] | undefined;
    if (!position) continue;
    const petals = meta.attributes.map((_, j) => ({ label: label(data, i, j), prob: prob(data, i, j), colour: attributeColour(j) }));
    drawFlower(ctx, position[0], position[1], r, petals, glyphMode(), state.error[i] / maxError, meta.threshold);
  }
  ctx.globalAlpha = 1;
  canvas.dataset.flowers = String(inView.length);
}

async function onSelect(source: Space, indices: Uint32Array, data: PointData, meta: Meta): Promise<void> {
  state.selection = indices;
  for (const space of SPACES) {
    if (space === source) continue;
    if (indices.length) state.plots[space].select(Array.from(indices), { preventEvent: true });
    else state.plots[space].deselect({ preventEvent: true } as any);
  }
  document.body.dataset.selected = String(indices.length);
  SPACES.forEach((s) => drawGlyphs(s, data, meta));
  if (indices.length) showDetail(Math.min(...indices.slice(0, 100000)), data, meta);
  await showStats(indices, meta);
}

async function showStats(indices: Uint32Array, meta: Meta): Promise<void> {
  const el = $("stats");
  if (!indices.length) { el.textContent = "No selection."; el.dataset.count = "0"; return; }
  const stats = (await fetch("api/select", { method: "POST", body: new Uint32Array(indices), headers: { "content-type": "application/octet-stream" } })
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

function showDetail(i: number, data: PointData, meta: Meta): void {
  const rows = meta.attributes.map((a, j) => {
    const l = label(data, i, j), p = prob(data, i, j), predicted = p >= meta.threshold;
    const mark = l === predicted ? `<span class="tick">✓</span>` : `<span class="cross">${l ? "FN" : "FP"}</span>`;
    return `<tr><td><span class="swatch" style="background:${attributeColour(j)}"></span> ${a}</td><td>${l ? 1 : 0}</td>` +
      `<td><div class="bar"><div style="width:${(p * 100).toFixed(1)}%;background:${attributeColour(j)}"></div></div></td>` +
      `<td>${p.toFixed(2)}</td><td>${mark}</td></tr>`;
  }).join("");
  $("detail-body").classList.remove("muted");
  $("detail-body").innerHTML = `<div><img id="detail-image" alt="image ${i}" src="api/image/${i}" /><div class="muted">point ${i} · error ${state.error[i].toFixed(3)}</div></div>` +
    `<table><thead><tr><th>attribute</th><th>label</th><th>probability</th><th></th><th></th></tr></thead><tbody>${rows}</tbody></table>`;
}

function wireControls(data: PointData, meta: Meta): void {
  const redrawGlyphs = () => SPACES.forEach((s) => drawGlyphs(s, data, meta));
  const recolour = async () => {
    const { z, palette } = colouring(data, ($("colour-by") as HTMLSelectElement).value);
    await Promise.all(SPACES.map(async (space) => {
      const plot = state.plots[space];
      const { x, y } = normalise(data.coords[space]);
      plot.set({ pointColor: palette } as any);
      await plot.draw({ x, y, z } as any, { zDataType: "continuous", preventFilterReset: true } as any);
      if (state.selection.length) plot.select(Array.from(state.selection), { preventEvent: true });
    }));
  };
  $("colour-by").addEventListener("change", recolour);
  $("glyph-mode").addEventListener("change", redrawGlyphs);
  $("distance").addEventListener("change", () => {
    state.error = errorDistance(data, ($("distance") as HTMLSelectElement).value as "euclidean" | "cosine");
    redrawGlyphs();
    if (($("colour-by") as HTMLSelectElement).value === "error") recolour();
  });
  $("tool").addEventListener("change", () => {
    const tool = ($("tool") as HTMLSelectElement).value;
    for (const plot of Object.values(state.plots))
      plot.set((tool === "panZoom" ? { mouseMode: "panZoom" } : { mouseMode: "lasso", lassoType: tool }) as any);
  });
  $("point-size").addEventListener("input", () => {
    for (const plot of Object.values(state.plots)) plot.set({ pointSize: Number(($("point-size") as HTMLInputElement).value) });
  });
  $("filter-apply").addEventListener("click", async () => {
    const attributes = [...document.querySelectorAll<HTMLInputElement>("#filter-attributes input:checked")].map((c) => c.value);
    const body = JSON.stringify({ attributes, mode: ($("filter-mode") as HTMLSelectElement).value, by: ($("filter-by") as HTMLSelectElement).value });
    const response = await fetch("api/filter", { method: "POST", body, headers: { "content-type": "application/json" } });
    const kept = new Uint32Array((await response.arrayBuffer()) as ArrayBuffer);
    await Promise.all(Object.values(state.plots).map((plot) => plot.filter(Array.from(kept), { preventEvent: true })));
    $("filter-count").textContent = `${kept.length.toLocaleString()} of ${data.n.toLocaleString()} images shown`;
    document.body.dataset.filtered = String(kept.length);
    redrawGlyphs();
  });
  $("filter-clear").addEventListener("click", async () => {
    await Promise.all(Object.values(state.plots).map((plot) => plot.unfilter({ preventEvent: true } as any)));
    $("filter-count").textContent = "";
    document.body.dataset.filtered = String(data.n);
    redrawGlyphs();
  });
  $("selection-save").addEventListener("click", () => {
    if (!state.selection.length) return;
    const input = $("selection-name") as HTMLInputElement;
    const name = input.value.trim() || `selection ${state.saved.size + 1}`;
    state.saved.set(name, state.selection);
    input.value = "";
    renderSaved(data, meta);
  });
  $("selection-clear").addEventListener("click", () => {
    for (const plot of Object.values(state.plots)) plot.deselect({ preventEvent: true } as any);
    onSelect("act", new Uint32Array(0), data, meta);
  });
}

function renderSaved(data: PointData, meta: Meta): void {
  const list = $("saved");
  list.innerHTML = "";
  for (const [name, indices] of state.saved) {
    const item = document.createElement("li");
    item.textContent = `${name} (${indices.length.toLocaleString()})`;
    item.addEventListener("click", () => {
      state.plots.act.select(Array.from(indices), { preventEvent: true });
      onSelect("act", indices, data, meta);
    });
    list.appendChild(item);
  }
}

main().catch((error) => {
  document.body.dataset.error = String(error);
  console.error(error);
});
