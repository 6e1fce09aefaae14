import { describe, expect, it } from "vitest";
import { slidersFor, tauHint } from "../src/params";
import { parseFeatureDefaults, type SourceDefaults } from "../src/protocol";

const colour: SourceDefaults = { tau: 0.5, alpha: 10, tauMin: 0.05, tauMax: 0.8 };
const diffusion: SourceDefaults = { tau: 0.4, alpha: 12, tauMin: 0.1, tauMax: 0.9 };

describe("slidersFor", () => {
  it("shows a kind's defaults while the person has not moved the sliders", () => {
    const untouched = { tau: 0.7, alpha: 3, tauMoved: false, alphaMoved: false };
    expect(slidersFor(colour, untouched)).toEqual({ tau: 0.5, alpha: 10, tauMin: 0.05, tauMax: 0.8 });
    expect(slidersFor(diffusion, untouched)).toEqual({ tau: 0.4, alpha: 12, tauMin: 0.1, tauMax: 0.9 });
  });

  it("keeps the person's values, τ brought into the kind's range", () => {
    expect(slidersFor(colour, { tau: 0.9, alpha: 3, tauMoved: true, alphaMoved: true })).toEqual({ tau: 0.8, alpha: 3, tauMin: 0.05, tauMax: 0.8 });
    expect(slidersFor(diffusion, { tau: 0.05, alpha: 3, tauMoved: true, alphaMoved: false })).toEqual({ tau: 0.1, alpha: 12, tauMin: 0.1, tauMax: 0.9 });
    expect(slidersFor(diffusion, { tau: 0.3, alpha: 3, tauMoved: true, alphaMoved: false }).tau).toBe(0.3);
  });
});

describe("tauHint", () => {
  it("speaks of the kind's features and its numbers", () => {
    expect(tauHint("color", colour)).toContain("Colour and texture");
    expect(tauHint("color", colour)).toContain("0.8");
    expect(tauHint("diffusion", diffusion)).toContain("Diffusion features: 0.4");
  });
});

describe("parseFeatureDefaults", () => {
  const good = { color: colour, diffusion };

  it("reads what the wasm module returns", () => {
    expect(parseFeatureDefaults(JSON.stringify(good))).toEqual(good);
  });

  it("refuses a missing kind, a missing number and an empty range, naming them", () => {
    expect(() => parseFeatureDefaults(JSON.stringify({ color: colour }))).toThrow(/diffusion is missing/);
    expect(() => parseFeatureDefaults(JSON.stringify({ ...good, color: { tau: 0.5, alpha: 10, tauMin: 0.1 } }))).toThrow(/color needs numbers/);
    expect(() => parseFeatureDefaults(JSON.stringify({ ...good, color: { ...colour, tauMin: 0.6 } }))).toThrow(/color is out of range/);
    expect(() => parseFeatureDefaults(JSON.stringify({ ...good, diffusion: { ...diffusion, alpha: 0 } }))).toThrow(/diffusion is out of range/);
    expect(() => parseFeatureDefaults("[]")).toThrow(/not an object/);
  });
});
