/**
 * The pure parts of naming segments with CLIP (DiffCut's open-vocabulary extension): the label
 * list the person chose (a label set, or their own words), whether it needs CLIP's text part,
 * the wasm `nameSegments` JSON and its check, each segment's name by tree node, where a name is
 * drawn (the segment's innermost point) and the texts shown. No DOM: app.ts and the panel use
 * these, and the unit tests cover them.
 */
import { formatBytes } from "./model-load";
import type { ClipSummary, TreeJson } from "./protocol";

// --- the naming the worker returns ----------------------------------------------------------------

/** One segment's name: the wasm `nameSegments` JSON record. */
export interface SegmentName {
  /** The segment's label in the labels named. */
  readonly id: number;
  /** The best class's index in the label list. */
  readonly class: number;
  /** The class's first synonym. */
  readonly name: string;
  /** One score per class (CLIP's scaled cosine, the best synonym's). */
  readonly scores: readonly number[];
}

/** Every named segment, ascending ids. */
export interface Naming {
  readonly segments: readonly SegmentName[];
}

/** JSON that is not a naming. */
export class NamingFormatError extends Error {
  constructor(message: string) {
    super(`invalid naming: ${message}`);
    this.name = "NamingFormatError";
  }
}

/** The library's bounds on a label list (`model::clip::labels`): classes, and characters a name. */
export const MAX_CLASSES = 1024;
export const MAX_SYNONYMS = 4096;
export const MAX_NAME_CHARS = 256;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const isIndex = (v: unknown, below: number): v is number => typeof v === "number" && Number.isSafeInteger(v) && v >= 0 && v < below;

/**
 * Parses and checks the wasm `nameSegments` JSON: `{segments: [{id, class, name, scores}]}` with
 * ids ascending and below 2³², one finite score per class (at most {@link MAX_CLASSES}), the
 * class an index into them, and a non-empty name of at most {@link MAX_NAME_CHARS} characters.
 * The page indexes with these numbers and draws the names, so nothing unchecked gets through.
 *
 * @throws {NamingFormatError} naming the first problem found.
 */
export function parseNaming(text: string): Naming {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new NamingFormatError(`not JSON (${e instanceof Error ? e.message : String(e)})`);
  }
  if (!isObject(raw) || !Array.isArray(raw["segments"])) throw new NamingFormatError("not an object with a segments array");
  let last = -1;
  const segments = raw["segments"].map((s: unknown, i): SegmentName => {
    if (!isObject(s)) throw new NamingFormatError(`segment ${i} is not an object`);
    const { id, class: k, name, scores } = s;
    if (!isIndex(id, 2 ** 32) || id <= last) throw new NamingFormatError(`segment ${i}: id must be an integer in [0, 2³²), ascending`);
    last = id;
    if (!Array.isArray(scores) || scores.length === 0 || scores.length > MAX_CLASSES || !scores.every((v) => typeof v === "number" && Number.isFinite(v))) {
      throw new NamingFormatError(`segment ${id}: scores must be 1 to ${MAX_CLASSES} finite numbers`);
    }
    if (!isIndex(k, scores.length)) throw new NamingFormatError(`segment ${id}: class must index its scores`);
    if (typeof name !== "string" || name.trim() === "" || [...name].length > MAX_NAME_CHARS) {
      throw new NamingFormatError(`segment ${id}: name must be a non-empty text of at most ${MAX_NAME_CHARS} characters`);
    }
    return { id, class: k, name, scores: scores as number[] };
  });
  return { segments };
}

// --- the label list ---------------------------------------------------------------------------------

/** The label select's value for the person's own words. */
export const OWN_WORDS = "words";

/** The label sets the library knows, as the select shows them (a folder may hold fewer). */
export const LABEL_SETS: readonly { readonly id: string; readonly title: string }[] = [
  { id: "voc", title: "PASCAL VOC (21 classes)" },
  { id: "context", title: "PASCAL Context (60 classes)" },
  { id: "coco-object", title: "COCO objects (81 classes)" },
  { id: "ade", title: "ADE20K (150 classes)" },
  { id: "cityscapes", title: "Cityscapes (19 classes)" },
];

/** The label select's options for a CLIP with `labelSets` precomputed: those, then own words. */
export function labelOptions(labelSets: readonly string[]): { readonly value: string; readonly label: string }[] {
  const known = LABEL_SETS.filter((s) => labelSets.includes(s.id)).map((s) => ({ value: s.id, label: s.title }));
  return [...known, { value: OWN_WORDS, label: "Your own words…" }];
}

/** A label list for the worker, or why the person's words cannot be one. */
export type LabelSpec = { readonly ok: true; readonly spec: string; readonly words: boolean } | { readonly ok: false; readonly error: string };

/**
 * The label list of the select's `choice`: a set's name as it is, or the person's `words`
 * ("cat; dog, puppy; grass": classes by `;`, synonyms by `,`) tidied into `cat;dog,puppy;grass`
 * (each name trimmed, empty ones dropped). Words need two classes at least (one class names every
 * segment the same) and stay within the library's bounds; a name may not start with `@` (the
 * library would read a file of that name).
 */
export function labelSpec(choice: string, words: string): LabelSpec {
  if (choice !== OWN_WORDS) return { ok: true, spec: choice, words: false };
  const classes = words
    .split(";")
    .map((c) =>
      c
        .split(",")
        .map((s) => s.replace(/\s+/g, " ").trim())
        .filter((s) => s !== ""),
    )
    .filter((c) => c.length > 0);
  const example = "e.g. cat; dog, puppy; grass";
  if (classes.length < 2) return { ok: false, error: `Type two or more classes separated by ";" (synonyms by ","), ${example}.` };
  if (classes.length > MAX_CLASSES) return { ok: false, error: `${classes.length} classes: at most ${MAX_CLASSES}.` };
  const names = classes.flat();
  if (names.length > MAX_SYNONYMS) return { ok: false, error: `${names.length} names: at most ${MAX_SYNONYMS} in all.` };
  const long = names.find((n) => [...n].length > MAX_NAME_CHARS);
  if (long !== undefined) return { ok: false, error: `"${[...long].slice(0, 20).join("")}…" is longer than ${MAX_NAME_CHARS} characters.` };
  if (names[0]?.startsWith("@")) return { ok: false, error: `A name may not start with "@" (${example}).` };
  return { ok: true, spec: classes.map((c) => c.join(",")).join(";"), words: true };
}

/** Whether naming with `spec` needs CLIP's text part, which `clip` has not loaded. */
export function needsText(spec: string, clip: Pick<ClipSummary, "labelSets" | "textLoaded">): boolean {
  return !clip.textLoaded && !clip.labelSets.includes(spec);
}

/** CLIP input sizes offered (multiples of 32): 1024 is DiffCut's setting, 512 the page's default. */
export const CLIP_SIZES: readonly number[] = [256, 512, 768, 1024];
export const DEFAULT_CLIP_SIZE = 512;

// --- names on the page ----------------------------------------------------------------------------------

/** A segment's name keyed by its tree node (so a name survives a new τ that keeps the segment). */
export type NodeNames = ReadonlyMap<number, SegmentName>;

/**
 * The naming of labels whose segment `id` is tree node `segmentNodes[id]`, keyed by node. Ids
 * outside `segmentNodes` (a naming of other labels) are left out.
 */
export function namesByNode(naming: Naming, segmentNodes: readonly number[]): Map<number, SegmentName> {
  const out = new Map<number, SegmentName>();
  for (const s of naming.segments) {
    const node = segmentNodes[s.id];
    if (node !== undefined) out.set(node, s);
  }
  return out;
}

/**
 * The distinct names within tree node `node`'s region at a cut whose segments are the nodes
 * `segmentNodes`: the names of the segments inside it (node itself or its descendants), else,
 * for a node inside one segment, that segment's name; in segment order. Unnamed segments are
 * skipped.
 */
export function namesForNode(tree: TreeJson, segmentNodes: readonly number[], names: NodeNames, node: number): string[] {
  const within = (n: number, ancestor: number): boolean => {
    for (let at: number | null = n, steps = 0; at !== null && steps <= tree.nodes.length; at = tree.nodes[at]?.parent ?? null, steps++) {
      if (at === ancestor) return true;
    }
    return false;
  };
  const out: string[] = [];
  const add = (n: number): void => {
    const name = names.get(n)?.name;
    if (name !== undefined && !out.includes(name)) out.push(name);
  };
  const inside = segmentNodes.filter((s) => within(s, node));
  if (inside.length > 0) inside.forEach(add);
  else {
    const holder = segmentNodes.find((s) => within(node, s));
    if (holder !== undefined) add(holder);
  }
  return out;
}

/** A point of the image, in pixels. */
export interface Point {
  readonly x: number;
  readonly y: number;
}

/** A segment's innermost point and how far it is from the segment's border, in pixels. */
export interface Inner extends Point {
  readonly depth: number;
}

/**
 * Each segment's innermost pixel: the one farthest from its border (the image's edge counts as
 * a border), by a chamfer distance (3 across, 4 diagonally); the first in raster order on a tie.
 * Null for a segment with no pixel. O(pixels). `labels` are `[height·width]`, each < `segments`
 * (others are ignored); `depth` is the distance in pixels (0 for a pixel on the border).
 */
export function innermostPoints(labels: Uint32Array, width: number, height: number, segments: number): (Inner | null)[] {
  const n = width * height;
  const d = new Uint32Array(n);
  const BIG = 0xffffffff;
  const at = (x: number, y: number): number => y * width + x;
  // Zero on borders (a 4-neighbour of another segment, or the image's edge), "infinite" inside.
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = at(x, y);
      const l = labels[i];
      const edge = x === 0 || y === 0 || x === width - 1 || y === height - 1;
      const border = edge || labels[i - 1] !== l || labels[i + 1] !== l || labels[i - width] !== l || labels[i + width] !== l;
      d[i] = border ? 0 : BIG;
    }
  }
  const relax = (i: number, j: number, w: number): void => {
    const v = (d[j] ?? BIG) + w;
    if (v < (d[i] ?? 0)) d[i] = v;
  };
  for (let y = 1; y < height - 1; y++) {
    for (let x = 1; x < width - 1; x++) {
      const i = at(x, y);
      if (d[i] === 0) continue;
      relax(i, i - 1, 3);
      relax(i, i - width, 3);
      relax(i, i - width - 1, 4);
      relax(i, i - width + 1, 4);
    }
  }
  for (let y = height - 2; y >= 1; y--) {
    for (let x = width - 2; x >= 1; x--) {
      const i = at(x, y);
      if (d[i] === 0) continue;
      relax(i, i + 1, 3);
      relax(i, i + width, 3);
      relax(i, i + width + 1, 4);
      relax(i, i + width - 1, 4);
    }
  }
  const best: (Inner | null)[] = Array.from({ length: segments }, () => null);
  const bestD = new Int32Array(segments).fill(-1);
  for (let i = 0; i < n; i++) {
    const l = labels[i] ?? segments;
    if (l >= segments) continue;
    const v = d[i] ?? 0;
    if (v > (bestD[l] ?? 0)) {
      bestD[l] = v;
      best[l] = { x: i % width, y: Math.floor(i / width), depth: v / 3 };
    }
  }
  return best;
}

/** A name's box on the canvas: its text, where the box starts, and its size, in canvas pixels. */
export interface LabelBox {
  readonly text: string;
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
}

/** A name to draw: its text, its segment (for the caller's colours), and where (the innermost point). */
export interface NameAt {
  readonly text: string;
  readonly segment: number;
  readonly at: Inner;
}

/** A placed name: {@link LabelBox} with its segment. */
export interface PlacedName extends LabelBox {
  readonly segment: number;
}

/**
 * Where names are drawn: each a box of `textWidth(text)` plus padding, `lineHeight` high, centred
 * on its point and kept inside the `width`×`height` canvas. Deepest segments first; a name whose
 * segment is too thin for a box (its innermost point nearer its border than a third of a line),
 * or whose box would cover one already placed, is left out; at most `max` names.
 */
export function labelBoxes(names: readonly NameAt[], width: number, height: number, lineHeight: number, textWidth: (text: string) => number, max = 40): PlacedName[] {
  const pad = Math.round(lineHeight * 0.3);
  const placed: PlacedName[] = [];
  const order = [...names].sort((a, b) => b.at.depth - a.at.depth || a.segment - b.segment);
  const clamp = (v: number, size: number, limit: number): number => Math.max(0, Math.min(limit - size, v));
  for (const { text, segment, at } of order) {
    if (placed.length >= max) break;
    if (at.depth < lineHeight / 3) continue;
    const w = Math.ceil(textWidth(text)) + 2 * pad;
    const h = lineHeight + pad;
    const box = { text, segment, x: clamp(Math.round(at.x - w / 2), w, width), y: clamp(Math.round(at.y - h / 2), h, height), width: w, height: h };
    const overlaps = placed.some((p) => box.x < p.x + p.width && p.x < box.x + box.width && box.y < p.y + p.height && p.y < box.y + box.height);
    if (!overlaps) placed.push(box);
  }
  return placed;
}

// --- texts ----------------------------------------------------------------------------------------------

/** What loaded: the folder, its parts, and where the files came from. */
export function clipText(c: ClipSummary): string {
  const from = c.fromCache === c.files ? "from the browser's cache" : c.fromCache > 0 ? `${c.fromCache} of ${c.files} files from the browser's cache` : c.cached ? "now cached" : "not cached";
  const text = c.textLoaded ? `text part ${formatBytes(c.textBytes)} loaded` : `text part (${formatBytes(c.textBytes)}) loads when you use your own words`;
  const sets = c.labelSets.length > 0 ? `label sets ${c.labelSets.join(", ")}` : "no precomputed label sets";
  const notes = c.notes.length > 0 ? ` Note: ${c.notes.join("; ")}.` : "";
  return `${c.name ?? "CLIP"} (${c.dtype}, image part ${formatBytes(c.imageBytes)}, ${text}; ${sets}; ${from}${c.licence ? `, licence ${c.licence}` : ""}).${notes}`;
}

/** The hover line of segment `segment` (0-based) of `count`, with its name when it has one. */
export function hoverText(segment: number, count: number, node: number, share: number, name: string | null): string {
  return `segment ${segment + 1} of ${count}${name === null ? "" : ` · ${name}`} (tree node ${node}), ${(share * 100).toFixed(1)}% of the image`;
}

/** The names of a selection, for its text: "· person", "· person, grass", or nothing. */
export function selectionNames(names: readonly string[]): string {
  return names.length === 0 ? "" : ` · ${names.join(", ")}`;
}

/** The legend: each name with how many segments have it, most first (ties by name). */
export function nameCounts(names: Iterable<string>): { readonly name: string; readonly segments: number }[] {
  const counts = new Map<string, number>();
  for (const n of names) counts.set(n, (counts.get(n) ?? 0) + 1);
  return [...counts.entries()].map(([name, segments]) => ({ name, segments })).sort((a, b) => b.segments - a.segments || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}
