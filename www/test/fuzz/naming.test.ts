/**
 * Fuzzing naming segments: the wasm `nameSegments` JSON (parseNaming), the person's own words
 * (labelSpec), and where names are drawn (innermostPoints → labelBoxes).
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { innermostPoints, labelBoxes, labelSpec, MAX_CLASSES, MAX_NAME_CHARS, NamingFormatError, OWN_WORDS, parseNaming, type NameAt } from "../../src/naming";
import { check, timed } from "./runs";

const anyValue = fc.oneof(fc.jsonValue(), fc.string(), fc.integer(), fc.double(), fc.constant(null), fc.constant(-1), fc.constant(2 ** 32), fc.constant(""), fc.constant(" "));

/** A naming near the valid shape, each field sometimes replaced by something else. */
const nearNaming = fc
  .record({
    segments: fc.oneof(
      fc.array(
        fc.oneof(
          fc.record({
            id: fc.oneof(fc.nat({ max: 64 }), anyValue),
            class: fc.oneof(fc.nat({ max: 4 }), anyValue),
            name: fc.oneof(fc.constantFrom("cat", "grass", "person"), fc.string({ maxLength: 300 }), anyValue),
            scores: fc.oneof(fc.array(fc.double({ noNaN: false }), { maxLength: 6 }), fc.array(fc.float({ noDefaultInfinity: true, noNaN: true }), { minLength: 1, maxLength: 6 }), anyValue),
          }),
          anyValue,
        ),
        { maxLength: 8 },
      ),
      anyValue,
    ),
  })
  .map((n) => JSON.stringify(n));

/** A valid naming's text with a few characters changed, cut or repeated. */
const mutatedNaming = fc
  .tuple(
    fc.array(fc.record({ class: fc.constant(0), name: fc.constantFrom("cat", "dog"), scores: fc.constant([1.5, 0.5]) }), { minLength: 1, maxLength: 4 }),
    fc.array(fc.tuple(fc.nat(), fc.nat({ max: 8 }), fc.string({ maxLength: 4 })), { maxLength: 4 }),
  )
  .map(([segments, edits]) => {
    let text = JSON.stringify({ segments: segments.map((s, id) => ({ id, ...s })) });
    for (const [at, cut, insert] of edits) {
      const i = at % (text.length + 1);
      text = text.slice(0, i) + insert + text.slice(i + cut);
    }
    return text;
  });

describe("fuzz: naming", () => {
  it("parseNaming: a naming within bounds, or its own error", async () => {
    await check(
      "parseNaming",
      fc.property(fc.oneof(fc.string(), fc.jsonValue().map((v) => JSON.stringify(v)), nearNaming, mutatedNaming), (text) => {
        let naming;
        try {
          naming = timed(() => parseNaming(text));
        } catch (e) {
          expect(e).toBeInstanceOf(NamingFormatError);
          return;
        }
        let last = -1;
        for (const s of naming.segments) {
          expect(Number.isSafeInteger(s.id) && s.id > last && s.id < 2 ** 32).toBe(true);
          last = s.id;
          expect(s.scores.length).toBeGreaterThan(0);
          expect(s.scores.length).toBeLessThanOrEqual(MAX_CLASSES);
          expect(s.scores.every(Number.isFinite)).toBe(true);
          expect(Number.isInteger(s.class) && s.class >= 0 && s.class < s.scores.length).toBe(true);
          expect(s.name.trim()).not.toBe("");
          expect([...s.name].length).toBeLessThanOrEqual(MAX_NAME_CHARS);
        }
      }),
    );
  });

  it("labelSpec: words become a list the library takes (two classes or more, tidy names), or a reason", async () => {
    const words = fc.oneof(
      fc.string({ maxLength: 200 }),
      fc.array(fc.oneof(fc.constantFrom(";", ",", " ", "@", "\t", "\n", "cat", "dog", "猫", "🐕", ", ", " ;"), fc.string({ maxLength: 6 })), { maxLength: 30 }).map((p) => p.join("")),
      fc.array(fc.array(fc.string({ maxLength: 12 }), { maxLength: 4 }).map((c) => c.join(",")), { maxLength: 8 }).map((c) => c.join(";")),
    );
    await check(
      "labelSpec",
      fc.property(words, fc.constantFrom(OWN_WORDS, "voc", "ade"), (text, choice) => {
        const r = timed(() => labelSpec(choice, text));
        if (choice !== OWN_WORDS) {
          expect(r).toEqual({ ok: true, spec: choice, words: false });
          return;
        }
        if (!r.ok) {
          expect(r.error.length).toBeGreaterThan(0);
          return;
        }
        const classes = r.spec.split(";").map((c) => c.split(","));
        expect(classes.length).toBeGreaterThanOrEqual(2);
        expect(classes.length).toBeLessThanOrEqual(MAX_CLASSES);
        for (const name of classes.flat()) {
          expect(name).toBe(name.trim());
          expect(name).not.toBe("");
          expect(/\s\s/.test(name)).toBe(false);
          expect([...name].length).toBeLessThanOrEqual(MAX_NAME_CHARS);
        }
        expect(r.spec.startsWith("@")).toBe(false);
        // Tidy already: the same list again.
        expect(labelSpec(OWN_WORDS, r.spec)).toEqual(r);
      }),
    );
  });

  it("innermostPoints → labelBoxes: each point in its segment, null only for an absent one; boxes inside the canvas, apart", async () => {
    const map = fc.record({ w: fc.integer({ min: 1, max: 24 }), h: fc.integer({ min: 1, max: 24 }), segments: fc.integer({ min: 1, max: 6 }) }).chain(({ w, h, segments }) =>
      fc.record({
        w: fc.constant(w),
        h: fc.constant(h),
        segments: fc.constant(segments),
        // Blocky maps (runs of one label) as well as noise; some labels past the count.
        labels: fc.array(fc.tuple(fc.integer({ min: 0, max: segments + 1 }), fc.integer({ min: 1, max: 30 })), { minLength: 1, maxLength: 40 }).map((runs) => {
          const out = new Uint32Array(w * h);
          let at = 0;
          for (let k = 0; at < out.length; k++) {
            const [label, n] = runs[k % runs.length] ?? [0, 1];
            out.fill(label, at, Math.min(out.length, at + n));
            at += n;
          }
          return out;
        }),
        lineHeight: fc.integer({ min: 1, max: 20 }),
      }),
    );
    await check(
      "innermostPoints/labelBoxes",
      fc.property(map, ({ w, h, segments, labels, lineHeight }) => {
        const points = timed(() => innermostPoints(labels, w, h, segments));
        expect(points).toHaveLength(segments);
        points.forEach((p, s) => {
          const present = labels.includes(s);
          expect(p !== null).toBe(present);
          if (p === null) return;
          expect(labels[p.y * w + p.x]).toBe(s);
          expect(p.depth).toBeGreaterThanOrEqual(0);
        });
        const names: NameAt[] = points.flatMap((p, s) => (p === null ? [] : [{ text: `segment ${s}`, segment: s, at: p }]));
        const boxes = timed(() => labelBoxes(names, w, h, lineHeight, (t) => t.length * 2));
        for (const [i, b] of boxes.entries()) {
          // Inside the canvas where the box fits; a box wider than the canvas starts at its edge.
          expect(b.x).toBeGreaterThanOrEqual(Math.min(0, w - b.width));
          expect(b.y).toBeGreaterThanOrEqual(Math.min(0, h - b.height));
          expect(b.x + b.width <= w || b.x <= 0).toBe(true);
          for (const o of boxes.slice(i + 1)) {
            const apart = b.x + b.width <= o.x || o.x + o.width <= b.x || b.y + b.height <= o.y || o.y + o.height <= b.y;
            expect(apart).toBe(true);
          }
        }
      }),
    );
  });
});
