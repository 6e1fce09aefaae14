import { describe, expect, it } from "vitest";
import { coloursForKeys, diverging, fiedlerRgba, Palette, paletteColour } from "../src/colour";

describe("paletteColour", () => {
  it("matches the library's image_io::palette", () => {
    // From the Rust palette (src/image_io.rs) for i = 0..8.
    const rust = [
      [235, 131, 117],
      [106, 229, 183],
      [145, 107, 191],
      [206, 155, 52],
      [79, 222, 255],
      [187, 92, 130],
      [131, 182, 95],
      [172, 197, 255],
    ];
    rust.forEach((want, i) => {
      const got = paletteColour(i);
      got.forEach((c, k) => expect(Math.abs(c - (want[k] ?? 0)), `colour ${i}`).toBeLessThanOrEqual(1));
    });
  });

  it("gives distinct colours and a growing table", () => {
    const p = new Palette();
    const t = p.upTo(200);
    const seen = new Set<string>();
    for (let i = 0; i < 200; i++) seen.add(`${t[3 * i]},${t[3 * i + 1]},${t[3 * i + 2]}`);
    expect(seen.size).toBeGreaterThan(190);
    expect(Array.from(coloursForKeys([5, 0], p))).toEqual([...paletteColour(5), ...paletteColour(0)]);
  });
});

describe("diverging", () => {
  it("runs blue → white → red and clamps", () => {
    expect(diverging(-1)).toEqual([33, 102, 172]);
    expect(diverging(0)).toEqual([247, 247, 247]);
    expect(diverging(1)).toEqual([178, 24, 43]);
    expect(diverging(5)).toEqual(diverging(1));
    expect(diverging(Number.NaN)).toEqual(diverging(0));
  });

  it("colours a Fiedler vector by side, transparent outside the region", () => {
    const rgba = fiedlerRgba(new Float32Array([Number.NaN, -0.5, 0.5, 0.01]), 0);
    expect(rgba[3]).toBe(0);
    expect(rgba[4 + 2]).toBeGreaterThan(rgba[4] ?? 0); // blue side
    expect(rgba[8]).toBeGreaterThan(rgba[8 + 2] ?? 0); // red side
    expect(rgba[12]).toBeGreaterThan(rgba[12 + 2] ?? 0); // just above θ is still visibly red
  });
});
