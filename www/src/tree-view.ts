/**
 * The teaching view: the segment tree as a dendrogram with τ as its vertical axis (each split at
 * the τ from which it happens, labelled with its NCut value; the τ line crosses one branch per
 * segment), and one node's NCut-versus-threshold curve with the chosen cut.
 */
import type { Cut } from "./tree-model";
import { layoutTree, type PlacedNode } from "./tree-model";
import type { TreeJson } from "./protocol";

const SVG_NS = "http://www.w3.org/2000/svg";

function el<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Record<string, string | number>, parent?: Element): SVGElementTagNameMap[K] {
  const e = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  parent?.appendChild(e);
  return e;
}

const fmt = (v: number, digits = 2): string => v.toFixed(digits);
/** An NCut value for a label: two decimals, three below 0.1 (root cuts are often near 0). */
const fmtNcut = (v: number): string => v.toFixed(v < 0.1 ? 3 : 2);
const rgb = (c: Uint8Array, k: number): string => `rgb(${c[3 * k] ?? 0} ${c[3 * k + 1] ?? 0} ${c[3 * k + 2] ?? 0})`;

/** Geometry of the dendrogram in viewBox units. */
const W = 640;
const H = 250;
const M = { left: 40, right: 12, top: 14, bottom: 22 };

/** What the tree view draws. */
export interface TreeViewState {
  readonly tree: TreeJson;
  readonly cut: Cut;
  /** `[r, g, b]` per segment of `cut`. */
  readonly colours: Uint8Array;
  readonly selected: number | null;
  readonly hoveredSegment: number;
}

/** Draws the dendrogram into `svg` (replacing its content); `onSelect` gets a clicked node. */
export function drawTree(svg: SVGSVGElement, s: TreeViewState, onSelect: (node: number) => void): void {
  svg.replaceChildren();
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  const { tree, cut } = s;
  const placed = layoutTree(tree);
  const px = (x: number): number => M.left + x * (W - M.left - M.right);
  const py = (tau: number): number => M.top + (Math.min(tau, tree.tauMax) / tree.tauMax) * (H - M.top - M.bottom);

  // τ axis.
  const axis = el("g", { class: "axis" }, svg);
  el("line", { x1: M.left - 6, x2: M.left - 6, y1: py(0), y2: py(tree.tauMax) }, axis);
  for (const t of [0, 0.25, 0.5, 0.75, tree.tauMax]) {
    if (t > tree.tauMax) continue;
    el("line", { x1: M.left - 9, x2: M.left - 6, y1: py(t), y2: py(t) }, axis);
    el("text", { x: M.left - 12, y: py(t) + 3, "text-anchor": "end" }, axis).textContent = fmt(t);
  }
  el("text", { x: M.left - 12, y: py(tree.tauMax) + 16, "text-anchor": "end", class: "axis-title" }, axis).textContent = "τ ↓";

  // Branches: from the parent's split level down to the node's own (or the bottom).
  const branches = el("g", { class: "branches" }, svg);
  for (const p of placed) {
    const seg = cut.segmentOfNode[p.node] ?? -1;
    const isSegment = seg >= 0 && cut.segmentNodes[seg] === p.node;
    const inside = seg >= 0 && !isSegment;
    const cls = isSegment ? "branch segment" : inside ? "branch inside" : "branch";
    const line = el("line", { x1: px(p.x), x2: px(p.x), y1: py(p.y0), y2: py(p.y), class: cls }, branches);
    if (isSegment) {
      line.style.stroke = rgb(s.colours, seg);
      if (seg === s.hoveredSegment) line.classList.add("hovered");
    }
    const kids = tree.nodes[p.node]?.children;
    if (kids) {
      const a = placed[kids[0]];
      const b = placed[kids[1]];
      if (a && b) el("line", { x1: px(a.x), x2: px(b.x), y1: py(p.y), y2: py(p.y), class: inside ? "bar inside" : "bar" }, branches);
    }
  }

  // NCut labels where there is room, then the clickable nodes.
  const labels = el("g", { class: "ncut-labels" }, svg);
  const nodes = el("g", { class: "nodes" }, svg);
  for (const p of placed) {
    const n = tree.nodes[p.node];
    if (!n) continue;
    if (p.splits && n.children && n.ncut !== null) {
      const [a, b] = n.children;
      const span = Math.abs(px(placed[a]?.x ?? 0) - px(placed[b]?.x ?? 0));
      if (span > 34 || p.node === 0) {
        el("text", { x: px(p.x), y: py(p.y) - 4, "text-anchor": "middle" }, labels).textContent = fmtNcut(n.ncut);
      }
    }
    if (n.ncut === null) continue; // nothing to show: a region too small to cut
    nodeMarker(nodes, p, n.ncut, n.cells, n.depth, s.selected === p.node, px, py, onSelect);
  }

  // The τ line.
  const t = el("g", { class: "tau-line" }, svg);
  el("line", { x1: M.left - 6, x2: W - M.right, y1: py(cut.tau), y2: py(cut.tau) }, t);
  el("text", { x: W - M.right, y: py(cut.tau) - 4, "text-anchor": "end" }, t).textContent =
    `τ = ${fmt(cut.tau)}: ${cut.segments} segment${cut.segments === 1 ? "" : "s"}`;
}

function nodeMarker(
  parent: SVGGElement,
  p: PlacedNode,
  ncut: number,
  cells: number,
  depth: number,
  selected: boolean,
  px: (x: number) => number,
  py: (t: number) => number,
  onSelect: (node: number) => void,
): void {
  const label = `node ${p.node}, depth ${depth}, ${cells} cells, NCut ${fmt(ncut, 3)}${p.splits ? "" : " (not split)"}`;
  const c = el("circle", { cx: px(p.x), cy: py(p.y), r: p.splits ? 4.5 : 3, class: selected ? "node selected" : p.splits ? "node" : "node leaf" }, parent);
  c.setAttribute("tabindex", "0");
  c.setAttribute("role", "button");
  c.setAttribute("aria-label", `${label}: show its Fiedler vector`);
  el("title", {}, c).textContent = label;
  c.dataset["node"] = String(p.node);
  c.addEventListener("click", () => onSelect(p.node));
  c.addEventListener("keydown", (e) => {
    if (e.key === "Enter" || e.key === " ") {
      e.preventDefault();
      onSelect(p.node);
    }
  });
}

/** What the curve chart draws. */
export interface CurveState {
  readonly thresholds: Float32Array;
  readonly curve: Float32Array;
  /** The chosen θ and its NCut. */
  readonly threshold: number;
  readonly ncut: number;
  readonly tau: number;
}

const CW = 320;
const CH = 170;
const CM = { left: 38, right: 10, top: 12, bottom: 30 };

/** NCut against the threshold on the Fiedler vector, the chosen cut and τ. */
export function drawCurve(svg: SVGSVGElement, s: CurveState): void {
  svg.replaceChildren();
  svg.setAttribute("viewBox", `0 0 ${CW} ${CH}`);
  const xs = Array.from(s.thresholds);
  const finite = Array.from(s.curve).filter((v) => Number.isFinite(v));
  if (xs.length === 0 || finite.length === 0) return;
  const [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  const yMax = Math.min(2, Math.max(...finite, s.tau) * 1.08);
  const px = (x: number): number => CM.left + ((x - x0) / (x1 - x0 || 1)) * (CW - CM.left - CM.right);
  const py = (y: number): number => CH - CM.bottom - (Math.min(y, yMax) / yMax) * (CH - CM.top - CM.bottom);

  const axis = el("g", { class: "axis" }, svg);
  el("line", { x1: CM.left, x2: CW - CM.right, y1: py(0), y2: py(0) }, axis);
  el("line", { x1: CM.left, x2: CM.left, y1: py(0), y2: py(yMax) }, axis);
  for (const y of [0, yMax / 2, yMax]) {
    el("text", { x: CM.left - 4, y: py(y) + 3, "text-anchor": "end" }, axis).textContent = fmt(y);
  }
  el("text", { x: (CM.left + CW - CM.right) / 2, y: CH - 6, "text-anchor": "middle" }, axis).textContent = "threshold on the Fiedler vector";
  el("text", { x: CM.left + 4, y: CM.top + 2 }, axis).textContent = "NCut";

  let d = "";
  let pen = false;
  s.curve.forEach((v, i) => {
    const x = s.thresholds[i];
    if (!Number.isFinite(v) || x === undefined) {
      pen = false;
      return;
    }
    d += `${pen ? "L" : "M"}${fmt(px(x), 1)},${fmt(py(v), 1)}`;
    pen = true;
  });
  el("path", { d, class: "curve" }, svg);

  if (s.tau <= yMax) {
    const t = el("g", { class: "tau-line" }, svg);
    el("line", { x1: CM.left, x2: CW - CM.right, y1: py(s.tau), y2: py(s.tau) }, t);
    el("text", { x: CW - CM.right, y: py(s.tau) - 3, "text-anchor": "end" }, t).textContent = `τ = ${fmt(s.tau)}`;
  }
  const cut = el("g", { class: "chosen" }, svg);
  el("line", { x1: px(s.threshold), x2: px(s.threshold), y1: py(0), y2: py(s.ncut) }, cut);
  el("circle", { cx: px(s.threshold), cy: py(s.ncut), r: 4 }, cut);
  const right = px(s.threshold) < (CM.left + CW - CM.right) / 2;
  el("text", { x: px(s.threshold) + (right ? 7 : -7), y: py(s.ncut) - 7, "text-anchor": right ? "start" : "end" }, cut).textContent =
    `chosen θ: NCut ${fmt(s.ncut, 3)}`;
}

/** What the τ sensitivity plot draws. */
export interface TauPlotState {
  /** Split levels, ascending (`segmentSteps`). */
  readonly levels: readonly number[];
  readonly tauMin: number;
  readonly tauMax: number;
  readonly tau: number;
}

const PW = 320;
const PH = 90;
const PM = { left: 30, right: 8, top: 8, bottom: 18 };

/** A small plot's box in viewBox units and its margins. */
interface Geometry {
  readonly w: number;
  readonly h: number;
  readonly m: { readonly left: number; readonly right: number; readonly top: number; readonly bottom: number };
}

const SMALL_PLOT: Geometry = { w: PW, h: PH, m: PM };

/**
 * Clears `svg` and draws a small plot's axes: x over [x0, x1] (ends labelled with `xText`, the
 * axis named `xName`), y over [0, yMax]. Returns the data → viewBox maps.
 */
function axes(
  svg: SVGSVGElement,
  g: Geometry,
  x: { readonly x0: number; readonly x1: number; readonly name: string; readonly text: (v: number) => string },
  yMax: number,
  yText: (v: number) => string = String,
): { px: (v: number) => number; py: (v: number) => number } {
  const { w, h, m } = g;
  svg.replaceChildren();
  svg.setAttribute("viewBox", `0 0 ${w} ${h}`);
  const px = (v: number): number => m.left + ((v - x.x0) / (x.x1 - x.x0 || 1)) * (w - m.left - m.right);
  const py = (v: number): number => h - m.bottom - (Math.max(0, v) / yMax) * (h - m.top - m.bottom);
  const axis = el("g", { class: "axis" }, svg);
  el("line", { x1: m.left, x2: w - m.right, y1: py(0), y2: py(0) }, axis);
  el("line", { x1: m.left, x2: m.left, y1: py(0), y2: py(yMax) }, axis);
  el("text", { x: m.left - 3, y: py(yMax) + 7, "text-anchor": "end" }, axis).textContent = yText(yMax);
  el("text", { x: m.left - 3, y: py(0), "text-anchor": "end" }, axis).textContent = "0";
  el("text", { x: px(x.x0), y: h - 4 }, axis).textContent = x.text(x.x0);
  el("text", { x: px(x.x1), y: h - 4, "text-anchor": "end" }, axis).textContent = x.text(x.x1);
  el("text", { x: (m.left + w - m.right) / 2, y: h - 4, "text-anchor": "middle" }, axis).textContent = x.name;
  return { px, py };
}

/** The pointer's x in `svg`'s viewBox units (the drawing is letterboxed inside the element's box). */
function pointerX(svg: SVGSVGElement, e: MouseEvent): number | null {
  const ctm = svg.getScreenCTM();
  return ctm ? new DOMPoint(e.clientX, e.clientY).matrixTransform(ctm.inverse()).x : null;
}

/** The dashed marker of the current value, labelled. */
function marker(svg: SVGSVGElement, x: number, y0: number, y1: number, top: number, text: string): void {
  const now = el("g", { class: "tau-line" }, svg);
  el("line", { x1: x, x2: x, y1: y0, y2: y1 }, now);
  el("text", { x: x + 3, y: top + 6 }, now).textContent = text;
}

/**
 * The number of segments against τ (a step up at each split level) over the slider's range, the
 * current τ marked; a click on it calls `onPick` with the τ under the pointer.
 */
export function drawTauPlot(svg: SVGSVGElement, s: TauPlotState, onPick: (tau: number) => void): void {
  const count = (t: number): number => 1 + s.levels.filter((l) => l < t).length;
  const yMax = Math.max(2, count(s.tauMax + 1e-9));
  const { px, py } = axes(svg, SMALL_PLOT, { x0: s.tauMin, x1: s.tauMax, name: "τ", text: (v) => fmt(v) }, yMax);
  // Steps: flat between split levels, up by one at each (a split at level l counts for τ > l).
  let d = `M${fmt(px(s.tauMin), 1)},${fmt(py(count(s.tauMin)), 1)}`;
  for (const l of s.levels) {
    if (l < s.tauMin || l >= s.tauMax) continue;
    d += `H${fmt(px(l), 1)}V${fmt(py(count(l + 1e-9)), 1)}`;
  }
  d += `H${fmt(px(s.tauMax), 1)}`;
  el("path", { d, class: "curve" }, svg);
  marker(svg, px(s.tau), py(0), py(yMax), PM.top, `${count(s.tau)} at τ = ${fmt(s.tau)}`);
  svg.onclick = (e: MouseEvent) => {
    const x = pointerX(svg, e);
    if (x === null) return;
    const t = s.tauMin + ((x - PM.left) / (PW - PM.left - PM.right)) * (s.tauMax - s.tauMin);
    onPick(Math.min(s.tauMax, Math.max(s.tauMin, t)));
  };
}

/** What the AutoSC eigengap plot draws. */
export interface EigengapState {
  /** One curve per α: `gaps[i]` = g_i (`Spectrum` from the worker). */
  readonly spectra: readonly { readonly alpha: number; readonly gaps: readonly number[] }[];
  /** The α that chose k, and k. */
  readonly alpha: number;
  readonly clusters: number;
}

const EW = 320;
const EH = 120;
const EM = { left: 30, right: 8, top: 14, bottom: 18 };

/**
 * AutoSC's regularised eigengap g_i against i, one line per α, the chosen (k, g_k) marked: k is
 * the i of the highest point over all α.
 */
export function drawEigengaps(svg: SVGSVGElement, s: EigengapState): void {
  const count = Math.max(2, ...s.spectra.map((p) => p.gaps.length));
  const top = Math.max(1e-9, ...s.spectra.flatMap((p) => p.gaps));
  const { px, py } = axes(svg, { w: EW, h: EH, m: EM }, { x0: 0, x1: count - 1, name: "i (eigenvalue index)", text: String }, top, (v) => fmt(v, 1));
  s.spectra.forEach((p, n) => {
    const d = p.gaps.map((g, i) => `${i === 0 ? "M" : "L"}${fmt(px(i), 1)},${fmt(py(g), 1)}`).join("");
    const chosen = p.alpha === s.alpha;
    el("path", { d, class: `gap-line a${n}${chosen ? " chosen" : ""}` }, svg);
    // The legend: one coloured name per α in a row along the top, the chosen one bold.
    const x = EW - EM.right - (s.spectra.length - n) * 34;
    el("text", { x, y: EM.top + 2, class: `gap-label a${n}${chosen ? " chosen" : ""}` }, svg).textContent = `α ${p.alpha}`;
  });
  const best = s.spectra.find((p) => p.alpha === s.alpha);
  const g = best?.gaps[s.clusters];
  if (g !== undefined) {
    const mark = el("g", { class: "gap-mark" }, svg);
    el("circle", { cx: px(s.clusters), cy: py(g), r: 3.5 }, mark);
    el("text", { x: px(s.clusters) + 6, y: Math.max(EM.top + 6, py(g) + 3) }, mark).textContent = `k = ${s.clusters}`;
  }
}

/** What the α sweep plot draws. */
export interface AlphaPlotState {
  /** Segments at τ for each α tried so far, α ascending. */
  readonly points: readonly { readonly alpha: number; readonly segments: number }[];
  readonly alphaMin: number;
  readonly alphaMax: number;
  /** The α of the segmentation on screen. */
  readonly alpha: number;
  readonly tau: number;
}

/**
 * Segments at τ against α (one tree per α), the current α marked; a click calls `onPick` with
 * the α tried nearest the pointer.
 */
export function drawAlphaPlot(svg: SVGSVGElement, s: AlphaPlotState, onPick: (alpha: number) => void): void {
  const yMax = Math.max(2, ...s.points.map((p) => p.segments));
  const { px, py } = axes(svg, SMALL_PLOT, { x0: s.alphaMin, x1: s.alphaMax, name: `α (τ = ${fmt(s.tau)})`, text: String }, yMax);
  if (s.points.length > 0) {
    const d = s.points.map((p, i) => `${i === 0 ? "M" : "L"}${fmt(px(p.alpha), 1)},${fmt(py(p.segments), 1)}`).join("");
    el("path", { d, class: "curve" }, svg);
    const dots = el("g", { class: "alpha-points" }, svg);
    for (const p of s.points) {
      el("circle", { cx: px(p.alpha), cy: py(p.segments), r: 2.5, "data-alpha": p.alpha, "data-segments": p.segments }, dots);
    }
  }
  marker(svg, px(s.alpha), py(0), py(yMax), PM.top, `α = ${s.alpha}`);
  svg.onclick = (e: MouseEvent) => {
    const x = pointerX(svg, e);
    if (x === null || s.points.length === 0) return;
    const nearest = s.points.reduce((best, p) => (Math.abs(px(p.alpha) - x) < Math.abs(px(best.alpha) - x) ? p : best));
    onPick(nearest.alpha);
  };
}
