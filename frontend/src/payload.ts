/** Decoding of the server's binary `/api/points` payload, and per-point quantities derived from it. */

export const SPACES = ["act", "fea", "prd"] as const;
export type Space = (typeof SPACES)[number];

export interface PointData {
  n: number;
  k: number;
  /** x, y interleaved, uint16 [n*2] per space, quantised (both axes one scale, longer extent 0..65535) */
  coords: Record<Space, Uint16Array>;
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
  uint16: (b, o, l) => new Uint16Array(b, o, l),
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
    coords: { act: arrays.act as Uint16Array, fea: arrays.fea as Uint16Array, prd: arrays.prd as Uint16Array },
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

/** Quantised coordinates (uint16 [n*2], x, y interleaved) as x and y float32 [n] in [-0.95, 0.95]. */
export function normalise(q: Uint16Array): { x: Float32Array; y: Float32Array } {
  const n = q.length / 2, x = new Float32Array(n), y = new Float32Array(n), scale = 1.9 / 65535;
  for (let i = 0; i < n; i++) { x[i] = q[2 * i] * scale - 0.95; y[i] = q[2 * i + 1] * scale - 0.95; }
  return { x, y };
}
