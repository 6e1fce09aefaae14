import { describe, expect, it } from "vitest";
import type { TreeJson } from "../src/protocol";
import { colourKeys, cutAt, finestLeaves, layoutTree, mapLabels, recursionSteps, segmentSteps, segmentsAtSteps, splitLevels, splitsAt } from "../src/tree-model";
import { randomTree, SMALL } from "./fixtures";

/** The segments at τ by plain recursion (the definition): node ids in pre-order. */
function segmentsByRecursion(tree: TreeJson, tau: number, i = 0): number[] {
  const n = tree.nodes[i];
  if (!n) return [];
  if (n.children !== null && n.ncut !== null && n.ncut < tau) {
    return [...segmentsByRecursion(tree, tau, n.children[0]), ...segmentsByRecursion(tree, tau, n.children[1])];
  }
  return [i];
}

/** Is `a` an ancestor of (or equal to) `b`? */
function contains(tree: TreeJson, a: number, b: number): boolean {
  for (let i: number | null = b; i !== null; i = tree.nodes[i]?.parent ?? null) if (i === a) return true;
  return false;
}

describe("cutAt", () => {
  it("cuts the small tree at each τ", () => {
    const cases: [number, number[]][] = [
      [0.05, [0]],
      [0.15, [1, 4]],
      [0.3, [1, 5, 8]],
      [0.5, [2, 3, 5, 8]],
      [0.7, [2, 3, 6, 7, 8]],
      [0.9, [2, 3, 6, 7, 8]],
    ];
    for (const [tau, want] of cases) {
      const cut = cutAt(SMALL, tau);
      expect(cut.segmentNodes, `τ = ${tau}`).toEqual(want);
      expect(cut.segments).toBe(want.length);
    }
  });

  it("maps each finest leaf to its ancestor at τ", () => {
    expect(finestLeaves(SMALL)).toEqual([2, 3, 6, 7, 8]);
    expect(Array.from(cutAt(SMALL, 0.3).lut)).toEqual([0, 0, 1, 1, 2]);
    expect(Array.from(cutAt(SMALL, 0.05).lut)).toEqual([0, 0, 0, 0, 0]);
    expect(Array.from(cutAt(SMALL, 0.7).lut)).toEqual([0, 1, 2, 3, 4]);
  });

  it("keeps a low-NCut node inside its non-splitting ancestor's segment", () => {
    // Node 5 has NCut 0.1 < τ = 0.15, but its parent 4 (0.2) does not split at 0.15.
    const tree: TreeJson = { ...SMALL, nodes: SMALL.nodes.map((n, i) => (i === 5 ? { ...n, ncut: 0.1 } : n)) };
    expect(splitsAt(tree, 5, 0.15)).toBe(true);
    expect(cutAt(tree, 0.15).segmentNodes).toEqual([1, 4]);
    expect(Array.from(cutAt(tree, 0.15).lut)).toEqual([0, 0, 1, 1, 1]);
  });

  it("agrees with the recursive definition on random trees, and counts grow with τ", () => {
    for (let seed = 1; seed <= 40; seed++) {
      const tree = randomTree(seed, 60);
      const finest = finestLeaves(tree);
      let previous = 0;
      for (let tau = 0.02; tau <= 0.9; tau += 0.04) {
        const cut = cutAt(tree, tau, finest);
        const want = segmentsByRecursion(tree, tau);
        expect(cut.segmentNodes).toEqual(want);
        expect(cut.segments).toBeGreaterThanOrEqual(previous);
        previous = cut.segments;
        finest.forEach((leaf, f) => {
          const seg = cut.segmentNodes[cut.lut[f] ?? -1];
          expect(seg !== undefined && contains(tree, seg, leaf)).toBe(true);
        });
      }
    }
  });
});

describe("mapLabels", () => {
  it("maps per-pixel finest labels through the lookup table, in place when asked", () => {
    const finest = new Uint32Array([0, 1, 2, 3, 4, 4, 2]);
    const lut = cutAt(SMALL, 0.3).lut;
    const out = new Uint32Array(finest.length);
    expect(mapLabels(finest, lut, out)).toBe(out);
    expect(Array.from(out)).toEqual([0, 0, 1, 1, 2, 2, 1]);
  });
});

describe("colourKeys", () => {
  it("lets the first child keep its parent's colour", () => {
    expect(Array.from(colourKeys(SMALL))).toEqual([0, 0, 0, 3, 4, 4, 4, 7, 8]);
  });

  it("gives the segments of every cut distinct keys", () => {
    for (let seed = 1; seed <= 30; seed++) {
      const tree = randomTree(seed, 80);
      const keys = colourKeys(tree);
      for (let tau = 0.02; tau <= 0.9; tau += 0.02) {
        const ks = cutAt(tree, tau).segmentNodes.map((n) => keys[n]);
        expect(new Set(ks).size).toBe(ks.length);
      }
    }
  });
});

describe("splitLevels and layoutTree", () => {
  it("puts each split at the largest NCut on its path", () => {
    const tree: TreeJson = { ...SMALL, nodes: SMALL.nodes.map((n, i) => (i === 5 ? { ...n, ncut: 0.1 } : n)) };
    const level = splitLevels(tree);
    expect(level[0]).toBeCloseTo(0.1);
    expect(level[4]).toBeCloseTo(0.2);
    expect(level[5]).toBeCloseTo(0.2); // its own 0.1 is below its parent's
    expect(level[2]).toBe(Infinity);
  });

  it("spaces the finest leaves evenly and centres parents", () => {
    const placed = layoutTree(SMALL);
    const xs = finestLeaves(SMALL).map((n) => placed[n]?.x);
    expect(xs).toEqual([0.1, 0.3, 0.5, 0.7, 0.9]);
    expect(placed[1]?.x).toBeCloseTo(0.2);
    expect(placed[0]?.y).toBeCloseTo(0.1);
    expect(placed[2]?.y).toBe(0.9);
    expect(placed[6]?.y0).toBeCloseTo(0.6);
  });

  it("crosses one branch per segment at any τ", () => {
    const tree = randomTree(7, 90);
    const placed = layoutTree(tree);
    for (let tau = 0.03; tau < 0.9; tau += 0.05) {
      const crossing = placed.filter((p) => p.y0 < tau && tau <= p.y).length;
      expect(crossing).toBe(cutAt(tree, tau).segments);
    }
  });
});

describe("segmentSteps", () => {
  it("counts the segments at every τ as cutting the tree does", () => {
    for (const tree of [SMALL, ...Array.from({ length: 20 }, (_, seed) => randomTree(seed + 1, 40))]) {
      const levels = segmentSteps(tree);
      const probes = [0.001, ...levels.flatMap((l) => [l, l + 1e-9, l - 1e-9]), 0.5, 0.9, tree.tauMax];
      for (const tau of probes) {
        if (tau <= 0 || tau > tree.tauMax) continue;
        expect(segmentsAtSteps(levels, tau)).toBe(cutAt(tree, tau).segments);
      }
      expect(levels).toEqual([...levels].sort((a, b) => a - b));
    }
  });
});

/** The recursion's visits at τ by plain recursion (the definition): [node, splits] in visit order. */
function visitsByRecursion(tree: TreeJson, tau: number, i = 0): [number, boolean][] {
  const n = tree.nodes[i];
  if (!n) return [];
  const splits = n.children !== null && n.ncut !== null && n.ncut < tau;
  const own: [number, boolean][] = n.ncut === null ? [] : [[i, splits]];
  if (!splits || n.children === null) return own;
  return [...own, ...visitsByRecursion(tree, tau, n.children[0]), ...visitsByRecursion(tree, tau, n.children[1])];
}

describe("recursionSteps", () => {
  it("replays the small tree's decisions in the order the recursion makes them", () => {
    const steps = recursionSteps(SMALL, 0.3);
    expect(steps.map((s) => [s.node, s.splits, s.segmentsAfter])).toEqual(
      visitsByRecursion(SMALL, 0.3).map(([node, splits], k, all) => [node, splits, 1 + all.slice(0, k + 1).filter(([, sp]) => sp).length]),
    );
    expect(steps.at(-1)?.segmentsAfter).toBe(cutAt(SMALL, 0.3).segments);
  });

  it("visits every split once, in order, and ends at the cut at τ, on random trees", () => {
    for (let seed = 1; seed <= 40; seed++) {
      const tree = randomTree(seed, 3 + (seed % 25));
      for (const tau of [0.05, 0.2, 0.45, 0.8, tree.tauMax]) {
        const steps = recursionSteps(tree, tau);
        expect(steps.map((s): [number, boolean] => [s.node, s.splits]), `seed ${seed}, τ ${tau}`).toEqual(visitsByRecursion(tree, tau));
        const splitting = tree.nodes.map((_, i) => i).filter((i) => splitsAt(tree, i, tau) && cutAt(tree, tau).segmentOfNode[i] === -1);
        expect(steps.filter((s) => s.splits).map((s) => s.node)).toEqual(splitting);
        expect(steps.at(-1)?.segmentsAfter ?? 1).toBe(cutAt(tree, tau).segments);
        expect(steps.every((s) => !s.splits || s.ncut < tau)).toBe(true);
      }
    }
  });
});
