import { describe, expect, it } from "vitest";
import { laneOf, parseSpectra, parseTreeJson, transferables, TreeFormatError, trapPointOf, type Response } from "../src/protocol";
import { SMALL } from "./fixtures";

describe("parseTreeJson", () => {
  it("accepts what the wasm module writes", () => {
    const text = JSON.stringify(SMALL);
    expect(parseTreeJson(text)).toEqual(SMALL);
  });

  it("names the first problem", () => {
    const bad = (mutate: (t: { grid: unknown; nodes: Record<string, unknown>[] }) => void): string => {
      const t = JSON.parse(JSON.stringify(SMALL)) as { grid: unknown; nodes: Record<string, unknown>[] };
      mutate(t);
      return JSON.stringify(t);
    };
    const cases: [string, string][] = [
      ["[]", "not an object"],
      [bad((t) => (t.grid = [4])), "grid"],
      [bad((t) => (t.nodes = [])), "non-empty"],
      [bad((t) => (t.nodes[3] = { ...t.nodes[3], parent: 7 })), "node 3: parent"],
      [bad((t) => (t.nodes[0] = { ...t.nodes[0], parent: 0 })), "node 0: parent"],
      [bad((t) => (t.nodes[1] = { ...t.nodes[1], children: [2, 42] })), "out of range"],
      [bad((t) => (t.nodes[1] = { ...t.nodes[1], children: [2, 8] })), "node 8 does not name 1"],
      [bad((t) => (t.nodes[4] = { ...t.nodes[4], ncut: null })), "needs its ncut"],
      [bad((t) => (t.nodes[2] = { ...t.nodes[2], ncut: "0.5" })), "numbers or null"],
      [bad((t) => (t.nodes[2] = { ...t.nodes[2], depth: -1 })), "integers"],
      // Not a tree: both children one node; a node its parent does not list (found by fuzzing).
      [bad((t) => (t.nodes[5] = { ...t.nodes[5], children: [6, 6] })), "both children are node 6"],
      [bad((t) => (t.nodes[5] = { ...t.nodes[5], children: null, ncut: null })), "node 6: its parent 5 does not list it"],
      ["{", "not JSON"],
    ];
    for (const [text, message] of cases) {
      expect(() => parseTreeJson(text), message).toThrow(TreeFormatError);
      expect(() => parseTreeJson(text)).toThrow(message);
    }
  });
});

describe("transferables", () => {
  it("hands over every large array of a response", () => {
    const labels = new Uint32Array(4);
    const msg: Response = { type: "labels-done", id: 1, tau: 0.5, labels, ms: 1 };
    expect(transferables(msg)).toEqual([labels.buffer]);
    const node: Response = {
      type: "node-done",
      id: 2,
      node: 0,
      fiedler: new Float32Array(1),
      curve: new Float32Array(2),
      thresholds: new Float32Array(3),
    };
    expect(transferables(node)).toHaveLength(3);
    expect(transferables({ type: "error", id: 3, message: "x", fatal: false })).toEqual([]);
  });
});

describe("trapPointOf", () => {
  it("takes the two trap points of ?trap= and nothing else", () => {
    expect(trapPointOf("segment")).toBe("segment");
    expect(trapPointOf("model-file")).toBe("model-file");
    for (const v of [null, "", "1", "Segment", "segment ", "init"]) expect(trapPointOf(v)).toBeNull();
  });
});

describe("parseSpectra", () => {
  it("reads AutoSC's spectra and refuses what is not one", () => {
    expect(parseSpectra('[{"alpha":1,"gaps":[0,0.5]},{"alpha":5,"gaps":[0,1.2]}]')).toEqual([
      { alpha: 1, gaps: [0, 0.5] },
      { alpha: 5, gaps: [0, 1.2] },
    ]);
    expect(() => parseSpectra("[]")).toThrow(/non-empty array/);
    expect(() => parseSpectra('[{"alpha":1,"gaps":[0,"x"]}]')).toThrow(/entry 0/);
    expect(() => parseSpectra('{"alpha":1}')).toThrow(/non-empty array/);
  });
});

describe("laneOf", () => {
  it("puts model loads, CLIP and the segmenters in lanes of their own", () => {
    expect(laneOf("segment")).toBe("main");
    expect(laneOf("labels")).toBe("main");
    expect(laneOf("load-model")).toBe("model");
    expect(laneOf("clear-model-cache")).toBe("model");
    expect(laneOf("load-clip")).toBe("clip");
    expect(laneOf("name")).toBe("clip");
  });
});
