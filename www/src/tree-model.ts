/**
 * Pure functions over the segment tree: re-cutting it at τ, mapping finest leaves to their
 * ancestor at τ (the live view), stable colours, and the dendrogram layout.
 *
 * A node splits at τ iff it has children and its NCut is below τ (the library's
 * `SegmentTree::splits_at`). The segments at τ are the nodes reached from the root through
 * splitting nodes that do not split themselves, numbered in pre-order, which is the order of the
 * library's `leaves_at`, so these indices match the wasm module's labels.
 */
import type { TreeJson } from "./protocol";

/** Does node `i` split at τ? */
export function splitsAt(tree: TreeJson, i: number, tau: number): boolean {
  const n = tree.nodes[i];
  return n !== undefined && n.children !== null && n.ncut !== null && n.ncut < tau;
}

/** The finest leaves (segments at `tauMax`): nodes without children, in pre-order. */
export function finestLeaves(tree: TreeJson): number[] {
  const out: number[] = [];
  tree.nodes.forEach((n, i) => {
    if (n.children === null) out.push(i);
  });
  return out;
}

/** The tree cut at τ. */
export interface Cut {
  readonly tau: number;
  /** Number of segments. */
  readonly segments: number;
  /** Segment k is node `segmentNodes[k]`. */
  readonly segmentNodes: readonly number[];
  /** Segment of each node that lies inside a segment (−1 for nodes that split at τ). */
  readonly segmentOfNode: Int32Array;
  /** Finest-leaf index → segment at τ: a pixel labelled with finest leaf f is in `lut[f]`. */
  readonly lut: Uint32Array;
}

/**
 * Cuts the tree at τ in one pre-order pass: a node whose parent splits starts a segment of its
 * own unless it splits too; a node below a non-splitting node belongs to that node's segment.
 * O(nodes); the library's `leaf_labels_at` gives the same segments for grid cells.
 */
export function cutAt(tree: TreeJson, tau: number, finest: readonly number[] = finestLeaves(tree)): Cut {
  const count = tree.nodes.length;
  const segmentOfNode = new Int32Array(count).fill(-1);
  const segmentNodes: number[] = [];
  for (let i = 0; i < count; i++) {
    const parent = tree.nodes[i]?.parent ?? null;
    // −1 on the parent means it is reached from the root and splits at τ.
    if (parent === null || segmentOfNode[parent] === -1) {
      if (!splitsAt(tree, i, tau)) {
        segmentOfNode[i] = segmentNodes.length;
        segmentNodes.push(i);
      }
    } else {
      segmentOfNode[i] = segmentOfNode[parent] ?? -1;
    }
  }
  const lut = new Uint32Array(finest.length);
  finest.forEach((node, f) => {
    lut[f] = Math.max(0, segmentOfNode[node] ?? 0);
  });
  return { tau, segments: segmentNodes.length, segmentNodes, segmentOfNode, lut };
}

/**
 * Maps per-pixel finest-leaf labels to segments at τ through `lut` (the live view while τ moves).
 * Writes into `out` when given (same length as `finest`).
 */
export function mapLabels(finest: Uint32Array, lut: Uint32Array, out: Uint32Array = new Uint32Array(finest.length)): Uint32Array {
  for (let p = 0; p < finest.length; p++) {
    out[p] = lut[finest[p] ?? 0] ?? 0;
  }
  return out;
}

/**
 * A colour key per node, stable while τ moves: the `y > θ` child keeps its parent's key and the
 * other child takes its own node index. When τ grows and a segment splits, one half keeps its
 * colour and only the other half changes. Keys of the segments of any cut are distinct (two
 * segments sharing a key would both lie on one first-child chain, so one would contain the other).
 */
export function colourKeys(tree: TreeJson): Uint32Array {
  const keys = new Uint32Array(tree.nodes.length);
  tree.nodes.forEach((n, i) => {
    if (n.children !== null) {
      const [a, b] = n.children;
      keys[a] = keys[i] ?? 0;
      keys[b] = b;
    }
  });
  return keys;
}

/**
 * The τ from which node i splits: the largest NCut on its path from the root (a node splits at
 * τ iff it and all its ancestors have NCut < τ). `Infinity` for nodes that never split here.
 */
export function splitLevels(tree: TreeJson): Float64Array {
  const level = new Float64Array(tree.nodes.length);
  tree.nodes.forEach((n, i) => {
    const own = n.children !== null && n.ncut !== null ? n.ncut : Infinity;
    const up = n.parent === null ? 0 : (level[n.parent] ?? Infinity);
    level[i] = Math.max(own, up);
  });
  return level;
}

/**
 * The number of segments against τ, from the tree alone (no solve): every node that splits adds
 * one segment from its split level on, so `segments(τ) = 1 + #{split levels < τ}`. Returns the
 * finite split levels, ascending: the τ where the count steps up.
 */
export function segmentSteps(tree: TreeJson): number[] {
  return Array.from(splitLevels(tree))
    .filter((l) => Number.isFinite(l))
    .sort((a, b) => a - b);
}

/** Segments at τ from {@link segmentSteps}' levels: one, plus one per level below τ. */
export function segmentsAtSteps(levels: readonly number[], tau: number): number {
  let lo = 0;
  let hi = levels.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if ((levels[mid] ?? Infinity) < tau) lo = mid + 1;
    else hi = mid;
  }
  return 1 + lo;
}

/** A node placed in the dendrogram: x in [0, 1] across the finest leaves, y = the τ it splits at. */
export interface PlacedNode {
  readonly node: number;
  readonly x: number;
  /** Split level (`splitLevels`), or `tauMax` for nodes that do not split. */
  readonly y: number;
  /** The parent's split level (where this node's branch starts); 0 for the root. */
  readonly y0: number;
  readonly splits: boolean;
}

/**
 * Dendrogram layout with τ as the vertical axis: a node's bar sits at the τ from which it splits,
 * so the horizontal line at τ crosses exactly one branch per segment at τ. Finest leaves are
 * evenly spaced in pre-order; a parent is centred over its children.
 */
export function layoutTree(tree: TreeJson): PlacedNode[] {
  const leaves = finestLeaves(tree);
  const x = new Float64Array(tree.nodes.length);
  leaves.forEach((node, k) => {
    x[node] = (k + 0.5) / leaves.length;
  });
  for (let i = tree.nodes.length - 1; i >= 0; i--) {
    const kids = tree.nodes[i]?.children;
    if (kids) x[i] = ((x[kids[0]] ?? 0) + (x[kids[1]] ?? 0)) / 2;
  }
  const level = splitLevels(tree);
  return tree.nodes.map((n, i) => {
    const splits = n.children !== null;
    return {
      node: i,
      x: x[i] ?? 0,
      y: splits ? Math.min(level[i] ?? tree.tauMax, tree.tauMax) : tree.tauMax,
      y0: n.parent === null ? 0 : Math.min(level[n.parent] ?? 0, tree.tauMax),
      splits,
    };
  });
}

/** One decision of the recursion at τ: a region examined, and whether its best cut is kept. */
export interface RecursionStep {
  readonly node: number;
  /** The region's best NCut. */
  readonly ncut: number;
  /** `ncut < τ`: the region is cut in two, and each side examined in turn. */
  readonly splits: boolean;
  /** Segments once this decision is made (one more after each split). */
  readonly segmentsAfter: number;
}

/**
 * The recursion at τ replayed: every region it examines, in the order it examines them (depth
 * first, the `y > θ` side before the other: the tree's pre-order), each with its decision.
 * Regions too small to cut (no NCut) are not steps. After the last step the segments are
 * `cutAt(tree, τ)`'s: one to start with, one more per split.
 */
export function recursionSteps(tree: TreeJson, tau: number): RecursionStep[] {
  const reached = new Uint8Array(tree.nodes.length);
  const steps: RecursionStep[] = [];
  let segments = 1;
  tree.nodes.forEach((n, i) => {
    if (n.parent !== null && !(reached[n.parent] === 1 && splitsAt(tree, n.parent, tau))) return;
    reached[i] = 1;
    if (n.ncut === null) return;
    const splits = splitsAt(tree, i, tau);
    if (splits) segments += 1;
    steps.push({ node: i, ncut: n.ncut, splits, segmentsAfter: segments });
  });
  return steps;
}
