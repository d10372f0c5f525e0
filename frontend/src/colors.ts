/** Colours: one per attribute (Okabe-Ito first, then Tableau-like extras) and a cividis-like ramp. */

const ATTRIBUTE_COLOURS = [
  "#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7", "#999999",
  "#8C564B", "#17BECF", "#BCBD22", "#9467BD", "#E377C2", "#7F7F7F", "#2CA02C", "#1F77B4", "#FF7F0E",
];

export const attributeColour = (j: number): string => ATTRIBUTE_COLOURS[j % ATTRIBUTE_COLOURS.length];

const CIVIDIS: [number, number, number][] = [
  [0, 34, 78], [33, 62, 110], [87, 91, 109], [125, 124, 120], [166, 157, 117], [211, 193, 100], [254, 232, 56],
];

/** `steps` hex colours along the cividis ramp (dark blue to yellow). */
export function ramp(steps = 64): string[] {
  const out: string[] = [];
  for (let s = 0; s < steps; s++) {
    const t = (s / (steps - 1)) * (CIVIDIS.length - 1);
    const a = CIVIDIS[Math.floor(t)], b = CIVIDIS[Math.min(Math.ceil(t), CIVIDIS.length - 1)], f = t - Math.floor(t);
    out.push("#" + a.map((v, c) => Math.round(v + (b[c] - v) * f).toString(16).padStart(2, "0")).join(""));
  }
  return out;
}

const hexRgb = (hex: string): number[] => [1, 3, 5].map((o) => parseInt(hex.slice(o, o + 2), 16));

/** Point colours RGBA8 [n*4] for `values` float32 [n] in [0, 1] indexing `palette` (hex colours). */
export function paint(values: Float32Array, palette: string[]): Uint8Array {
  const rgba = new Uint8Array(4 * values.length), packed = new Uint32Array(rgba.buffer), last = palette.length - 1;
  const words = palette.map((hex) => new Uint32Array(new Uint8Array([...hexRgb(hex), 255]).buffer)[0]);
  for (let i = 0; i < values.length; i++) packed[i] = words[Math.min(last, Math.max(0, Math.round(values[i] * last)))];
  return rgba;
}
