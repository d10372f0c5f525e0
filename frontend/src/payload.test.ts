import { describe, expect, it } from "vitest";
import { decodePoints, errorDistance, normalise, label, prob } from "./payload";
import { petalAngle } from "./flowers";
import { paint } from "./colors";

function encode(n: number, k: number): ArrayBuffer {
  const arrays = [
    ["act", "uint16", 2 * n], ["fea", "uint16", 2 * n], ["prd", "uint16", 2 * n], ["error", "float32", n],
    ["labels", "uint32", n], ["probs", "uint8", n * k],
  ] as const;
  const size = { float32: 4, uint32: 4, uint16: 2, uint8: 1 };
  let offset = 0;
  const entries = arrays.map(([name, dtype, length]) => {
    const e = { name, dtype, offset, length };
    offset += Math.ceil((length * size[dtype]) / 4) * 4;
    return e;
  });
  let header = JSON.stringify({ n, k, arrays: entries });
  header += " ".repeat((4 - (header.length % 4)) % 4);
  const buffer = new ArrayBuffer(4 + header.length + offset);
  new DataView(buffer).setUint32(0, header.length, true);
  new Uint8Array(buffer, 4).set(new TextEncoder().encode(header));
  const base = 4 + header.length;
  new Uint16Array(buffer, base + entries[1].offset, 2 * n).set([1, 2, 3, 4]);
  new Uint32Array(buffer, base + entries[4].offset, n).set([0b101, 0b010]);
  new Uint8Array(buffer, base + entries[5].offset, n * k).set([255, 0, 0, 0, 255, 255]);
  return buffer;
}

describe("payload", () => {
  const d = decodePoints(encode(2, 3));
  it("decodes arrays at their offsets", () => {
    expect(d.n).toBe(2);
    expect(Array.from(d.coords.fea)).toEqual([1, 2, 3, 4]);
    expect([label(d, 0, 0), label(d, 0, 1), label(d, 0, 2), label(d, 1, 1)]).toEqual([true, false, true, true]);
    expect(prob(d, 1, 2)).toBe(1);
  });
  it("computes ACT-PRD distances", () => {
    const euclid = errorDistance(d, "euclidean");
    expect(euclid[0]).toBeCloseTo(1); // labels 1,0,1 vs probs 1,0,0
    expect(euclid[1]).toBeCloseTo(1); // labels 0,1,0 vs probs 0,1,1
    const cosine = errorDistance(d, "cosine");
    expect(cosine[0]).toBeCloseTo(1 - 1 / Math.sqrt(2));
  });
  it("maps quantised coordinates 0..65535 onto [-0.95, 0.95]", () => {
    const { x, y } = normalise(new Uint16Array([0, 16384, 65535, 49151]));
    expect([x[0], x[1], y[0], y[1]]).toEqual([-0.95, 0.95, -0.475, 0.475].map((v) => expect.closeTo(v, 4)));
  });
});

describe("flowers", () => {
  it("spaces petals evenly, the first pointing up", () => {
    expect(petalAngle(0, 4)).toBeCloseTo(-Math.PI / 2);
    expect(petalAngle(1, 4)).toBeCloseTo(0);
  });
});

describe("paint", () => {
  it("looks values in [0, 1] up in the palette as opaque RGBA8", () => {
    const rgba = paint(new Float32Array([0, 1, 0.4, 2]), ["#000000", "#ff8000"]);
    expect(Array.from(rgba)).toEqual([0, 0, 0, 255, 255, 128, 0, 255, 0, 0, 0, 255, 255, 128, 0, 255]);
  });
});
