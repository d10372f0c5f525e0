/**
 * Uniform-grid spatial index over n points in [-1, 1]² held in typed arrays (no per-point objects):
 * point ids sorted by cell with one counting sort, O(n) to build. Answers the app's queries: the
 * nearest point to the cursor, the points in a rectangle (stopping early past a limit) and the points
 * inside a lasso polygon. `hidden` (uint8 [n], 1 = filtered out) excludes points from every query.
 */
export class GridIndex {
  /** Cell start offsets into `order`, uint32 [cells² + 1]. */
  readonly start: Uint32Array;
  /** Point ids sorted by cell, uint32 [n]. */
  readonly order: Uint32Array;
  hidden: Uint8Array | null = null;

  constructor(readonly x: Float32Array, readonly y: Float32Array, readonly cells = 256) {
    const n = x.length, cellOf = new Uint32Array(n), start = new Uint32Array(cells * cells + 1);
    for (let i = 0; i < n; i++) {
      const c = this.cell(y[i]) * cells + this.cell(x[i]);
      cellOf[i] = c;
      start[c + 1]++;
    }
    for (let c = 0; c < cells * cells; c++) start[c + 1] += start[c];
    const fill = start.slice(0, cells * cells), order = new Uint32Array(n);
    for (let i = 0; i < n; i++) order[fill[cellOf[i]]++] = i;
    this.start = start;
    this.order = order;
  }

  /** Cell coordinate (0..cells-1) of a data coordinate in [-1, 1] (clamped). */
  cell(v: number): number {
    return Math.min(this.cells - 1, Math.max(0, Math.floor(((v + 1) / 2) * this.cells)));
  }

  /** Calls `visit(id)` for each visible point in the cells overlapping [x0, x1] × [y0, y1]; stops when it returns false. */
  private scan(x0: number, y0: number, x1: number, y1: number, visit: (id: number) => boolean): void {
    const cx0 = this.cell(x0), cx1 = this.cell(x1), cy0 = this.cell(y0), cy1 = this.cell(y1);
    const { start, order, hidden } = this;
    for (let cy = cy0; cy <= cy1; cy++) {
      for (let c = cy * this.cells + cx0, end = cy * this.cells + cx1; c <= end; c++) {
        for (let k = start[c]; k < start[c + 1]; k++) {
          const id = order[k];
          if (hidden && hidden[id]) continue;
          if (!visit(id)) return;
        }
      }
    }
  }

  /** The visible point nearest to (px, py) within `radius` (data units), or -1. */
  nearest(px: number, py: number, radius: number): number {
    let best = -1, bestD = radius * radius;
    this.scan(px - radius, py - radius, px + radius, py + radius, (id) => {
      const dx = this.x[id] - px, dy = this.y[id] - py, d = dx * dx + dy * dy;
      if (d <= bestD) { best = id; bestD = d; }
      return true;
    });
    return best;
  }

  /** Ids of the visible points in [x0, x1] × [y0, y1], or null when there are more than `limit`. */
  inRect(x0: number, y0: number, x1: number, y1: number, limit = Infinity): Uint32Array | null {
    const out: number[] = [];
    let over = false;
    this.scan(x0, y0, x1, y1, (id) => {
      const x = this.x[id], y = this.y[id];
      if (x < x0 || x > x1 || y < y0 || y > y1) return true;
      if (out.length >= limit) { over = true; return false; }
      out.push(id);
      return true;
    });
    return over ? null : Uint32Array.from(out);
  }

  /** Ids (ascending) of the visible points inside `polygon` (x0, y0, x1, y1, ... in data units; even-odd rule). */
  inPolygon(polygon: ArrayLike<number>): Uint32Array {
    const m = polygon.length / 2;
    if (m < 3) return new Uint32Array(0);
    let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
    for (let v = 0; v < m; v++) {
      x0 = Math.min(x0, polygon[2 * v]); x1 = Math.max(x1, polygon[2 * v]);
      y0 = Math.min(y0, polygon[2 * v + 1]); y1 = Math.max(y1, polygon[2 * v + 1]);
    }
    const hits = new Uint8Array(this.x.length);
    let count = 0;
    this.scan(x0, y0, x1, y1, (id) => {
      if (pointInPolygon(this.x[id], this.y[id], polygon)) { hits[id] = 1; count++; }
      return true;
    });
    const out = new Uint32Array(count);
    for (let i = 0, k = 0; k < count; i++) if (hits[i]) out[k++] = i;
    return out;
  }
}

/** Even-odd test of (px, py) against the closed polygon (x0, y0, x1, y1, ...). */
export function pointInPolygon(px: number, py: number, polygon: ArrayLike<number>): boolean {
  let inside = false;
  const m = polygon.length / 2;
  for (let a = 0, b = m - 1; a < m; b = a++) {
    const ax = polygon[2 * a], ay = polygon[2 * a + 1], bx = polygon[2 * b], by = polygon[2 * b + 1];
    if ((ay > py) !== (by > py) && px < ((bx - ax) * (py - ay)) / (by - ay) + ax) inside = !inside;
  }
  return inside;
}
