/** Decoding of the server's binary `/api/points` payload, and per-point quantities derived from it. */

export const SPACES = ["act", "fea", "prd"] as const;
export type Space = (typeof SPACES)[number];

export interface PointData {
  n: number;
  k: number;
  /** x, y interleaved, float32 [n*2] per space */
  coords: Record<Space, Float32Array>;
  error: Float32Array;
  /** bit j = label of attribute j, uint32 [n] */
  labels: Uint32Array;
  /** probability * 255 per point and attribute, uint8 [n*k] */
  probs: Uint8Array;
}

interface Entry { name: string; dtype: string; offset: number; length: number }

const VIEWS: Record<string, (b: ArrayBuffer, o: number, l: number) => ArrayBufferView> = {
  float32: (b, o, l) => new Float32Array(b, o, l),
  uint32: (b, o, l) => new Uint32Array(b, o, l),
  uint8: (b, o, l) => new Uint8Array(b, o, l),
};

/** Layout: uint32 header length H, H bytes JSON header, 4-byte aligned arrays (little-endian). */
export function decodePoints(buffer: ArrayBuffer): PointData {
  const headerLength = new DataView(buffer).getUint32(0, true);
  const header = JSON.parse(new TextDecoder().decode(new Uint8Array(buffer, 4, headerLength)));
  const base = 4 + headerLength;
  const arrays: Record<string, ArrayBufferView> = {};
  for (const e of header.arrays as Entry[]) arrays[e.name] = VIEWS[e.dtype](buffer, base + e.offset, e.length);
  return {
    n: header.n, k: header.k,
    coords: { act: arrays.act as Float32Array, fea: arrays.fea as Float32Array, prd: arrays.prd as Float32Array },
    error: arrays.error as Float32Array, labels: arrays.labels as Uint32Array, probs: arrays.probs as Uint8Array,
  };
}

export const label = (d: PointData, i: number, j: number): boolean => ((d.labels[i] >>> j) & 1) === 1;
export const prob = (d: PointData, i: number, j: number): number => d.probs[i * d.k + j] / 255;

/** ACT-PRD distance per point: "euclidean" ||l - p|| or "cosine" 1 - l.p / (|l||p|) (0 when both empty). */
export function errorDistance(d: PointData, metric: "euclidean" | "cosine"): Float32Array {
  const out = new Float32Array(d.n);
  for (let i = 0; i < d.n; i++) {
    let dot = 0, ll = 0, pp = 0, sq = 0;
    for (let j = 0; j < d.k; j++) {
      const l = (d.labels[i] >>> j) & 1, p = d.probs[i * d.k + j] / 255;
      dot += l * p; ll += l; pp += p * p; sq += (l - p) * (l - p);
    }
    out[i] = metric === "euclidean" ? Math.sqrt(sq) : ll && pp ? 1 - dot / Math.sqrt(ll * pp) : ll || pp ? 1 : 0;
  }
  return out;
}

/** Coordinates scaled into [-0.95, 0.95] (same factor on both axes) as separate x and y arrays. */
export function normalise(xy: Float32Array): { x: Float32Array; y: Float32Array } {
  const n = xy.length / 2;
  let minX = Infinity, maxX = -Infinity, minY = Infinity, maxY = -Infinity;
  for (let i = 0; i < n; i++) {
    const x = xy[2 * i], y = xy[2 * i + 1];
    if (x < minX) minX = x; if (x > maxX) maxX = x; if (y < minY) minY = y; if (y > maxY) maxY = y;
  }
  const scale = 1.9 / Math.max(maxX - minX, maxY - minY, 1e-12);
  const cx = (minX + maxX) / 2, cy = (minY + maxY) / 2;
  const x = new Float32Array(n), y = new Float32Array(n);
  for (let i = 0; i < n; i++) { x[i] = (xy[2 * i] - cx) * scale; y[i] = (xy[2 * i + 1] - cy) * scale; }
  return { x, y };
}
