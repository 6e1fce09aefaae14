/**
 * Drawing the overlay: pixels are computed here and put into a 2D canvas (a headless browser
 * shows 2D canvases in screenshots, and the overlay needs no GPU).
 */

/** What {@link composeOverlay} paints. */
export interface OverlayInput {
  readonly width: number;
  readonly height: number;
  /** The photo, RGBA `[height·width·4]`. */
  readonly photo: Uint8ClampedArray;
  /** Segment of each pixel, `[height·width]`. */
  readonly labels: Uint32Array;
  /** `[r, g, b]` per segment. */
  readonly colours: Uint8Array;
  /** Weight of the segment colour over the photo, in [0, 1]. */
  readonly opacity: number;
  /** A segment to emphasise (the others are dimmed), or −1. */
  readonly highlight: number;
  /** The selected pixels (1 selected, 0 not, `[height·width]`), or null: outlined, the rest dimmed. */
  readonly selection: Uint8Array | null;
}

/**
 * Photo blended with its segment colours, with 1-pixel dark boundaries wherever the right or
 * lower neighbour is in another segment (as the library's `image_io::overlay`). Writes into `out`
 * (RGBA, `[height·width·4]`).
 */
export function composeOverlay(input: OverlayInput, out: Uint8ClampedArray): void {
  const { width: w, height: h, photo, labels, colours, highlight, selection } = input;
  const a = Math.min(1, Math.max(0, Number.isNaN(input.opacity) ? 0 : input.opacity));
  const hasHighlight = highlight >= 0;
  for (let y = 0; y < h; y++) {
    const row = y * w;
    for (let x = 0; x < w; x++) {
      const p = row + x;
      const l = labels[p] ?? 0;
      const boundary = (x + 1 < w && labels[p + 1] !== l) || (y + 1 < h && labels[p + w] !== l);
      const c = 3 * l;
      const o = 4 * p;
      const cr = colours[c] ?? 0;
      const cg = colours[c + 1] ?? 0;
      const cb = colours[c + 2] ?? 0;
      if (boundary) {
        out[o] = 0.2 * cr;
        out[o + 1] = 0.2 * cg;
        out[o + 2] = 0.2 * cb;
      } else {
        // Highlight: the hovered segment at full colour weight, the rest faded towards grey.
        const weight = hasHighlight ? (l === highlight ? Math.max(a, 0.75) : a * 0.3) : a;
        const keep = hasHighlight && l !== highlight ? 0.45 : 1;
        const base = 1 - weight;
        out[o] = (base * (photo[o] ?? 0) + weight * cr) * keep + (1 - keep) * 96;
        out[o + 1] = (base * (photo[o + 1] ?? 0) + weight * cg) * keep + (1 - keep) * 96;
        out[o + 2] = (base * (photo[o + 2] ?? 0) + weight * cb) * keep + (1 - keep) * 96;
      }
      if (selection !== null) {
        const on = selection[p] === 1;
        // The selection's outline: selected pixels with an unselected 4-neighbour (or the frame).
        const edge =
          on &&
          (x === 0 || x + 1 === w || y === 0 || y + 1 === h || selection[p - 1] !== 1 || selection[p + 1] !== 1 || selection[p - w] !== 1 || selection[p + w] !== 1);
        if (edge) {
          out[o] = 255;
          out[o + 1] = 255;
          out[o + 2] = 255;
        } else if (!on) {
          out[o] = 0.35 * (out[o] ?? 0);
          out[o + 1] = 0.35 * (out[o + 1] ?? 0);
          out[o + 2] = 0.35 * (out[o + 2] ?? 0);
        }
      }
      out[o + 3] = 255;
    }
  }
}

/** Number of pixels in each segment. */
export function segmentSizes(labels: Uint32Array, segments: number): Uint32Array {
  const sizes = new Uint32Array(segments);
  for (const l of labels) if (l < segments) sizes[l] = (sizes[l] ?? 0) + 1;
  return sizes;
}

/** Canvas pixel under a pointer event, or null when outside the canvas. */
export function pixelAt(canvas: HTMLCanvasElement, clientX: number, clientY: number): { x: number; y: number } | null {
  const r = canvas.getBoundingClientRect();
  if (r.width === 0 || r.height === 0) return null;
  const x = Math.floor(((clientX - r.left) / r.width) * canvas.width);
  const y = Math.floor(((clientY - r.top) / r.height) * canvas.height);
  return x >= 0 && y >= 0 && x < canvas.width && y < canvas.height ? { x, y } : null;
}

/** Draws the photo dimmed with a grid-resolution RGBA map (e.g. a Fiedler vector) stretched over it. */
export function drawGridMap(
  ctx: CanvasRenderingContext2D,
  photo: ImageData,
  map: Uint8ClampedArray,
  grid: readonly [number, number],
  opacity: number,
): void {
  ctx.putImageData(photo, 0, 0);
  ctx.fillStyle = "rgba(20, 20, 20, 0.45)";
  ctx.fillRect(0, 0, photo.width, photo.height);
  const cells = new OffscreenCanvas(grid[1], grid[0]);
  const g = cells.getContext("2d");
  if (!g) return;
  g.putImageData(new ImageData(new Uint8ClampedArray(map), grid[1], grid[0]), 0, 0);
  ctx.save();
  ctx.globalAlpha = Math.min(1, Math.max(0.2, opacity + 0.25));
  ctx.imageSmoothingEnabled = true;
  ctx.imageSmoothingQuality = "high";
  ctx.drawImage(cells, 0, 0, photo.width, photo.height);
  ctx.restore();
}

/**
 * Names on the overlay: each in a light box outlined in its segment's colour (`colours`, `[r, g,
 * b]` per segment), `font` (a CSS font of `lineHeight` pixels) in dark ink.
 */
export function drawNameBoxes(
  ctx: CanvasRenderingContext2D,
  boxes: readonly { readonly text: string; readonly segment: number; readonly x: number; readonly y: number; readonly width: number; readonly height: number }[],
  colours: Uint8Array,
  font: string,
  lineHeight: number,
): void {
  ctx.save();
  ctx.font = font;
  ctx.textBaseline = "middle";
  ctx.textAlign = "center";
  const line = Math.max(1, Math.round(lineHeight / 8));
  for (const b of boxes) {
    const c = 3 * b.segment;
    const colour = `rgb(${colours[c] ?? 0} ${colours[c + 1] ?? 0} ${colours[c + 2] ?? 0})`;
    ctx.fillStyle = "rgb(255 255 255 / 88%)";
    ctx.fillRect(b.x, b.y, b.width, b.height);
    ctx.lineWidth = line;
    ctx.strokeStyle = colour;
    ctx.strokeRect(b.x + line / 2, b.y + line / 2, b.width - line, b.height - line);
    ctx.fillStyle = "#15171a";
    ctx.fillText(b.text, b.x + b.width / 2, b.y + b.height / 2 + line / 2);
  }
  ctx.restore();
}
