/**
 * Colour maps: the segment palette (the same colours as the library's `image_io::palette`, so the
 * page and the CLI's overlays agree) and a diverging map for Fiedler vectors.
 */

/** An 8-bit sRGB colour. */
export type Rgb = readonly [number, number, number];

const GOLDEN_ANGLE = 2.399963; // radians, π(3 − √5)

function linearToSrgb(c: number): number {
  return c <= 0.0031308 ? 12.92 * c : 1.055 * c ** (1 / 2.4) - 0.055;
}

/** OKLab → 8-bit sRGB, clipped to the gamut (Ottosson's matrices, as in `image_io.rs`). */
export function oklabToSrgb8(l: number, a: number, b: number): Rgb {
  const l_ = l + 0.39633778 * a + 0.21580376 * b;
  const m_ = l - 0.105561346 * a - 0.06385417 * b;
  const s_ = l - 0.08948418 * a - 1.2914855 * b;
  const [l3, m3, s3] = [l_ ** 3, m_ ** 3, s_ ** 3];
  const lin = [
    4.0767417 * l3 - 3.3077116 * m3 + 0.23096994 * s3,
    -1.268438 * l3 + 2.6097574 * m3 - 0.34131938 * s3,
    -0.0041960863 * l3 - 0.7034186 * m3 + 1.7076147 * s3,
  ] as const;
  const to8 = (c: number): number => Math.round(linearToSrgb(Math.min(1, Math.max(0, c))) * 255);
  return [to8(lin[0]), to8(lin[1]), to8(lin[2])];
}

/**
 * Colour `i` of the palette: hue stepped by the golden angle in OKLCh, lightness cycling through
 * three levels, so any prefix is well spread and neighbours in order also differ in brightness.
 */
export function paletteColour(i: number): Rgb {
  const l = [0.72, 0.84, 0.6][i % 3] ?? 0.72;
  const hue = 0.5 + i * GOLDEN_ANGLE;
  return oklabToSrgb8(l, 0.13 * Math.cos(hue), 0.13 * Math.sin(hue));
}

/** A memoised palette, as a flat `[r, g, b, r, g, b, ...]` table grown on demand. */
export class Palette {
  private table = new Uint8Array(0);

  /** `[r, g, b]` bytes for colours `0..n`, as one array (index `3·i`). */
  upTo(n: number): Uint8Array {
    if (this.table.length < 3 * n) {
      const next = new Uint8Array(3 * Math.max(n, 2 * (this.table.length / 3), 64));
      next.set(this.table);
      for (let i = this.table.length / 3; i < next.length / 3; i++) next.set(paletteColour(i), 3 * i);
      this.table = next;
    }
    return this.table;
  }
}

/** Fills `out` (`3·keys.length`) with the colour of each key: segment k gets colour `keys[k]`. */
export function coloursForKeys(keys: ArrayLike<number>, palette: Palette): Uint8Array {
  let max = 0;
  for (let k = 0; k < keys.length; k++) max = Math.max(max, keys[k] ?? 0);
  const table = palette.upTo(max + 1);
  const out = new Uint8Array(3 * keys.length);
  for (let k = 0; k < keys.length; k++) {
    const key = keys[k] ?? 0;
    out[3 * k] = table[3 * key] ?? 0;
    out[3 * k + 1] = table[3 * key + 1] ?? 0;
    out[3 * k + 2] = table[3 * key + 2] ?? 0;
  }
  return out;
}

const BLUE: Rgb = [33, 102, 172];
const WHITE: Rgb = [247, 247, 247];
const RED: Rgb = [178, 24, 43];

/**
 * Diverging blue–white–red map for `t ∈ [−1, 1]` (clamped; NaN → white): blue for the side of
 * the cut at or below the threshold, red for the `y > θ` side (ColorBrewer RdBu end points).
 */
export function diverging(t: number): Rgb {
  const u = Number.isNaN(t) ? 0 : Math.max(-1, Math.min(1, t));
  const [from, w] = u < 0 ? [BLUE, -u] : [RED, u];
  const mix = (i: 0 | 1 | 2): number => Math.round(WHITE[i] + (from[i] - WHITE[i]) * w);
  return [mix(0), mix(1), mix(2)];
}

/**
 * The Fiedler vector of one region as RGBA over the grid: `y − θ` scaled by the largest
 * `|y − θ|` and coloured with {@link diverging}; cells outside the region (NaN) are transparent.
 */
export function fiedlerRgba(values: Float32Array, threshold: number): Uint8ClampedArray {
  let scale = 0;
  for (const v of values) if (!Number.isNaN(v)) scale = Math.max(scale, Math.abs(v - threshold));
  const out = new Uint8ClampedArray(4 * values.length);
  values.forEach((v, i) => {
    if (Number.isNaN(v)) return;
    const t = v > threshold ? Math.max((v - threshold) / (scale || 1), 0.15) : -Math.max((threshold - v) / (scale || 1), 0.15);
    const [r, g, b] = diverging(t);
    out.set([r, g, b, 255], 4 * i);
  });
  return out;
}
