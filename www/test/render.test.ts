import { describe, expect, it } from "vitest";
import { composeOverlay, segmentSizes } from "../src/render";

describe("composeOverlay", () => {
  const width = 3;
  const height = 2;
  const photo = new Uint8ClampedArray(4 * width * height).fill(100);
  const colours = new Uint8Array([200, 0, 0, 0, 0, 200]);
  // Segment 0 on the left column, segment 1 on the others.
  const labels = new Uint32Array([0, 1, 1, 0, 1, 1]);
  const px = (out: Uint8ClampedArray, x: number, y: number): number[] => Array.from(out.slice(4 * (y * width + x), 4 * (y * width + x) + 4));

  it("blends colours, draws boundaries dark, and is opaque", () => {
    const out = new Uint8ClampedArray(photo.length);
    composeOverlay({ width, height, photo, labels, colours, opacity: 0.5, highlight: -1, selection: null }, out);
    expect(px(out, 0, 0)).toEqual([40, 0, 0, 255]); // right neighbour differs: boundary at 0.2 × colour
    expect(px(out, 2, 1)).toEqual([50, 50, 150, 255]); // interior: half photo, half colour
  });

  it("shows the photo at opacity 0 and fades all but the highlighted segment", () => {
    const out = new Uint8ClampedArray(photo.length);
    composeOverlay({ width, height, photo, labels, colours, opacity: 0, highlight: -1, selection: null }, out);
    expect(px(out, 2, 1)).toEqual([100, 100, 100, 255]);
    composeOverlay({ width, height, photo, labels, colours, opacity: 0.5, highlight: 0, selection: null }, out);
    const other = px(out, 2, 1);
    composeOverlay({ width, height, photo, labels, colours, opacity: 0.5, highlight: 1, selection: null }, out);
    const lit = px(out, 2, 1);
    expect(lit[2]).toBeGreaterThan(other[2] ?? 0);
  });

  it("outlines the selection in white and dims what is not selected", () => {
    const w = 5;
    const h = 4;
    const flat = new Uint8ClampedArray(4 * w * h).fill(100);
    const one = new Uint32Array(w * h); // one segment: no boundaries of its own
    const sel = new Uint8Array(w * h);
    for (let y = 1; y <= 2; y++) for (let x = 1; x <= 3; x++) sel[y * w + x] = 1;
    const out = new Uint8ClampedArray(flat.length);
    composeOverlay({ width: w, height: h, photo: flat, labels: one, colours: new Uint8Array([100, 100, 100]), opacity: 0, highlight: -1, selection: sel }, out);
    const at = (x: number, y: number): number[] => Array.from(out.slice(4 * (y * w + x), 4 * (y * w + x) + 4));
    expect(at(1, 1)).toEqual([255, 255, 255, 255]); // a selected pixel next to an unselected one
    expect(at(0, 0)).toEqual([35, 35, 35, 255]); // outside: dimmed
    sel.fill(1);
    composeOverlay({ width: w, height: h, photo: flat, labels: one, colours: new Uint8Array([100, 100, 100]), opacity: 0, highlight: -1, selection: sel }, out);
    expect(at(2, 1)).toEqual([100, 100, 100, 255]); // inside, away from the edge: as it was
    expect(at(0, 0)).toEqual([255, 255, 255, 255]); // the frame bounds the selection too
  });
});

describe("segmentSizes", () => {
  it("counts pixels per segment", () => {
    expect(Array.from(segmentSizes(new Uint32Array([0, 2, 2, 1, 2]), 3))).toEqual([1, 1, 3]);
  });
});
