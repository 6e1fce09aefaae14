/** Fuzzing the reader of the wasm module's `featureDefaults()` JSON (the sliders' ranges). */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseFeatureDefaults } from "../../src/protocol";
import { check, timed } from "./runs";

const num = fc.oneof(fc.double(), fc.constantFrom(0, 0.05, 0.5, 0.8, 2, -1, Number.NaN), fc.string({ maxLength: 4 }), fc.constant(null));
const kind = fc.oneof(fc.record({ tau: num, alpha: num, tauMin: num, tauMax: num }, { requiredKeys: [] }), fc.anything());

describe("fuzz: parseFeatureDefaults", () => {
  it("returns defaults the sliders can use, or throws an Error naming the problem", async () => {
    await check(
      "featureDefaults",
      fc.property(fc.oneof(fc.record({ color: kind, diffusion: kind }, { requiredKeys: [] }).map((v) => JSON.stringify(v)), fc.string({ maxLength: 200 })), (text) => {
        let d;
        try {
          d = timed(() => parseFeatureDefaults(text));
        } catch (e) {
          expect(e).toBeInstanceOf(Error);
          return;
        }
        for (const k of [d.color, d.diffusion]) {
          expect(0 < k.tauMin && k.tauMin <= k.tau && k.tau <= k.tauMax && k.tauMax <= 2 && k.alpha > 0).toBe(true);
        }
      }),
    );
  });
});
