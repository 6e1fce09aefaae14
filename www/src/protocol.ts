/**
 * The messages between the page (main thread) and the worker that owns the wasm module.
 *
 * Every request carries an `id`; the worker answers each request with exactly one response with
 * the same `id`: the matching `*-done` type, or `error`. Before that final response, a model load
 * also sends `progress` messages with its `id`; and the page may send `cancel` with the `id` of a
 * running load, which then ends with an `error` marked `cancelled`. Large arrays travel as
 * transferables.
 */
import { unreachable } from "./errors";
import type { Naming } from "./naming";

/** Where the segment tree is grown. */
export type Backend = "webgpu" | "cpu";

/**
 * What the user asked for, for the segment tree: `auto` the faster path as measured, the CPU path
 * (Rust compiled to wasm; on an H200 our WGSL NCut was slower up to 48²); `webgpu` our WGSL on
 * any WebGPU adapter; `cpu` the CPU path. PAMR runs on the CPU path, and the diffusion model on
 * WebGPU, whichever is chosen.
 */
export type DevicePreference = "auto" | "webgpu" | "cpu";

/** Where the features come from. */
export type Features =
  /** The weight-free colour/texture features on a `grid`×`grid` grid (the light wasm module). */
  | { readonly kind: "color"; readonly grid: number }
  /** The loaded diffusion model at input size `size` (one of its sizes); the model implies the grid. */
  | { readonly kind: "diffusion"; readonly size: number };

export type FeatureKind = Features["kind"];

/** A feature kind's calibrated τ and α, and the τ range its slider offers (the library's `FeatureKind::defaults`). */
export interface SourceDefaults {
  readonly tau: number;
  readonly alpha: number;
  readonly tauMin: number;
  /** The top of the slider, and the τ trees are grown to (every τ of the range is then a pruning). */
  readonly tauMax: number;
}

/** Every kind's defaults, as the wasm `featureDefaults()` returns them. */
export type FeatureDefaults = Readonly<Record<FeatureKind, SourceDefaults>>;

/**
 * Reads the wasm `featureDefaults()` JSON, checking what the sliders rely on
 * (`0 < tauMin ≤ tau ≤ tauMax ≤ 2`, `alpha > 0`).
 *
 * @throws {Error} naming the kind and the field at fault.
 */
export function parseFeatureDefaults(text: string): FeatureDefaults {
  const raw: unknown = JSON.parse(text);
  if (!isObject(raw)) throw new Error("feature defaults: not an object");
  const one = (kind: FeatureKind): SourceDefaults => {
    const d = raw[kind];
    if (!isObject(d)) throw new Error(`feature defaults: ${kind} is missing`);
    const { tau, alpha, tauMin, tauMax } = d;
    if (!isFiniteNumber(tau) || !isFiniteNumber(alpha) || !isFiniteNumber(tauMin) || !isFiniteNumber(tauMax)) {
      throw new Error(`feature defaults: ${kind} needs numbers tau, alpha, tauMin and tauMax`);
    }
    if (!(0 < tauMin && tauMin <= tau && tau <= tauMax && tauMax <= 2) || !(alpha > 0)) {
      throw new Error(`feature defaults: ${kind} is out of range (τ ${tau} in [${tauMin}, ${tauMax}], α ${alpha})`);
    }
    return { tau, alpha, tauMin, tauMax };
  };
  return { color: one("color"), diffusion: one("diffusion") };
}

/** Parameters that change the tree (and so need a recomputation). */
export interface TreeParams {
  readonly features: Features;
  /** Affinity exponent α > 0. */
  readonly alpha: number;
  /** The tree is grown up to this τ; any τ ≤ tauMax is then a pruning. */
  readonly tauMax: number;
}

/** One node of the tree summary the wasm `tree()` returns (pre-order; `nodes[0]` is the root). */
export interface TreeNodeJson {
  readonly depth: number;
  readonly parent: number | null;
  /** `[y > θ side, the rest]`, present iff the node splits at `tauMax`. */
  readonly children: readonly [number, number] | null;
  /** Best NCut of the region's cut; `null` when it cannot be cut. */
  readonly ncut: number | null;
  readonly threshold: number | null;
  readonly lambda: number | null;
  /** Grid cells in the region. */
  readonly cells: number;
}

/** The tree summary: structure and NCut values. */
export interface TreeJson {
  readonly grid: readonly [number, number];
  readonly alpha: number;
  readonly tauMax: number;
  readonly dropped: number;
  readonly nodes: readonly TreeNodeJson[];
}

/** What one segmentation computed, with its timings in milliseconds. */
export interface SegmentSummary {
  /** The image segmented (fitted into the page's pixel budget). */
  readonly width: number;
  readonly height: number;
  /** The image as the wasm module decoded it (larger than `width`×`height` when it downscaled it). */
  readonly decodedWidth: number;
  readonly decodedHeight: number;
  readonly features: Features;
  /** Feature grid side (for diffusion features, implied by the model and the size). */
  readonly grid: number;
  readonly nodes: number;
  readonly finestSegments: number;
  readonly backend: Backend;
  readonly note: string | null;
  readonly decodeMs: number;
  readonly featuresMs: number;
  readonly treeMs: number;
  /** Both per-pixel assignments (finest leaves and τ). */
  readonly labelsMs: number;
}

/** A model file picked from disk: its path inside the picked folder (or its name) and the file. */
export interface PickedModelFile {
  readonly path: string;
  readonly file: File;
}

/** Where a converted model (models/FORMAT.md) comes from. */
export type ModelSource =
  /** The absolute URL of its `manifest.json`; the files are fetched next to it. */
  | { readonly kind: "url"; readonly url: string }
  /** Files picked from disk (a folder or the files themselves), matched to the manifest by name. */
  | { readonly kind: "files"; readonly files: readonly PickedModelFile[] };

/** A loaded diffusion model. */
export interface ModelSummary {
  /** `source.name` of the manifest (`segmind/SSD-1B`), when it has one. */
  readonly name: string | null;
  readonly licence: string | null;
  /** How the weights are stored: `f32`, `f16`, `q8` or `q4`. */
  readonly dtype: string;
  /** Input sizes S the model has constants for (the image is squashed to S×S). */
  readonly sizes: readonly number[];
  /** The size to use by default: the stored one nearest 1024. */
  readonly size: number;
  /** Sizes with DiffCut's official seed-42 noise. */
  readonly seed42Sizes: readonly number[];
  readonly channels: number;
  readonly weightBytes: number;
  /** Bytes of all the files read. */
  readonly totalBytes: number;
  readonly files: number;
  /** Files read from the browser's cache rather than the network. */
  readonly fromCache: number;
  /** Every file is in the browser's cache now. */
  readonly cached: boolean;
  /** What the user should know (no caching and why, ...). */
  readonly notes: readonly string[];
  /** Wall time of the whole load (download, checks, upload, building the networks). */
  readonly ms: number;
}

/** A loaded CLIP (for naming segments). */
export interface ClipSummary {
  /** `source.name` of the manifest, when it has one. */
  readonly name: string | null;
  readonly licence: string | null;
  /** How the weights are stored: `f32`, `f16`, `q8` or `q4`. */
  readonly dtype: string;
  /** The label sets the folder has precomputed (naming with them needs the image part only). */
  readonly labelSets: readonly string[];
  /** The text part is loaded: the person's own words can be used. */
  readonly textLoaded: boolean;
  readonly embedDim: number;
  /** Bytes of the image part's files and of the text part's (from the manifest). */
  readonly imageBytes: number;
  readonly textBytes: number;
  /** Bytes of the files read in this load. */
  readonly totalBytes: number;
  readonly files: number;
  /** Files read from the browser's cache rather than the network. */
  readonly fromCache: number;
  /** Every file is in the browser's cache now. */
  readonly cached: boolean;
  readonly notes: readonly string[];
  readonly ms: number;
}

/**
 * Where the worker traps on purpose (a real wasm trap, through the module's `debugTrap`), for the
 * page's tests of its recovery; set only by the page's `?trap=` parameter, and only for the first
 * worker of the page. `segment`: the first segmentation panics inside its async export (its
 * promise never settles); `model-file`: adding the first model file panics (a synchronous trap
 * in the middle of a load, possibly of a cached file).
 */
export type TrapPoint = "segment" | "model-file";

/** The `?trap=` parameter's value as a {@link TrapPoint}, or null. */
export function trapPointOf(value: string | null): TrapPoint | null {
  return value === "segment" || value === "model-file" ? value : null;
}

/** Page → worker. */
export type Request =
  /** `helper`: share the CPU path's Gram matrix with a second worker where the machine has two cores or more. */
  | { readonly type: "init"; readonly id: number; readonly device: DevicePreference; readonly helper: boolean; readonly trap: TrapPoint | null }
  /**
   * An image file as the user gave it, made ready for `segment` in the worker (decoded by the
   * browser where the wasm module cannot, downscaled to the page's budget of pixels): the
   * decoding and drawing of a large image stay off the page's thread.
   */
  | { readonly type: "prepare"; readonly id: number; readonly image: Blob }
  | {
      readonly type: "segment";
      readonly id: number;
      /** The encoded image (PNG, JPEG, ...), decoded by the wasm module. */
      readonly bytes: ArrayBuffer;
      readonly params: TreeParams;
      /** Exact per-pixel labels are returned at this τ as well. */
      readonly tau: number;
    }
  /**
   * A camera frame, RGBA `[height·width·4]` at the size to segment it at, with the colour
   * features (answered like `segment`; a newer frame replaces a waiting one).
   */
  | {
      readonly type: "frame";
      readonly id: number;
      readonly rgba: Uint8ClampedArray;
      readonly width: number;
      readonly height: number;
      readonly params: TreeParams;
      readonly tau: number;
    }
  | { readonly type: "labels"; readonly id: number; readonly tau: number }
  /** The labels at τ refined by PAMR (slower; asked for once the exact view is on screen). */
  | { readonly type: "refine"; readonly id: number; readonly tau: number }
  | { readonly type: "node"; readonly id: number; readonly node: number }
  | { readonly type: "mask"; readonly id: number; readonly tau: number }
  /**
   * A tree node under pixel `(x, y)`: with `from` null, the segment at τ there; else the child of
   * `from` whose region holds the pixel (null when there is none).
   */
  | { readonly type: "pick"; readonly id: number; readonly x: number; readonly y: number; readonly tau: number; readonly from: number | null }
  /** The union of the regions of `nodes` at τ (kept in the worker for `cutout`). */
  | { readonly type: "region"; readonly id: number; readonly nodes: readonly number[]; readonly tau: number }
  /** The last region as an RGBA PNG cut-out (the photo's size, or cropped), or as a mask PNG. */
  | { readonly type: "cutout"; readonly id: number; readonly crop: boolean }
  | { readonly type: "selection-mask"; readonly id: number }
  | { readonly type: "tree-file"; readonly id: number }
  /** Segments at τ of a tree grown on the segmentation's features with another α (kept apart). */
  | { readonly type: "alpha-count"; readonly id: number; readonly alpha: number; readonly tau: number }
  /** AutoSC, the paper's one-shot spectral clustering, of the segmentation's features. */
  | { readonly type: "autosc"; readonly id: number }
  /** Loads a diffusion model (progress messages follow, then `load-model-done` or `error`). */
  | { readonly type: "load-model"; readonly id: number; readonly source: ModelSource }
  /** Empties the browser's cache of model files. */
  | { readonly type: "clear-model-cache"; readonly id: number }
  /**
   * Loads a CLIP folder (progress messages follow, then `load-clip-done` or `error`): its image
   * part, and with `withText` its text part too (for the person's own words).
   */
  | { readonly type: "load-clip"; readonly id: number; readonly source: ModelSource; readonly withText: boolean }
  /**
   * Names each segment of `labels` (`[height·width]`, the labels on screen) on the picture
   * `rgba` (`[height·width·4]`) with the loaded CLIP at input size `size`, against `spec` (a
   * label set's name, or classes by `;` with synonyms by `,`).
   */
  | {
      readonly type: "name";
      readonly id: number;
      readonly rgba: Uint8ClampedArray;
      readonly labels: Uint32Array;
      readonly width: number;
      readonly height: number;
      readonly spec: string;
      readonly size: number;
    };

/** Page → worker, outside the request/response pairs: stop the running request `id` (a model load). */
export interface Cancel {
  readonly type: "cancel";
  readonly id: number;
}

/** Everything the page sends the worker. */
export type ToWorker = Request | Cancel;

/** Worker → page, before the final response of a model load: bytes read so far. */
export interface Progress {
  readonly type: "progress";
  readonly id: number;
  readonly loaded: number;
  /** Null while the size is unknown (a compressed download of the diffusion module). */
  readonly total: number | null;
  /** The file being read, if any. */
  readonly file: string | null;
  /** A message for the user (e.g. the model is downloaded without caching, and why). */
  readonly note: string | null;
}

/** A segmentation as the worker returns it (for `segment` and `frame`). */
export interface Segmented {
  readonly id: number;
  readonly info: SegmentSummary;
  readonly tree: TreeJson;
  /** The decoded image, RGBA `[height·width·4]`. */
  readonly rgba: Uint8ClampedArray;
  /** Per pixel, the index of its finest leaf (a segment at `tauMax`). */
  readonly finest: Uint32Array;
  /** Per pixel, its segment at the request's τ (exact assignment). */
  readonly labels: Uint32Array;
  readonly tau: number;
}

/** Worker → page. */
export type Response =
  | {
      readonly type: "init-done";
      readonly id: number;
      /** Each feature kind's τ and α defaults and τ range. */
      readonly defaults: FeatureDefaults;
      readonly backend: Backend;
      readonly adapter: string | null;
      readonly note: string | null;
      /** Workers the CPU path computes the affinity on: 2 with the Gram helper, else 1. */
      readonly cpuWorkers: number;
    }
  | ({ readonly type: "segment-done" } & Segmented)
  | ({ readonly type: "frame-done" } & Segmented)
  | {
      readonly type: "prepare-done";
      readonly id: number;
      /** The bytes to segment. */
      readonly bytes: ArrayBuffer;
      /** Shown to the user when the browser changed the image (downscaled or re-encoded). */
      readonly note: string | null;
    }
  | {
      readonly type: "labels-done";
      readonly id: number;
      readonly tau: number;
      readonly labels: Uint32Array;
      readonly ms: number;
    }
  | {
      readonly type: "refine-done";
      readonly id: number;
      readonly tau: number;
      readonly labels: Uint32Array;
      readonly ms: number;
    }
  | {
      readonly type: "node-done";
      readonly id: number;
      readonly node: number;
      /** `[grid·grid]`, NaN outside the node's region. */
      readonly fiedler: Float32Array;
      readonly curve: Float32Array;
      readonly thresholds: Float32Array;
    }
  | { readonly type: "mask-done"; readonly id: number; readonly png: Uint8Array }
  | { readonly type: "pick-done"; readonly id: number; readonly node: number | null }
  | {
      readonly type: "region-done";
      readonly id: number;
      readonly nodes: readonly number[];
      readonly tau: number;
      /** One byte per pixel of the segmented image: 1 selected, 0 not. */
      readonly mask: Uint8Array;
      readonly pixels: number;
    }
  | { readonly type: "cutout-done"; readonly id: number; readonly png: Uint8Array }
  | { readonly type: "selection-mask-done"; readonly id: number; readonly png: Uint8Array }
  | { readonly type: "tree-file-done"; readonly id: number; readonly json: string }
  | { readonly type: "alpha-count-done"; readonly id: number; readonly alpha: number; readonly tau: number; readonly segments: number; readonly ms: number }
  | {
      readonly type: "autosc-done";
      readonly id: number;
      /** `[height·width]` at the image's size, `0..segments`. */
      readonly labels: Uint32Array;
      /** k, chosen by the eigengap. */
      readonly clusters: number;
      /** Clusters that hold a cell. */
      readonly segments: number;
      /** The α whose eigengap chose k. */
      readonly alpha: number;
      readonly spectra: readonly Spectrum[];
      readonly ms: number;
    }
  | { readonly type: "load-model-done"; readonly id: number; readonly model: ModelSummary }
  | { readonly type: "clear-model-cache-done"; readonly id: number; readonly files: number; readonly bytes: number }
  | { readonly type: "load-clip-done"; readonly id: number; readonly clip: ClipSummary }
  | { readonly type: "name-done"; readonly id: number; readonly naming: Naming; readonly spec: string; readonly size: number; readonly ms: number }
  | {
      readonly type: "error";
      readonly id: number;
      readonly message: string;
      /** The wasm instance is unusable (a trap); the worker must be replaced. */
      readonly fatal: boolean;
      /** The request was cancelled (`cancel`); what was there before it is unchanged. */
      readonly cancelled?: true;
      /** What kind of failure it is, where the page acts on it (see {@link ErrorCode}). */
      readonly code?: ErrorCode;
    };

/**
 * Failures the page acts on: `clip-text-needed`, naming asked for words (or a label set the
 * folder has not precomputed) while only CLIP's image part is loaded: the page loads the text
 * part and asks again.
 */
export type ErrorCode = "clip-text-needed";

/**
 * Worker → page, outside the request/response pairs: the worker failed outside any request's
 * handling (a trap inside an async export's future, an uncaught error). Its requests will never
 * be answered and its wasm instance is unusable: the page replaces the worker.
 */
export interface Crashed {
  readonly type: "crashed";
  readonly message: string;
}

/** Everything the worker sends the page: final responses, progress and a crash. */
export type FromWorker = Response | Progress | Crashed;

export type RequestType = Request["type"];

/**
 * The worker's queues, each handling one request at a time: the segmenters, the model loader
 * beside them (so τ and the colour features keep working while a model downloads), and CLIP
 * (its load and the naming of segments, which never hold up the segmenters).
 */
export type Lane = "main" | "model" | "clip";

/** The lane of a request kind. */
export function laneOf(kind: RequestType): Lane {
  if (kind === "load-model" || kind === "clear-model-cache") return "model";
  return kind === "load-clip" || kind === "name" ? "clip" : "main";
}

/** The successful response to a request type. */
export type ResponseFor<T extends RequestType> = Extract<Response, { type: `${T}-done` }>;

/** Distributes `Omit` over a union, so each variant keeps its own fields. */
export type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/** A request before the client gives it an id. */
export type RequestBody = DistributiveOmit<Request, "id">;

/** The arrays a response can hand over without copying. */
export function transferables(msg: Response): Transferable[] {
  switch (msg.type) {
    case "segment-done":
    case "frame-done":
      return [msg.rgba.buffer, msg.finest.buffer, msg.labels.buffer];
    case "labels-done":
    case "refine-done":
      return [msg.labels.buffer];
    case "node-done":
      return [msg.fiedler.buffer, msg.curve.buffer, msg.thresholds.buffer];
    case "mask-done":
    case "cutout-done":
    case "selection-mask-done":
      return [msg.png.buffer];
    case "region-done":
      return [msg.mask.buffer];
    case "autosc-done":
      return [msg.labels.buffer];
    case "prepare-done":
      return [msg.bytes];
    case "init-done":
    case "alpha-count-done":
    case "pick-done":
    case "tree-file-done":
    case "load-model-done":
    case "clear-model-cache-done":
    case "load-clip-done":
    case "name-done":
    case "error":
      return [];
    default:
      return unreachable(msg);
  }
}

/** The start of one α's spectrum in AutoSC: its regularised eigengaps `g_0, g_1, …` (`g_0 = 0`). */
export interface Spectrum {
  readonly alpha: number;
  readonly gaps: readonly number[];
}

/**
 * Parses and checks the wasm `autosc().spectraJson`: a non-empty array of `{alpha, gaps}` with
 * finite numbers.
 *
 * @throws {Error} naming the first problem found.
 */
export function parseSpectra(text: string): Spectrum[] {
  const raw: unknown = JSON.parse(text);
  if (!Array.isArray(raw) || raw.length === 0) throw new Error("AutoSC spectra: not a non-empty array");
  return raw.map((s: unknown, i): Spectrum => {
    if (!isObject(s) || !isFiniteNumber(s["alpha"]) || !Array.isArray(s["gaps"]) || !s["gaps"].every(isFiniteNumber)) {
      throw new Error(`AutoSC spectra: entry ${i} is not {alpha, gaps} of numbers`);
    }
    return { alpha: s["alpha"], gaps: s["gaps"] };
  });
}

/** Thrown by {@link parseTreeJson} for JSON that is not a tree summary. */
export class TreeFormatError extends Error {
  constructor(message: string) {
    super(`invalid tree summary: ${message}`);
    this.name = "TreeFormatError";
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const isFiniteNumber = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v);
const isIndex = (v: unknown): v is number => typeof v === "number" && Number.isInteger(v) && v >= 0;
const numberOrNull = (v: unknown): v is number | null => v === null || isFiniteNumber(v);

/**
 * Parses and checks the wasm `tree()` JSON: shapes, types, and that every parent/child index is
 * in range and consistent, with children after their parent (pre-order), two distinct children,
 * and every node but the root listed by its parent: a tree, each node reached once. The page
 * indexes arrays with these numbers, so nothing unchecked gets through.
 *
 * @throws {TreeFormatError} naming the first problem found.
 */
export function parseTreeJson(text: string): TreeJson {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new TreeFormatError(`not JSON (${e instanceof Error ? e.message : String(e)})`);
  }
  if (!isObject(raw)) throw new TreeFormatError("not an object");
  const { grid, alpha, tauMax, dropped, nodes } = raw;
  if (!Array.isArray(grid) || grid.length !== 2 || !grid.every((g) => isIndex(g) && g > 0)) {
    throw new TreeFormatError("grid must be [h, w] with positive integers");
  }
  if (!isFiniteNumber(alpha) || !isFiniteNumber(tauMax) || !isIndex(dropped)) {
    throw new TreeFormatError("alpha, tauMax and dropped must be numbers");
  }
  if (!Array.isArray(nodes) || nodes.length === 0) throw new TreeFormatError("nodes must be a non-empty array");
  const parsed: TreeNodeJson[] = nodes.map((n: unknown, i): TreeNodeJson => {
    if (!isObject(n)) throw new TreeFormatError(`node ${i} is not an object`);
    const { depth, parent, children, ncut, threshold, lambda, cells } = n;
    if (!isIndex(depth) || !isIndex(cells)) throw new TreeFormatError(`node ${i}: depth and cells must be integers`);
    const parentOk = parent === null ? i === 0 : isIndex(parent) && parent < i;
    if (!parentOk || (parent !== null && !isIndex(parent))) {
      throw new TreeFormatError(`node ${i}: parent must be an earlier node (null only for the root)`);
    }
    let kids: readonly [number, number] | null = null;
    if (children !== null) {
      if (!Array.isArray(children) || children.length !== 2) throw new TreeFormatError(`node ${i}: children must be a pair or null`);
      const [a, b]: unknown[] = children;
      if (!isIndex(a) || !isIndex(b) || a <= i || b <= i || a >= nodes.length || b >= nodes.length) {
        throw new TreeFormatError(`node ${i}: children [${String(a)}, ${String(b)}] out of range`);
      }
      kids = [a, b];
    }
    if (!numberOrNull(ncut) || !numberOrNull(threshold) || !numberOrNull(lambda)) {
      throw new TreeFormatError(`node ${i}: ncut, threshold and lambda must be numbers or null`);
    }
    if (kids !== null && ncut === null) throw new TreeFormatError(`node ${i}: a split node needs its ncut`);
    return { depth, parent, children: kids, ncut, threshold, lambda, cells };
  });
  parsed.forEach((n, i) => {
    if (n.children !== null && n.children[0] === n.children[1]) throw new TreeFormatError(`node ${i}: both children are node ${n.children[0]}`);
    n.children?.forEach((c) => {
      if (parsed[c]?.parent !== i) throw new TreeFormatError(`node ${c} does not name ${i} as its parent`);
    });
    // With the check above, every node but the root is the child of exactly one node: a tree.
    if (n.parent !== null && parsed[n.parent]?.children?.includes(i) !== true) throw new TreeFormatError(`node ${i}: its parent ${n.parent} does not list it as a child`);
  });
  return { grid: [grid[0], grid[1]], alpha, tauMax, dropped, nodes: parsed };
}
