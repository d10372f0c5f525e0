/** Attribute flowers (Huang et al.): one petal per attribute at a fixed angle on a 2-D canvas. */

export type GlyphMode = "act" | "prd" | "joint";

export interface Petal { label: boolean; prob: number; colour: string }

/** Angle of attribute j of k petals: evenly spaced, the first pointing up, clockwise. */
export const petalAngle = (j: number, k: number): number => -Math.PI / 2 + (2 * Math.PI * j) / k;

/**
 * Draws one flower at (cx, cy) with outer radius r (pixels). Petal length: the label (ACT), the
 * probability (PRD, joint). Joint: filled when the label is true, black outline when predicted true but
 * labelled false (FP), an outline arc at full length for every true label (short petal inside = FN).
 * The centre dot is shaded by `error` in [0, 1] (white = 0, black = 1).
 */
export function drawFlower(ctx: CanvasRenderingContext2D, cx: number, cy: number, r: number, petals: Petal[],
                           mode: GlyphMode, error: number, threshold = 0.5): void {
  const k = petals.length, half = Math.PI / k * 0.8;
  petals.forEach((p, j) => {
    const a = petalAngle(j, k);
    const length = mode === "act" ? (p.label ? 1 : 0) : p.prob;
    if (length > 0.02) {
      ctx.beginPath();
      ctx.moveTo(cx, cy);
      ctx.arc(cx, cy, r * length, a - half, a + half);
      ctx.closePath();
      const filled = mode === "prd" || p.label;
      if (filled) { ctx.fillStyle = p.colour; ctx.fill(); }
      if (mode === "joint" && !p.label && p.prob >= threshold) { ctx.strokeStyle = "#000"; ctx.lineWidth = 1.2; ctx.stroke(); }
    }
    if (mode === "joint" && p.label) {
      ctx.beginPath();
      ctx.arc(cx, cy, r, a - half, a + half);
      ctx.strokeStyle = p.colour; ctx.lineWidth = 1.5; ctx.stroke();
    }
  });
  const shade = Math.round(255 * (1 - Math.min(1, Math.max(0, error))));
  ctx.beginPath();
  ctx.arc(cx, cy, Math.max(2, r * 0.16), 0, 2 * Math.PI);
  ctx.fillStyle = `rgb(${shade},${shade},${shade})`; ctx.fill();
  ctx.strokeStyle = "#333"; ctx.lineWidth = 0.8; ctx.stroke();
}
