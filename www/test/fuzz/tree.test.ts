/**
 * Fuzzing the tree summary parser (the worker checks the wasm module's `tree()` JSON with it
 * before the page indexes arrays with its numbers) and the page's work on a parsed tree.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseTreeJson, TreeFormatError, type TreeJson } from "../../src/protocol";
import { colourKeys, cutAt, finestLeaves, layoutTree, mapLabels } from "../../src/tree-model";
import { randomTree } from "../fixtures";
import { check, timed } from "./runs";

const anyValue = fc.oneof(fc.jsonValue(), fc.constant(null), fc.constant(-1), fc.constant(0), fc.constant(1), fc.constant(1e308), fc.constant([1, 1]), fc.constant([0, 0]), fc.constant("1"));

/** A valid tree's JSON with some fields of some nodes replaced. */
const mutatedTree = fc
  .tuple(fc.nat(), fc.integer({ min: 1, max: 200 }), fc.array(fc.tuple(fc.nat(), fc.constantFrom("depth", "parent", "children", "ncut", "threshold", "lambda", "cells"), anyValue), { maxLength: 4 }))
  .map(([seed, size, edits]) => {
    const tree = JSON.parse(JSON.stringify(randomTree(seed, size))) as { nodes: Record<string, unknown>[] };
    for (const [at, field, value] of edits) {
      const node = tree.nodes[at % tree.nodes.length];
      if (node) node[field] = value;
    }
    return JSON.stringify(tree);
  });

/** Shapes made to be expensive: chains, shared children, cycles, huge indices. */
const hostileTree = fc.tuple(fc.integer({ min: 1, max: 20_000 }), fc.constantFrom("chain", "shared", "selfloop", "orphans", "huge")).map(([n, kind]) => {
  const nodes = Array.from({ length: n }, (_, i) => ({ depth: i, parent: i === 0 ? null : i - 1, children: null as [number, number] | null, ncut: 0.1, threshold: 0, lambda: 0, cells: 1 }));
  nodes.forEach((node, i) => {
    if (kind === "chain" && i + 2 < n && i % 2 === 0) node.children = [i + 1, i + 2];
    if (kind === "shared" && i + 1 < n) node.children = [i + 1, i + 1];
    if (kind === "selfloop") node.children = [i, i];
    if (kind === "huge") node.children = [2 ** 31, 2 ** 53];
  });
  if (kind === "orphans") nodes.forEach((node, i) => (node.parent = i === 0 ? null : 0));
  return JSON.stringify({ grid: [32, 32], alpha: 10, tauMax: 0.9, dropped: 0, nodes });
});

function parse(text: string): TreeJson | TreeFormatError {
  try {
    return timed(() => parseTreeJson(text));
  } catch (e) {
    if (e instanceof TreeFormatError) return e;
    throw e;
  }
}

/** What the page relies on: a tree (every node but the root is the child of exactly one node). */
function expectTree(t: TreeJson): void {
  const kids = t.nodes.flatMap((n) => n.children ?? []);
  expect(kids.length).toBe(t.nodes.length - 1);
  expect(new Set(kids).size).toBe(kids.length);
  expect(kids).not.toContain(0);
}

describe("fuzz: parseTreeJson and the page's work on its tree", () => {
  it("returns a tree or throws TreeFormatError; cuts, colours and layout stay in range", async () => {
    await check(
      "parseTreeJson → cutAt / mapLabels / colourKeys / layoutTree",
      fc.property(fc.oneof(fc.string(), fc.json(), mutatedTree, hostileTree), fc.double({ min: 0, max: 2, noNaN: true }), (text, tau) => {
        const t = parse(text);
        if (t instanceof TreeFormatError) return;
        expectTree(t);
        timed(() => {
          const finest = finestLeaves(t);
          const cut = cutAt(t, tau, finest);
          expect(cut.segments).toBeGreaterThanOrEqual(1);
          expect(new Set(cut.segmentNodes).size).toBe(cut.segments);
          for (const s of cut.lut) expect(s).toBeLessThan(cut.segments);
          const labels = mapLabels(Uint32Array.from(finest.keys()), cut.lut);
          for (const s of labels) expect(s).toBeLessThan(cut.segments);
          const keys = colourKeys(t);
          expect(new Set(cut.segmentNodes.map((n) => keys[n])).size).toBe(cut.segments);
          for (const p of layoutTree(t)) {
            expect(p.x >= 0 && p.x <= 1).toBe(true);
            expect(Number.isFinite(p.y) && Number.isFinite(p.y0)).toBe(true);
          }
        });
      }),
    );
  });
});
