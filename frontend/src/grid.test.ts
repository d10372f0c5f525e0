import { describe, expect, it } from "vitest";
import { GridIndex, pointInPolygon } from "./grid";

function randomPoints(n: number, seed = 1): { x: Float32Array; y: Float32Array } {
  let s = seed;
  const next = () => ((s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32) * 2 - 1;
  const x = new Float32Array(n), y = new Float32Array(n);
  for (let i = 0; i < n; i++) { x[i] = next(); y[i] = next() * 0.5; }
  return { x, y };
}

describe("GridIndex", () => {
  const { x, y } = randomPoints(5000);
  const grid = new GridIndex(x, y, 32);

  it("sorts every point into exactly one cell", () => {
    expect(grid.start[grid.start.length - 1]).toBe(5000);
    expect(new Set(grid.order).size).toBe(5000);
  });

  it("finds the nearest point within the radius, like brute force", () => {
    for (const [px, py] of [[0.1, 0.2], [-0.9, -0.4], [0.5, 0]]) {
      let best = -1, bestD = Infinity;
      for (let i = 0; i < x.length; i++) {
        const d = (x[i] - px) ** 2 + (y[i] - py) ** 2;
        if (d < bestD) { bestD = d; best = i; }
      }
      expect(grid.nearest(px, py, 0.2)).toBe(best);
      expect(grid.nearest(px, py, Math.sqrt(bestD) * 0.99)).toBe(-1);
    }
  });

  it("lists the points in a rectangle and stops past the limit", () => {
    const inside = [...x.keys()].filter((i) => x[i] >= 0 && x[i] <= 0.1 && y[i] >= 0 && y[i] <= 0.1);
    expect(Array.from(grid.inRect(0, 0, 0.1, 0.1)!).sort((a, b) => a - b)).toEqual(inside);
    expect(grid.inRect(-1, -1, 1, 1, 80)).toBeNull();
  });

  it("selects the points inside a lasso, skipping hidden ones", () => {
    const triangle = [-0.5, -0.3, 0.6, -0.2, 0, 0.4];
    const inside = [...x.keys()].filter((i) => pointInPolygon(x[i], y[i], triangle));
    expect(inside.length).toBeGreaterThan(100);
    expect(Array.from(grid.inPolygon(triangle))).toEqual(inside);
    grid.hidden = new Uint8Array(x.length).fill(1);
    grid.hidden[inside[3]] = 0;
    expect(Array.from(grid.inPolygon(triangle))).toEqual([inside[3]]);
    grid.hidden = null;
  });
});

describe("pointInPolygon", () => {
  it("uses the even-odd rule on a unit square", () => {
    const square = [0, 0, 1, 0, 1, 1, 0, 1];
    expect(pointInPolygon(0.5, 0.5, square)).toBe(true);
    expect(pointInPolygon(1.5, 0.5, square)).toBe(false);
  });
});
