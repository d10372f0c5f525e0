import { describe, expect, it } from "vitest";
import { topPoints } from "./scatter";

describe("topPoints", () => {
  // a 4 × 4 pixel view of [-1, 1]²: pixel (px, py) covers x in [-1 + px/2, -1 + (px+1)/2), y from the top
  const x = new Float32Array([-0.9, -0.8, 0.1, 0.9, 0.2, 5]);
  const y = new Float32Array([0.9, 0.85, -0.1, -0.9, -0.2, 0]);
  const none = new Uint8Array(6);

  it("keeps the last point per pixel and drops points out of view", () => {
    // 0 and 1 share the top-left pixel (1 wins), 2 and 4 share a pixel (4 wins), 5 is off to the right
    expect(Array.from(topPoints(x, y, none, null, 0, 0, 1, 1, 4, 4)).sort()).toEqual([1, 3, 4]);
  });

  it("draws selected points after the rest, even when covered by a later one", () => {
    const selected = new Uint8Array([1, 0, 0, 0, 0, 0]);
    expect(Array.from(topPoints(x, y, selected, null, 0, 0, 1, 1, 4, 4))).toEqual([1, 4, 3, 0]);
  });

  it("skips hidden points and follows the camera", () => {
    const hidden = new Uint8Array([0, 1, 0, 0, 1, 0]);
    expect(Array.from(topPoints(x, y, none, hidden, 0, 0, 1, 1, 4, 4)).sort()).toEqual([0, 2, 3]);
    // centred on point 5 and zoomed in 4x only point 5 is in view
    expect(Array.from(topPoints(x, y, none, null, 5, 0, 4, 4, 4, 4))).toEqual([5]);
  });
});
