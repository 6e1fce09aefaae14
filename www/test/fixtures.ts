import type { TreeJson, TreeNodeJson } from "../src/protocol";

type Spec = readonly [parent: number | null, children: readonly [number, number] | null, ncut: number | null];

/** A tree from `[parent, children, ncut]` per node (pre-order); depth and cells are filled in. */
export function makeTree(spec: readonly Spec[], tauMax = 0.9): TreeJson {
  const depth: number[] = [];
  const nodes: TreeNodeJson[] = spec.map(([parent, children, ncut], i) => {
    depth[i] = parent === null ? 0 : (depth[parent] ?? 0) + 1;
    return { depth: depth[i] ?? 0, parent, children, ncut, threshold: ncut === null ? null : 0, lambda: ncut === null ? null : ncut / 2, cells: 1 };
  });
  return { grid: [4, 4], alpha: 10, tauMax, dropped: 0, nodes };
}

/**
 * ```text
 * 0 (0.1) ─┬─ 1 (0.4) ─┬─ 2
 *          │           └─ 3 (0.95, not split)
 *          └─ 4 (0.2) ─┬─ 5 (0.6) ─┬─ 6
 *                      │           └─ 7
 *                      └─ 8
 * ```
 */
export const SMALL: TreeJson = makeTree([
  [null, [1, 4], 0.1],
  [0, [2, 3], 0.4],
  [1, null, null],
  [1, null, 0.95],
  [0, [5, 8], 0.2],
  [4, [6, 7], 0.6],
  [5, null, null],
  [5, null, null],
  [4, null, null],
]);

/** A random pre-order tree of about `size` nodes with NCut values in [0, 0.9). */
export function randomTree(seed: number, size: number): TreeJson {
  let s = seed >>> 0;
  const rand = (): number => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
  const spec: [number | null, [number, number] | null, number | null][] = [];
  const grow = (parent: number | null, budget: number): number => {
    const i = spec.length;
    spec.push([parent, null, rand() < 0.2 ? null : rand() * 1.2]);
    const node = spec[i];
    if (node && budget >= 3 && node[2] !== null && node[2] < 0.9 && rand() < 0.85) {
      const left = Math.max(1, Math.floor((budget - 1) * rand()));
      const a = grow(i, left);
      const b = grow(i, budget - 1 - left);
      node[1] = [a, b];
    }
    return i;
  };
  grow(null, size);
  return makeTree(spec);
}
