/**
 * One WebGL2 scatter plot for up to millions of points, fed straight from typed arrays (x, y in
 * [-1, 1], a colour per point); the GPU buffers are written once and only the colour and selection
 * buffers change afterwards. Draws on demand (one frame per change), with pan (drag), zoom
 * (wheel, about the cursor), a lasso or box drawn on an overlay canvas, hover and click picking through
 * a GridIndex. Selected points are drawn on top, bigger; with a selection the others fade.
 *
 * Each frame draws only the points on top at their centre pixel (`topPoints`, one O(n) pass over the
 * typed arrays): at most one point per device pixel reaches the GPU, so a million overlapping points
 * cost what ~100k do (this matters most for software WebGL, e.g. SwiftShader).
 */
import { GridIndex } from "./grid";

/** Deepest zoom: the view then spans 1/500 of the data's extent, ~130 steps of its 16-bit coordinates. */
const MAX_ZOOM = 500;

export type Tool = "panZoom" | "freeform" | "rectangle";

export interface ScatterEvents {
  /** A lasso or box ended: ids of the points inside (ascending). */
  select(ids: Uint32Array): void;
  /** The cursor moved onto point `id` (-1: onto none); `x`, `y` in CSS pixels in the plot. */
  hover(id: number, x: number, y: number): void;
  /** A click (no drag) on point `id`. */
  click(id: number): void;
  /** The camera changed. */
  view(): void;
}

const VERTEX = `#version 300 es
in float a_x; in float a_y; in vec4 a_colour; in float a_selected;
uniform vec2 u_centre; uniform vec2 u_scale; uniform float u_size; uniform bool u_ring; uniform bool u_faded;
out vec4 v_colour;
void main() {
  gl_Position = vec4((vec2(a_x, a_y) - u_centre) * u_scale, 0.0, 1.0);
  vec3 colour = a_colour.rgb;
  if (u_ring) { colour = vec3(0.0); gl_PointSize = u_size + 6.0; }
  else if (a_selected > 0.5) { colour = vec3(0.835, 0.369, 0.0); gl_PointSize = u_size + 2.0; }
  else { gl_PointSize = u_size; if (u_faded) colour = mix(colour, vec3(1.0), 0.75); }
  v_colour = vec4(colour, 1.0);
}`;

const FRAGMENT = `#version 300 es
precision mediump float;
in vec4 v_colour; out vec4 colour; uniform bool u_round;
void main() {
  if (!u_round) { colour = v_colour; return; }
  vec2 p = gl_PointCoord * 2.0 - 1.0;
  float r = dot(p, p);
  if (r > 1.0) discard;
  colour = vec4(v_colour.rgb * (r > 0.55 ? 0.8 : 1.0), 1.0);
}`;

function compile(gl: WebGL2RenderingContext): WebGLProgram {
  const program = gl.createProgram()!;
  for (const [type, source] of [[gl.VERTEX_SHADER, VERTEX], [gl.FRAGMENT_SHADER, FRAGMENT]] as const) {
    const shader = gl.createShader(type)!;
    gl.shaderSource(shader, source);
    gl.compileShader(shader);
    if (!gl.getShaderParameter(shader, gl.COMPILE_STATUS)) throw new Error(gl.getShaderInfoLog(shader) ?? "shader");
    gl.attachShader(program, shader);
  }
  gl.linkProgram(program);
  if (!gl.getProgramParameter(program, gl.LINK_STATUS)) throw new Error(gl.getProgramInfoLog(program) ?? "link");
  return program;
}

/**
 * The points to draw for a W × H (device pixels) view at centre (cx, cy) and scale (sx, sy) (data →
 * clip units): per pixel, the last visible point whose centre falls in it — unselected points first,
 * then selected ones (drawn on top). Points that are hidden (`hidden[i] = 1`), out of view, or covered
 * at their centre pixel by a later point are left out. Returns ids, uint32 [<= 2·W·H].
 */
export function topPoints(x: Float32Array, y: Float32Array, selected: Uint8Array, hidden: Uint8Array | null,
                          cx: number, cy: number, sx: number, sy: number, width: number, height: number): Uint32Array {
  const base = new Int32Array(width * height).fill(-1), top = new Int32Array(width * height).fill(-1);
  const ax = sx * width / 2, bx = width / 2 - cx * ax, ay = -sy * height / 2, by = height / 2 - cy * ay;
  for (let i = 0; i < x.length; i++) {
    if (hidden !== null && hidden[i]) continue;
    const px = Math.floor(x[i] * ax + bx), py = Math.floor(y[i] * ay + by);
    if (px < 0 || px >= width || py < 0 || py >= height) continue;
    (selected[i] ? top : base)[py * width + px] = i;
  }
  let count = 0;
  for (let c = 0; c < base.length; c++) count += Number(base[c] >= 0) + Number(top[c] >= 0);
  const out = new Uint32Array(count);
  let k = 0;
  for (const layer of [base, top]) for (let c = 0; c < layer.length; c++) if (layer[c] >= 0) out[k++] = layer[c];
  return out;
}

export class Scatter {
  readonly index: GridIndex;
  tool: Tool = "panZoom";
  pointSize = 3;
  /** View centre (data units) and zoom (1 = the [-1, 1] square fills the shorter side). */
  camera = { cx: 0, cy: 0, zoom: 1 };
  selection: Uint32Array = new Uint32Array(0);
  hovered = -1;
  private gl: WebGL2RenderingContext;
  private program: WebGLProgram;
  private vao: WebGLVertexArrayObject;
  private buffers: Record<"colour" | "selected" | "drawn" | "hover", WebGLBuffer>;
  /** 1 = selected, uint8 [n] */
  private selected: Uint8Array;
  private hidden: Uint8Array | null = null;
  /** Ids drawn by the last frame and what they were computed for (camera, size, selection/filter version). */
  private drawList: Uint32Array = new Uint32Array(0);
  private drawKey = "";
  private version = 0;
  private pending = false;
  private firstDrawn = false;
  private drawn: Promise<void>;
  private resolveDrawn!: () => void;

  constructor(readonly canvas: HTMLCanvasElement, readonly overlay: HTMLCanvasElement, readonly x: Float32Array,
              readonly y: Float32Array, private events: ScatterEvents) {
    const gl = canvas.getContext("webgl2", { antialias: false, preserveDrawingBuffer: true });
    if (!gl) throw new Error("WebGL2 is not available in this browser");
    this.gl = gl;
    this.program = compile(gl);
    this.index = new GridIndex(x, y);
    this.selected = new Uint8Array(x.length);
    this.vao = gl.createVertexArray()!;
    gl.bindVertexArray(this.vao);
    const attribute = (name: string, data: ArrayBufferView, type: number, usage: number, size = 1): WebGLBuffer => {
      const buffer = gl.createBuffer()!, location = gl.getAttribLocation(this.program, name);
      gl.bindBuffer(gl.ARRAY_BUFFER, buffer);
      gl.bufferData(gl.ARRAY_BUFFER, data, usage);
      gl.enableVertexAttribArray(location);
      gl.vertexAttribPointer(location, size, type, size === 4, 0, 0);
      return buffer;
    };
    attribute("a_x", x, gl.FLOAT, gl.STATIC_DRAW);
    attribute("a_y", y, gl.FLOAT, gl.STATIC_DRAW);
    this.buffers = {
      colour: attribute("a_colour", new Uint8Array(4 * x.length), gl.UNSIGNED_BYTE, gl.DYNAMIC_DRAW, 4),
      selected: attribute("a_selected", this.selected, gl.UNSIGNED_BYTE, gl.DYNAMIC_DRAW),
      drawn: gl.createBuffer()!,
      hover: gl.createBuffer()!,
    };
    this.drawn = new Promise((resolve) => (this.resolveDrawn = resolve));
    this.resize();
    this.listen();
  }

  /** Resolves once a frame has been drawn and read back (the GPU really finished it). */
  firstFrame(): Promise<void> { return this.drawn; }

  /** Colour of each point: RGBA8 [n*4] (see `paint`). */
  setColours(rgba: Uint8Array): void {
    const gl = this.gl;
    gl.bindBuffer(gl.ARRAY_BUFFER, this.buffers.colour);
    gl.bufferData(gl.ARRAY_BUFFER, rgba, gl.DYNAMIC_DRAW);
    this.render();
  }

  /** Highlights `ids` (drawn on top, the rest faded when non-empty). */
  setSelection(ids: Uint32Array): void {
    for (const i of this.selection) this.selected[i] = 0;
    for (const i of ids) this.selected[i] = 1;
    this.selection = ids;
    const gl = this.gl;
    gl.bindBuffer(gl.ARRAY_BUFFER, this.buffers.selected);
    gl.bufferData(gl.ARRAY_BUFFER, this.selected, gl.DYNAMIC_DRAW);
    this.version++;
    this.render();
  }

  /** Hides points with `hidden[i] = 1` (uint8 [n]) from drawing and picking; null shows all. */
  setHidden(hidden: Uint8Array | null): void {
    this.hidden = this.index.hidden = hidden;
    this.version++;
    this.render();
    this.events.view();
  }

  /** Marks point `id` (-1: none) with a black ring. */
  setHover(id: number): void {
    if (id === this.hovered) return;
    this.hovered = id;
    if (id >= 0) {
      const gl = this.gl;
      gl.bindBuffer(gl.ELEMENT_ARRAY_BUFFER, this.buffers.hover);
      gl.bufferData(gl.ELEMENT_ARRAY_BUFFER, new Uint32Array([id]), gl.DYNAMIC_DRAW);
    }
    this.render();
  }

  /** Scale from data units to clip space per axis. */
  private scale(): [number, number] {
    const { width, height } = this.canvas, side = Math.min(width, height) * this.camera.zoom;
    return [side / width, side / height];
  }

  /** Point `i`'s position in CSS pixels within the plot. */
  toScreen(i: number): [number, number] {
    const [sx, sy] = this.scale(), { clientWidth: w, clientHeight: h } = this.canvas;
    return [((this.x[i] - this.camera.cx) * sx + 1) * w / 2, (1 - (this.y[i] - this.camera.cy) * sy) * h / 2];
  }

  /** Data coordinates of a position in CSS pixels within the plot. */
  toData(px: number, py: number): [number, number] {
    const [sx, sy] = this.scale(), { clientWidth: w, clientHeight: h } = this.canvas;
    return [(px / w * 2 - 1) / sx + this.camera.cx, (1 - py / h * 2) / sy + this.camera.cy];
  }

  /** Ids of the visible points in view, or null when more than `limit`. */
  pointsInView(limit: number): Uint32Array | null {
    const { clientWidth: w, clientHeight: h } = this.canvas;
    const [x0, y1] = this.toData(0, 0), [x1, y0] = this.toData(w, h);
    return this.index.inRect(x0, y0, x1, y1, limit);
  }

  /** Schedules one frame. */
  render(): void {
    if (this.pending) return;
    this.pending = true;
    requestAnimationFrame(() => { this.pending = false; this.frame(); });
  }

  /** Matches the drawing buffer to the canvas's CSS size times the device pixel ratio. */
  private resize(): void {
    const ratio = window.devicePixelRatio || 1;
    const width = Math.max(1, Math.round(this.canvas.clientWidth * ratio)), height = Math.max(1, Math.round(this.canvas.clientHeight * ratio));
    if (this.canvas.width !== width || this.canvas.height !== height) { this.canvas.width = width; this.canvas.height = height; }
  }

  private frame(): void {
    const gl = this.gl, ratio = window.devicePixelRatio || 1;
    this.resize();
    gl.viewport(0, 0, this.canvas.width, this.canvas.height);
    gl.clearColor(1, 1, 1, 1);
    gl.clear(gl.COLOR_BUFFER_BIT);
    gl.useProgram(this.program);
    gl.bindVertexArray(this.vao);
    const u = (name: string) => gl.getUniformLocation(this.program, name);
    gl.uniform2f(u("u_centre"), this.camera.cx, this.camera.cy);
    gl.uniform2f(u("u_scale"), ...this.scale());
    gl.uniform1f(u("u_size"), this.pointSize * ratio);
    gl.uniform1i(u("u_round"), this.pointSize * ratio > 2.5 ? 1 : 0);  // tiny points: plain squares, no discard
    gl.uniform1i(u("u_faded"), this.selection.length ? 1 : 0);
    gl.uniform1i(u("u_ring"), 0);
    const [sx, sy] = this.scale(), { width, height } = this.canvas;
    const key = [this.camera.cx, this.camera.cy, sx, sy, width, height, this.version].join();
    gl.bindBuffer(gl.ELEMENT_ARRAY_BUFFER, this.buffers.drawn);
    if (key !== this.drawKey) {
      this.drawList = topPoints(this.x, this.y, this.selected, this.hidden, this.camera.cx, this.camera.cy, sx, sy, width, height);
      gl.bufferData(gl.ELEMENT_ARRAY_BUFFER, this.drawList, gl.DYNAMIC_DRAW);
      this.drawKey = key;
      this.canvas.dataset.drawn = String(this.drawList.length);
    }
    gl.drawElements(gl.POINTS, this.drawList.length, gl.UNSIGNED_INT, 0);
    if (this.hovered >= 0) {
      gl.bindBuffer(gl.ELEMENT_ARRAY_BUFFER, this.buffers.hover);
      gl.uniform1i(u("u_ring"), 1);
      gl.uniform1i(u("u_round"), 1);
      gl.drawElements(gl.POINTS, 1, gl.UNSIGNED_INT, 0);
      gl.uniform1i(u("u_ring"), 0);
      gl.drawElements(gl.POINTS, 1, gl.UNSIGNED_INT, 0);
    }
    if (!this.firstDrawn) {
      gl.readPixels(0, 0, 1, 1, gl.RGBA, gl.UNSIGNED_BYTE, new Uint8Array(4));  // waits for the GPU
      this.firstDrawn = true;
      this.resolveDrawn();
    }
  }

  /** Pointer and wheel handling on the overlay's parent (the plot element). */
  private listen(): void {
    const target = this.canvas.parentElement!;
    let drag: { x: number; y: number; path: number[]; pan: boolean; moved: boolean } | null = null;
    const local = (e: MouseEvent): [number, number] => {
      const box = target.getBoundingClientRect();
      return [e.clientX - box.left, e.clientY - box.top];
    };
    target.addEventListener("wheel", (e) => {
      e.preventDefault();
      const [px, py] = local(e), [dx, dy] = this.toData(px, py);
      const factor = Math.exp(-e.deltaY * 0.0015);
      this.camera.zoom = Math.min(MAX_ZOOM, Math.max(0.5, this.camera.zoom * factor));
      const [nx, ny] = this.toData(px, py);
      this.camera.cx += dx - nx; this.camera.cy += dy - ny;
      this.render(); this.events.view();
    }, { passive: false });
    target.addEventListener("pointerdown", (e) => {
      const [px, py] = local(e);
      target.setPointerCapture(e.pointerId);
      drag = { x: px, y: py, path: [px, py], pan: this.tool === "panZoom" && !e.shiftKey, moved: false };
    });
    target.addEventListener("pointermove", (e) => {
      const [px, py] = local(e);
      if (!drag) {
        const [dx, dy] = this.toData(px, py), [rx] = this.toData(px + 6, py);
        const id = this.index.nearest(dx, dy, Math.abs(rx - dx));
        this.setHover(id);
        this.events.hover(id, px, py);
        return;
      }
      drag.moved ||= Math.hypot(px - drag.x, py - drag.y) > 3;
      if (drag.pan) {
        const [ax, ay] = this.toData(drag.path[0], drag.path[1]), [bx, by] = this.toData(px, py);
        this.camera.cx -= bx - ax; this.camera.cy -= by - ay;
        drag.path = [px, py];
        this.render(); this.events.view();
      } else {
        drag.path = this.tool === "rectangle" && !e.shiftKey ? [drag.x, drag.y, px, drag.y, px, py, drag.x, py] : [...drag.path, px, py];
        this.drawPath(drag.path);
      }
    });
    target.addEventListener("pointerup", (e) => {
      if (!drag) return;
      const done = drag;
      drag = null;
      this.drawPath([]);
      if (!done.moved) {
        const [px, py] = local(e), [dx, dy] = this.toData(px, py), [rx] = this.toData(px + 6, py);
        const id = this.index.nearest(dx, dy, Math.abs(rx - dx));
        if (id >= 0) this.events.click(id);
      } else if (!done.pan) {
        const polygon = new Float64Array(done.path.length);
        for (let v = 0; v < done.path.length; v += 2) [polygon[v], polygon[v + 1]] = this.toData(done.path[v], done.path[v + 1]);
        this.events.select(this.index.inPolygon(polygon));
      }
    });
    target.addEventListener("pointerleave", () => { if (!drag) { this.setHover(-1); this.events.hover(-1, 0, 0); } });
  }

  private drawPath(path: number[]): void {
    const ratio = window.devicePixelRatio || 1, ctx = this.overlay.getContext("2d")!;
    this.overlay.width = this.overlay.clientWidth * ratio; this.overlay.height = this.overlay.clientHeight * ratio;
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    if (path.length < 4) return;
    ctx.beginPath();
    for (let v = 0; v < path.length; v += 2) ctx.lineTo(path[v], path[v + 1]);
    ctx.closePath();
    ctx.fillStyle = "rgba(0, 114, 178, 0.12)"; ctx.fill();
    ctx.strokeStyle = "#0072B2"; ctx.lineWidth = 1.5; ctx.stroke();
  }
}
