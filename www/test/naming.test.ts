import { describe, expect, it } from "vitest";
import {
  clipText,
  hoverText,
  innermostPoints,
  labelBoxes,
  labelOptions,
  labelSpec,
  MAX_NAME_CHARS,
  nameCounts,
  namesByNode,
  namesForNode,
  NamingFormatError,
  needsText,
  OWN_WORDS,
  parseNaming,
  selectionNames,
  type NameAt,
  type SegmentName,
} from "../src/naming";
import type { ClipSummary } from "../src/protocol";
import { SMALL } from "./fixtures";

const CLIP: ClipSummary = {
  name: "diffcut tiny CLIP fixture (random weights)",
  licence: "MIT",
  dtype: "q8",
  labelSets: ["voc", "context", "coco-object", "ade", "cityscapes"],
  textLoaded: false,
  embedDim: 32,
  imageBytes: 660_000,
  textBytes: 3_175_133,
  totalBytes: 660_000,
  files: 12,
  fromCache: 0,
  cached: true,
  notes: [],
  ms: 10,
};

const seg = (id: number, name: string, k = 0): SegmentName => ({ id, class: k, name, scores: [1, 2, 3] });

describe("the naming JSON", () => {
  it("reads the wasm nameSegments JSON", () => {
    const text = JSON.stringify({ segments: [{ id: 0, class: 2, name: "cat", scores: [0.1, 0.2, 3.5] }, { id: 4, class: 0, name: "grass", scores: [9, 1, 2] }] });
    expect(parseNaming(text)).toEqual({
      segments: [
        { id: 0, class: 2, name: "cat", scores: [0.1, 0.2, 3.5] },
        { id: 4, class: 0, name: "grass", scores: [9, 1, 2] },
      ],
    });
    expect(parseNaming('{"segments": []}')).toEqual({ segments: [] });
  });

  it("refuses what the page could not use, with its own error", () => {
    const bad = [
      "not json",
      "[]",
      '{"segments": {}}',
      '{"segments": [1]}',
      '{"segments": [{"id": -1, "class": 0, "name": "a", "scores": [1]}]}',
      '{"segments": [{"id": 1.5, "class": 0, "name": "a", "scores": [1]}]}',
      '{"segments": [{"id": 4294967296, "class": 0, "name": "a", "scores": [1]}]}',
      '{"segments": [{"id": 2, "class": 0, "name": "a", "scores": [1]}, {"id": 2, "class": 0, "name": "b", "scores": [1]}]}',
      '{"segments": [{"id": 0, "class": 1, "name": "a", "scores": [1]}]}',
      '{"segments": [{"id": 0, "class": 0, "name": "a", "scores": []}]}',
      '{"segments": [{"id": 0, "class": 0, "name": "a", "scores": [null]}]}',
      '{"segments": [{"id": 0, "class": 0, "name": " ", "scores": [1]}]}',
      '{"segments": [{"id": 0, "class": 0, "name": 7, "scores": [1]}]}',
      JSON.stringify({ segments: [{ id: 0, class: 0, name: "x".repeat(MAX_NAME_CHARS + 1), scores: [1] }] }),
    ];
    for (const text of bad) expect(() => parseNaming(text), text).toThrow(NamingFormatError);
  });
});

describe("the label list", () => {
  it("passes a set's name as it is", () => {
    expect(labelSpec("voc", "ignored")).toEqual({ ok: true, spec: "voc", words: false });
  });

  it("tidies the person's words: classes by ';', synonyms by ',', names trimmed, empties dropped", () => {
    expect(labelSpec(OWN_WORDS, "cat; dog, puppy; grass")).toEqual({ ok: true, spec: "cat;dog,puppy;grass", words: true });
    expect(labelSpec(OWN_WORDS, "  red   car ;; , ;sky,  ")).toEqual({ ok: true, spec: "red car;sky", words: true });
  });

  it("says what is wrong with words it cannot use", () => {
    for (const words of ["", "cat", "cat; ;", " , ; , "]) {
      const r = labelSpec(OWN_WORDS, words);
      expect(r.ok, words).toBe(false);
      if (!r.ok) expect(r.error).toContain("two or more classes");
    }
    const long = labelSpec(OWN_WORDS, `cat; ${"x".repeat(MAX_NAME_CHARS + 1)}`);
    expect(long.ok).toBe(false);
    if (!long.ok) expect(long.error).toContain(`longer than ${MAX_NAME_CHARS}`);
    const file = labelSpec(OWN_WORDS, "@classes.txt; dog");
    expect(file.ok).toBe(false);
    const many = labelSpec(OWN_WORDS, Array.from({ length: 1025 }, (_, i) => `c${i}`).join(";"));
    expect(many.ok).toBe(false);
  });

  it("needs the text part for words and for sets the folder has not precomputed", () => {
    expect(needsText("voc", CLIP)).toBe(false);
    expect(needsText("cat;dog", CLIP)).toBe(true);
    expect(needsText("ade", { labelSets: ["voc"], textLoaded: false })).toBe(true);
    expect(needsText("cat;dog", { ...CLIP, textLoaded: true })).toBe(false);
  });

  it("offers the folder's sets, then the person's own words", () => {
    expect(labelOptions(["ade", "voc", "unknown"]).map((o) => o.value)).toEqual(["voc", "ade", OWN_WORDS]);
    expect(labelOptions([]).map((o) => o.label)).toEqual(["Your own words…"]);
  });
});

describe("names by tree node", () => {
  // SMALL at τ = 0.5: segments are nodes 2, 3, 5, 8 (labels 0..3).
  const segmentNodes = [2, 3, 5, 8];
  const naming = { segments: [seg(0, "cat"), seg(1, "dog"), seg(2, "grass"), seg(3, "grass"), seg(7, "ghost")] };

  it("keys each segment's name by its node, leaving out ids the cut does not have", () => {
    const byNode = namesByNode(naming, segmentNodes);
    expect([...byNode.entries()].map(([n, s]) => [n, s.name])).toEqual([
      [2, "cat"],
      [3, "dog"],
      [5, "grass"],
      [8, "grass"],
    ]);
  });

  it("names a selected node: the segments inside it, or the segment holding it", () => {
    const byNode = namesByNode(naming, segmentNodes);
    expect(namesForNode(SMALL, segmentNodes, byNode, 2)).toEqual(["cat"]);
    expect(namesForNode(SMALL, segmentNodes, byNode, 1)).toEqual(["cat", "dog"]);
    expect(namesForNode(SMALL, segmentNodes, byNode, 4)).toEqual(["grass"]);
    expect(namesForNode(SMALL, segmentNodes, byNode, 0)).toEqual(["cat", "dog", "grass"]);
    // Node 6 is inside segment 5.
    expect(namesForNode(SMALL, segmentNodes, byNode, 6)).toEqual(["grass"]);
    expect(namesForNode(SMALL, segmentNodes, new Map(), 1)).toEqual([]);
  });
});

describe("where names are drawn", () => {
  it("puts each segment's name at its innermost pixel, far from its border and the image's edge", () => {
    // 9×5: segment 0 on the left 4 columns, segment 1 on the right 5, segment 2 absent.
    const [w, h] = [9, 5];
    const labels = new Uint32Array(w * h).map((_, i) => (i % w < 4 ? 0 : 1));
    const points = innermostPoints(labels, w, h, 3);
    expect(points[0]).toMatchObject({ x: 1, y: 1 }); // all its inner pixels are 1 from a border: the first
    expect(points[1]).toMatchObject({ x: 6, y: 2 });
    expect(points[1]?.depth).toBeGreaterThan(points[0]?.depth ?? Infinity);
    expect(points[2]).toBeNull();
  });

  it("finds the inside of a ring's segment rather than its hole's middle", () => {
    // A 21×21 image: segment 1 is a square ring of width 6 around segment 0 (a 5×5 hole).
    const w = 21;
    const labels = new Uint32Array(w * w).map((_, i) => {
      const [x, y] = [i % w, Math.floor(i / w)];
      return Math.max(Math.abs(x - 10), Math.abs(y - 10)) <= 2 ? 0 : 1;
    });
    const [hole, ring] = innermostPoints(labels, w, w, 2);
    expect(hole).toMatchObject({ x: 10, y: 10 });
    if (!ring) throw new Error("no ring point");
    expect(labels[ring.y * w + ring.x]).toBe(1);
    expect(Math.max(Math.abs(ring.x - 10), Math.abs(ring.y - 10))).toBeGreaterThan(2);
  });

  it("keeps one pixel's segment and ignores labels past the count", () => {
    const labels = Uint32Array.from([0, 0, 0, 0, 1, 0, 0, 0, 9]);
    const points = innermostPoints(labels, 3, 3, 2);
    expect(points[1]).toEqual({ x: 1, y: 1, depth: 0 });
    expect(points[0]?.depth).toBe(0);
  });

  it("places boxes inside the canvas, deepest first, leaving out thin segments and overlaps", () => {
    const names: NameAt[] = [
      { text: "sky", segment: 0, at: { x: 2, y: 2, depth: 20 } },
      { text: "cloud", segment: 1, at: { x: 6, y: 4, depth: 10 } },
      { text: "grass", segment: 2, at: { x: 80, y: 90, depth: 30 } },
      { text: "wire", segment: 3, at: { x: 50, y: 50, depth: 1 } },
    ];
    const boxes = labelBoxes(names, 100, 100, 12, (t) => 6 * t.length);
    expect(boxes.map((b) => b.text)).toEqual(["grass", "sky"]);
    for (const b of boxes) {
      expect(b.x).toBeGreaterThanOrEqual(0);
      expect(b.y).toBeGreaterThanOrEqual(0);
      expect(b.x + b.width).toBeLessThanOrEqual(100);
      expect(b.y + b.height).toBeLessThanOrEqual(100);
    }
    expect(boxes[1]).toMatchObject({ x: 0, y: 0, segment: 0 });
    expect(labelBoxes(names, 100, 100, 12, () => 5, 1)).toHaveLength(1);
  });
});

describe("the naming texts", () => {
  it("says what loaded", () => {
    expect(clipText(CLIP)).toBe(
      "diffcut tiny CLIP fixture (random weights) (q8, image part 660 KB, text part (3.2 MB) loads when you use your own words; label sets voc, context, coco-object, ade, cityscapes; now cached, licence MIT).",
    );
    expect(clipText({ ...CLIP, name: null, licence: null, textLoaded: true, fromCache: 12, labelSets: [], notes: ["x"] })).toBe(
      "CLIP (q8, image part 660 KB, text part 3.2 MB loaded; no precomputed label sets; from the browser's cache). Note: x.",
    );
  });

  it("names the hovered segment and the selection", () => {
    expect(hoverText(2, 12, 7, 0.041, "person")).toBe("segment 3 of 12 · person (tree node 7), 4.1% of the image");
    expect(hoverText(0, 1, 0, 1, null)).toBe("segment 1 of 1 (tree node 0), 100.0% of the image");
    expect(selectionNames(["person", "grass"])).toBe(" · person, grass");
    expect(selectionNames([])).toBe("");
  });

  it("counts the legend's names, most first", () => {
    expect(nameCounts(["grass", "cat", "grass", "dog", "cat", "grass"])).toEqual([
      { name: "grass", segments: 3 },
      { name: "cat", segments: 2 },
      { name: "dog", segments: 1 },
    ]);
  });
});
