/**
 * The worker that owns the wasm modules: every call into DiffCut-rs happens here, off the page's
 * thread. It answers each request of `protocol.ts` with exactly one response.
 *
 * Two builds of the crate: the light module (`pkg/`, weight-free colour features) loads at
 * start-up; the diffusion module (`pkg-model/`, the same API plus burn's model on WebGPU, several
 * MB) is imported only when a model is first loaded. The segmenter that did the last segmentation
 * is the *active* one: τ, PAMR, the teaching view and the exports ask it.
 */
import init, { DiffCut, featureDefaults } from "../pkg/diffcut.js";
import wasmUrl from "../pkg/diffcut_bg.wasm?url";
import modelWasmUrl from "../pkg-model/diffcut_bg.wasm?url";
import { messageOf, unreachable } from "./errors";
import { CpuHelper } from "./cpu-helper";
import { MAX_PIXELS, MAX_SIDE, prepareImage } from "./image-input";
import { abortError, CACHE_NAME, fetchWithProgress, isAbort, loadFromPicked, loadFromUrl, type CacheLike, type LoadProgress, type LoadReport, type ModelSink } from "./model-fetch";
import { parseNaming } from "./naming";
import { laneOf, parseFeatureDefaults, parseSpectra, parseTreeJson, transferables } from "./protocol";
import type { Backend, ClipSummary, ErrorCode, FromWorker, Lane, ModelSource, ModelSummary, Request, Response, ResponseFor, ToWorker, TrapPoint } from "./protocol";

/** The part of `DedicatedWorkerGlobalScope` used here (the DOM and WebWorker libs cannot mix). */
interface WorkerScope {
  postMessage(msg: FromWorker, transfer: Transferable[]): void;
  addEventListener(type: "message", listener: (e: MessageEvent<ToWorker>) => void): void;
  addEventListener(type: "error", listener: (e: ErrorEvent) => void): void;
  addEventListener(type: "unhandledrejection", listener: (e: PromiseRejectionEvent) => void): void;
}
const scope = self as unknown as WorkerScope;

/** What one segmentation reports (both modules' `SegmentInfo`). */
interface SegmentInfoLike {
  readonly width: number;
  readonly height: number;
  readonly decodedWidth: number;
  readonly decodedHeight: number;
  readonly grid: number;
  readonly nodes: number;
  readonly finestSegments: number;
  readonly backend: string;
  readonly note: string | undefined;
  readonly decodeMs: number;
  readonly featuresMs: number;
  readonly treeMs: number;
  free(): void;
}

/** What either module's `DiffCut` offers once it has segmented an image. */
interface Segmenter {
  readonly imageWidth: number;
  readonly imageHeight: number;
  pixelLabels(tau: number, width: number, height: number): Uint32Array;
  /** PAMR may run on the GPU, hence a promise. */
  refinedLabels(tau: number): Promise<Uint32Array>;
  fiedler(node: number): Float32Array;
  ncutCurve(node: number): Float32Array;
  cutThresholds(node: number): Float32Array;
  segmentCountWithAlpha(alpha: number, tau: number): Promise<number>;
  autosc(): { readonly labels: Uint32Array; readonly clusters: number; readonly segments: number; readonly alpha: number; readonly spectraJson: string; readonly ms: number; free(): void };
  maskPng(tau: number, width: number, height: number): Uint8Array;
  segmentAt(x: number, y: number, tau: number): Promise<number>;
  finerAt(node: number, x: number, y: number, tau: number): Promise<number | null>;
  selectRegion(nodes: Uint32Array, tau: number): Promise<Uint8Array>;
  cutoutPng(crop: boolean): Uint8Array;
  selectionPng(): Uint8Array;
  tree(): string;
  treeFile(): string;
  imageRgba(): Uint8Array;
  /** Panics on purpose (see `TrapPoint`); with `inFuture`, inside the returned promise. */
  debugTrap(inFuture: boolean): Promise<void>;
  free(): void;
}

/** The diffusion module's `ModelInfo` (free it after reading). */
interface ModelInfoLike {
  readonly sizes: Uint32Array;
  readonly size: number;
  readonly seed42Sizes: Uint32Array;
  readonly channels: number;
  readonly dtype: string;
  readonly weightBytes: number;
  free(): void;
}

/** The diffusion module's `ClipInfo` (free it after reading). */
interface ClipInfoLike {
  readonly labelSets: string[];
  readonly textLoaded: boolean;
  readonly dtype: string;
  readonly embedDim: number;
  readonly imageBytes: number;
  readonly textBytes: number;
  free(): void;
}

/** The diffusion module's `DiffCut`: the light one's API plus the model and CLIP. */
interface ModelDiffCut extends Segmenter {
  modelBegin(manifest: Uint8Array): Promise<string[]>;
  modelAddFile(name: string, bytes: Uint8Array): void;
  modelFinish(): ModelInfoLike;
  modelUnload(): void;
  segmentDiffusion(bytes: Uint8Array, size: number, alpha: number, tauMax: number, maxPixels: number, maxSide: number): Promise<SegmentInfoLike>;
  clipBegin(manifest: Uint8Array, withText: boolean): Promise<string[]>;
  clipAddFile(name: string, bytes: Uint8Array): void;
  clipFinish(): ClipInfoLike;
  clipUnload(): void;
  nameSegments(labels: Uint32Array, width: number, height: number, labelSpec: string, size: number, rgba?: Uint8Array | null): Promise<string>;
}

/** The name the diffusion module gives the error of a label list that needs CLIP's text part (not loaded). */
const CLIP_TEXT_NEEDED = "ClipTextNeeded";

/** The code of an error the page acts on (protocol.ts's `ErrorCode`), if `err` is one. */
function errorCode(err: unknown): ErrorCode | undefined {
  return err instanceof Error && err.name === CLIP_TEXT_NEEDED ? "clip-text-needed" : undefined;
}

/** `p`, or an AbortError as soon as `signal` aborts (`p` itself goes on). */
function untilAborted<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(abortError());
  return new Promise<T>((resolve, reject) => {
    const abort = (): void => reject(abortError());
    signal.addEventListener("abort", abort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener("abort", abort));
  });
}

/** The parts of `pkg-model/diffcut.js` used here (the assignment in `modelModule` checks them). */
interface ModelModule {
  default(input: { module_or_path: string | BufferSource }): Promise<unknown>;
  DiffCut: { create(preferGpu?: boolean | null, helper?: CpuHelper | null): Promise<ModelDiffCut> };
}

/**
 * Compiles a wasm module from its URL, streaming where the server sends `application/wasm`
 * (else from the whole file, as wasm-bindgen's loader does).
 */
async function compileWasm(url: string): Promise<WebAssembly.Module> {
  try {
    return await WebAssembly.compileStreaming(fetch(url));
  } catch {
    const response = await fetch(url);
    if (!response.ok) throw new Error(`failed to fetch Wasm: ${response.status} ${response.statusText} fetching '${url}'`);
    return WebAssembly.compile(await response.arrayBuffer());
  }
}

/** A `backend` getter's value ("webgpu" or "cpu"; wasm-bindgen types it as a string) as the union. */
function asBackend(s: string): Backend {
  return s === "webgpu" ? "webgpu" : "cpu";
}

/**
 * Whether `err` (or an error it wraps, through `cause`) is a trap of a wasm instance: a Rust
 * panic (`unreachable`), running out of memory, a stack overflow. The instance is unusable after
 * one; nothing else that a request throws says that.
 */
export function isTrap(err: unknown): boolean {
  for (let e = err, depth = 0; e instanceof Error && depth < 16; e = e.cause, depth++) {
    if (e instanceof WebAssembly.RuntimeError) return true;
  }
  return false;
}

/** A trap's message for the page: what it is, and the wasm's own words. */
function trapMessage(err: unknown): string {
  let e = err;
  for (let depth = 0; e instanceof Error && !(e instanceof WebAssembly.RuntimeError) && depth < 16; depth++) e = e.cause;
  return `the segmenter stopped with an internal error (${e instanceof Error ? `${e.name}: ${e.message}` : messageOf(err)})`;
}

/** How the diffusion module's download is named in the progress line. */
const MODULE_FILE = "the diffusion module (wasm)";

/** Cache Storage, where the worker has it (secure contexts only). */
function openCache(): (() => Promise<CacheLike>) | null {
  const storage = (self as unknown as { caches?: CacheStorage }).caches;
  return storage ? () => storage.open(CACHE_NAME) : null;
}

async function estimate(): Promise<{ quota?: number; usage?: number } | null> {
  const storage = (navigator as unknown as { storage?: { estimate?: () => Promise<{ quota?: number; usage?: number }> } }).storage;
  return storage?.estimate ? storage.estimate() : null;
}

/** Posts progress of request `id`, at most every 100 ms unless it ends a file or carries a note. */
/** What a load report says of a folder, as both summaries (the diffusion model's, CLIP's) carry it. */
function loadedFields(report: LoadReport, t0: number) {
  return {
    name: report.manifest.name,
    licence: report.manifest.licence,
    totalBytes: report.bytes,
    files: report.files,
    fromCache: report.fromCache,
    cached: report.cached,
    notes: report.notes,
    ms: performance.now() - t0,
  };
}

/** A converted folder (the diffusion model or CLIP) from its URL or from picked files, into `sink`. */
function loadFolder(source: ModelSource, sink: ModelSink, onProgress: (p: LoadProgress) => void, signal: AbortSignal): Promise<LoadReport> {
  return source.kind === "url"
    ? loadFromUrl({ manifestUrl: source.url, fetch: (url, init) => fetch(url, init), openCache: openCache(), estimate, sink, onProgress, signal })
    : loadFromPicked({ picked: source.files, sink, onProgress, signal });
}

function progressPoster(id: number): (p: LoadProgress) => void {
  let last = 0;
  return (p) => {
    const now = performance.now();
    if (!p.force && now - last < 100) return;
    last = now;
    scope.postMessage({ type: "progress", id, loaded: p.loaded, total: p.total, file: p.file, note: p.note }, []);
  };
}

/** Empties the model cache; returns how many files and bytes it held. */
async function clearModelCache(): Promise<{ files: number; bytes: number }> {
  const storage = (self as unknown as { caches?: CacheStorage }).caches;
  if (!storage || !(await storage.has(CACHE_NAME))) return { files: 0, bytes: 0 };
  const cache = await storage.open(CACHE_NAME);
  const keys = await cache.keys();
  let bytes = 0;
  for (const k of keys) bytes += Number((await cache.match(k))?.headers.get("content-length") ?? 0) || 0;
  await storage.delete(CACHE_NAME);
  return { files: keys.length, bytes };
}

/**
 * Everything the worker holds: the two modules' segmenters, which of them has the image on
 * screen, the model loads in progress, and the two request queues. Owns the segmenters' wasm
 * memory: a segmenter is freed once nothing refers to it (see {@link release}).
 */
class DiffCutWorker {
  /** The light module, compiled once: instantiated here and in the CPU helper worker. */
  private lightCompiled: Promise<WebAssembly.Module> | null = null;
  /** The light module's instantiation (once). */
  private lightModule: Promise<unknown> | null = null;
  /** The light module's segmenter (colour features); null before `init`. */
  private light: DiffCut | null = null;
  /** The diffusion module, downloaded and instantiated on the first model load (null: not yet, or that failed). */
  private modelModule: Promise<ModelModule> | null = null;
  /** The diffusion module's segmenter holding the loaded model. */
  private modelDc: ModelDiffCut | null = null;
  /** The diffusion module's instance holding CLIP (it never segments). */
  private clipDc: ModelDiffCut | null = null;
  /** Loads waiting for the diffusion module's download, by request id: each is sent its progress. */
  private readonly moduleWatchers = new Set<number>();
  /** The segmenter of the image on screen. */
  private active: Segmenter | null = null;
  /** Segmenters inside an `await` (a model load may replace one meanwhile: it must not be freed). */
  private readonly inUse = new Set<Segmenter>();
  /** Whether the tree is grown on WebGPU (the `init` request's choice), for the diffusion module too. */
  private preferGpu = true;
  /** Model loads in progress, by request id (for `cancel`). */
  private readonly loads = new Map<number, AbortController>();
  /** Each lane's requests, handled one at a time, in order. */
  private readonly queues: Record<Lane, Promise<void>> = { main: Promise.resolve(), model: Promise.resolve(), clip: Promise.resolve() };
  /** The second worker of the CPU path (the `init` request's `helper`, on two cores or more). */
  private helper: CpuHelper | null = null;
  /** Where to trap on purpose, once (the `init` request's `trap`; tests only). */
  private trap: TrapPoint | null = null;

  /** Traps now if `at` is the armed trap point (once). */
  private trapIf(at: TrapPoint, dc: Segmenter, inFuture: boolean): Promise<void> | null {
    if (this.trap !== at) return null;
    this.trap = null;
    return dc.debugTrap(inFuture);
  }

  /**
   * Takes a message of the page. Requests are handled one at a time per lane, in order (the page
   * sends one at a time per lane anyway): model loads run beside the segmenters, on a segmenter
   * of their own until they succeed. A cancel acts at once on the load it names, which then
   * answers with a `cancelled` error.
   */
  receive(msg: ToWorker): void {
    if (msg.type === "cancel") {
      this.loads.get(msg.id)?.abort();
      return;
    }
    const lane = laneOf(msg.type);
    this.queues[lane] = this.queues[lane].then(async () => {
      let reply: Response;
      try {
        reply = await this.handle(msg);
      } catch (err) {
        // A trap (a Rust panic, out of memory) leaves the wasm instance unusable, even one
        // wrapped in another error (the load of the diffusion module wraps what it meets).
        const fatal = isTrap(err);
        const message = fatal ? trapMessage(err) : messageOf(err);
        const code = fatal ? undefined : errorCode(err);
        reply = isAbort(err) && !fatal ? { type: "error", id: msg.id, message, fatal, cancelled: true } : code !== undefined ? { type: "error", id: msg.id, message, fatal, code } : { type: "error", id: msg.id, message, fatal };
      }
      scope.postMessage(reply, transferables(reply));
    });
  }

  private async handle(msg: Request): Promise<Response> {
    switch (msg.type) {
      case "init":
        return this.init(msg);
      case "prepare": {
        const prepared = await prepareImage(msg.image);
        return { type: "prepare-done", id: msg.id, bytes: prepared.bytes, note: prepared.note };
      }
      case "segment":
      case "frame":
        return this.segment(msg);
      case "labels": {
        const dc = this.current();
        const t0 = performance.now();
        const labels = dc.pixelLabels(msg.tau, dc.imageWidth, dc.imageHeight);
        return { type: "labels-done", id: msg.id, tau: msg.tau, labels, ms: performance.now() - t0 };
      }
      case "refine": {
        const dc = this.current();
        const t0 = performance.now();
        const labels = await dc.refinedLabels(msg.tau);
        return { type: "refine-done", id: msg.id, tau: msg.tau, labels, ms: performance.now() - t0 };
      }
      case "node": {
        const dc = this.current();
        return {
          type: "node-done",
          id: msg.id,
          node: msg.node,
          fiedler: dc.fiedler(msg.node),
          curve: dc.ncutCurve(msg.node),
          thresholds: dc.cutThresholds(msg.node),
        };
      }
      case "alpha-count": {
        const t0 = performance.now();
        const segments = await this.current().segmentCountWithAlpha(msg.alpha, msg.tau);
        return { type: "alpha-count-done", id: msg.id, alpha: msg.alpha, tau: msg.tau, segments, ms: performance.now() - t0 };
      }
      case "autosc": {
        const a = this.current().autosc();
        try {
          return {
            type: "autosc-done",
            id: msg.id,
            labels: new Uint32Array(a.labels),
            clusters: a.clusters,
            segments: a.segments,
            alpha: a.alpha,
            spectra: parseSpectra(a.spectraJson),
            ms: a.ms,
          };
        } finally {
          a.free();
        }
      }
      case "mask": {
        const dc = this.current();
        return { type: "mask-done", id: msg.id, png: dc.maskPng(msg.tau, dc.imageWidth, dc.imageHeight) };
      }
      case "pick": {
        const dc = this.current();
        const node = msg.from === null ? await dc.segmentAt(msg.x, msg.y, msg.tau) : await dc.finerAt(msg.from, msg.x, msg.y, msg.tau);
        return { type: "pick-done", id: msg.id, node };
      }
      case "region": {
        const mask = await this.current().selectRegion(Uint32Array.from(msg.nodes), msg.tau);
        const pixels = mask.reduce((n, b) => n + b, 0);
        return { type: "region-done", id: msg.id, nodes: msg.nodes, tau: msg.tau, mask, pixels };
      }
      case "cutout":
        return { type: "cutout-done", id: msg.id, png: this.current().cutoutPng(msg.crop) };
      case "selection-mask":
        return { type: "selection-mask-done", id: msg.id, png: this.current().selectionPng() };
      case "tree-file":
        return { type: "tree-file-done", id: msg.id, json: this.current().treeFile() };
      case "load-model": {
        const controller = new AbortController();
        this.loads.set(msg.id, controller);
        try {
          return { type: "load-model-done", id: msg.id, model: await this.loadModel(msg, controller.signal) };
        } finally {
          this.loads.delete(msg.id);
        }
      }
      case "clear-model-cache":
        return { type: "clear-model-cache-done", id: msg.id, ...(await clearModelCache()) };
      case "load-clip": {
        const controller = new AbortController();
        this.loads.set(msg.id, controller);
        try {
          return { type: "load-clip-done", id: msg.id, clip: await this.loadClip(msg, controller.signal) };
        } finally {
          this.loads.delete(msg.id);
        }
      }
      case "name":
        return this.name(msg);
      default:
        return unreachable(msg);
    }
  }

  private async init(msg: Extract<Request, { type: "init" }>): Promise<ResponseFor<"init">> {
    this.trap = msg.trap;
    const compiled = (this.lightCompiled ??= compileWasm(wasmUrl));
    this.lightModule ??= compiled.then((module) => init({ module_or_path: module }));
    await this.lightModule;
    // `auto` is the CPU path: on an H200 our WGSL NCut grew trees 2× more slowly than the page's
    // two workers on a 2-core laptop at 32², 1.2× at 48² (BENCHMARKS.md, "On a real GPU"), so
    // the tree goes to WebGPU only when asked for. The diffusion model uses WebGPU in any case.
    this.preferGpu = msg.device === "webgpu";
    if (msg.helper && typeof Worker !== "undefined" && (navigator.hardwareConcurrency || 1) >= 2) {
      const module = await compiled;
      this.helper ??= new CpuHelper(() => new Worker(new URL("./cpu-helper-worker.ts", import.meta.url), { type: "module" }), module);
    } else {
      this.helper?.stop();
      this.helper = null;
    }
    const dc = await DiffCut.create(this.preferGpu, this.helper);
    const old = this.light;
    this.light = dc;
    this.release(old);
    if (dc.backend === "cpu") this.helper?.warm();
    const note = msg.device === "auto" ? "faster than the WebGPU NCut on the GPUs measured" : (dc.gpuNote ?? null);
    const cpuWorkers = this.helper === null ? 1 : 2;
    return { type: "init-done", id: msg.id, defaults: parseFeatureDefaults(featureDefaults()), backend: asBackend(dc.backend), adapter: dc.adapter ?? null, note, cpuWorkers };
  }

  private async segment(msg: Extract<Request, { type: "segment" | "frame" }>): Promise<ResponseFor<"segment"> | ResponseFor<"frame">> {
    const { features, alpha, tauMax } = msg.params;
    let dc: Segmenter;
    let running: Promise<SegmentInfoLike>;
    switch (features.kind) {
      case "color": {
        if (this.light === null) throw new Error("the segmenter is not initialised yet");
        dc = this.light;
        const light = this.light;
        const trap = this.trapIf("segment", dc, true) as Promise<never> | null;
        running =
          trap ??
          (msg.type === "frame"
            ? light.segmentRgba(new Uint8Array(msg.rgba.buffer, msg.rgba.byteOffset, msg.rgba.byteLength), msg.width, msg.height, features.grid, alpha, tauMax)
            : light.segmentImage(new Uint8Array(msg.bytes), features.grid, alpha, tauMax, MAX_PIXELS, MAX_SIDE));
        break;
      }
      case "diffusion":
        if (msg.type === "frame") throw new Error("camera frames are segmented with the colour features");
        if (this.modelDc === null) throw new Error("no diffusion model is loaded");
        dc = this.modelDc;
        running = (this.trapIf("segment", dc, true) as Promise<never> | null) ?? this.modelDc.segmentDiffusion(new Uint8Array(msg.bytes), features.size, alpha, tauMax, MAX_PIXELS, MAX_SIDE);
        break;
      default:
        return unreachable(features);
    }
    let info: SegmentInfoLike;
    this.inUse.add(dc);
    try {
      info = await running;
    } catch (e) {
      this.inUse.delete(dc);
      this.release(dc);
      throw e;
    }
    this.inUse.delete(dc);
    // The segmenter that succeeded holds the image now (a failure keeps the previous one active
    // and frees this one if a model load replaced it meanwhile).
    this.setActive(dc);
    try {
      const t0 = performance.now();
      const tree = parseTreeJson(dc.tree());
      const finest = dc.pixelLabels(tauMax, info.width, info.height);
      const labels = dc.pixelLabels(Math.min(msg.tau, tauMax), info.width, info.height);
      const labelsMs = performance.now() - t0;
      const rgba = new Uint8ClampedArray(dc.imageRgba().buffer);
      const done = {
        id: msg.id,
        info: {
          width: info.width,
          height: info.height,
          decodedWidth: info.decodedWidth,
          decodedHeight: info.decodedHeight,
          features,
          grid: info.grid,
          nodes: info.nodes,
          finestSegments: info.finestSegments,
          backend: asBackend(info.backend),
          note: info.note ?? null,
          decodeMs: info.decodeMs,
          featuresMs: info.featuresMs,
          treeMs: info.treeMs,
          labelsMs,
        },
        tree,
        rgba,
        finest,
        labels,
        tau: msg.tau,
      };
      return msg.type === "frame" ? { type: "frame-done", ...done } : { type: "segment-done", ...done };
    } finally {
      info.free();
    }
  }

  /**
   * Loads a model into a fresh segmenter of the diffusion module, which replaces the current
   * model only when everything succeeded: a failed or cancelled load leaves the old one in place.
   */
  private async loadModel(msg: Extract<Request, { type: "load-model" }>, signal: AbortSignal): Promise<ModelSummary> {
    const t0 = performance.now();
    const mod = await this.modelModuleFor(msg.id, signal);
    if (signal.aborted) throw abortError();
    const dc = await mod.DiffCut.create(this.preferGpu, this.helper);
    try {
      const sink: ModelSink = {
        begin: (m) => dc.modelBegin(m),
        add: (name, bytes) => {
          void this.trapIf("model-file", dc, false);
          dc.modelAddFile(name, bytes);
        },
      };
      const report = await loadFolder(msg.source, sink, progressPoster(msg.id), signal);
      if (signal.aborted) throw abortError();
      const info = dc.modelFinish();
      let model: ModelSummary;
      try {
        model = {
          dtype: info.dtype,
          sizes: Array.from(info.sizes),
          size: info.size,
          seed42Sizes: Array.from(info.seed42Sizes),
          channels: info.channels,
          weightBytes: info.weightBytes,
          ...loadedFields(report, t0),
        };
      } finally {
        info.free();
      }
      const old = this.modelDc;
      this.modelDc = dc;
      if (old !== null && old === this.active) old.modelUnload(); // its tree stays on screen; its model goes
      this.release(old);
      return model;
    } catch (e) {
      if (dc !== this.modelDc) {
        try {
          dc.free();
        } catch {
          // A trapped instance cannot free anything: the error that matters is `e`.
        }
      }
      throw e;
    }
  }

  /**
   * Loads CLIP into a fresh instance of the diffusion module, which replaces the CLIP loaded
   * before only when everything succeeded: a failed or cancelled load leaves the old one in place.
   * With `withText` the text part is loaded too (the image part's files then come from the cache).
   */
  private async loadClip(msg: Extract<Request, { type: "load-clip" }>, signal: AbortSignal): Promise<ClipSummary> {
    const t0 = performance.now();
    const mod = await this.modelModuleFor(msg.id, signal);
    if (signal.aborted) throw abortError();
    // It never segments: the CPU path, so that no second WebGPU device is opened for its trees.
    const dc = await mod.DiffCut.create(false, null);
    try {
      const sink: ModelSink = {
        begin: (m) => dc.clipBegin(m, msg.withText),
        add: (name, bytes) => dc.clipAddFile(name, bytes),
      };
      const report = await loadFolder(msg.source, sink, progressPoster(msg.id), signal);
      if (signal.aborted) throw abortError();
      const info = dc.clipFinish();
      let clip: ClipSummary;
      try {
        clip = {
          dtype: info.dtype,
          labelSets: Array.from(info.labelSets),
          textLoaded: info.textLoaded,
          embedDim: info.embedDim,
          imageBytes: info.imageBytes,
          textBytes: info.textBytes,
          ...loadedFields(report, t0),
        };
      } finally {
        info.free();
      }
      const old = this.clipDc;
      this.clipDc = dc;
      if (old !== null) {
        old.clipUnload();
        this.release(old);
      }
      return clip;
    } catch (e) {
      if (dc !== this.clipDc) {
        try {
          dc.free();
        } catch {
          // A trapped instance cannot free anything: the error that matters is `e`.
        }
      }
      throw e;
    }
  }

  /** Names the segments of the request's labels with the loaded CLIP. */
  private async name(msg: Extract<Request, { type: "name" }>): Promise<ResponseFor<"name">> {
    const clip = this.clipDc;
    if (clip === null) throw new Error("CLIP is not loaded");
    const t0 = performance.now();
    this.inUse.add(clip);
    let json: string;
    try {
      json = await clip.nameSegments(msg.labels, msg.width, msg.height, msg.spec, msg.size, new Uint8Array(msg.rgba.buffer, msg.rgba.byteOffset, msg.rgba.byteLength));
    } finally {
      this.inUse.delete(clip);
      this.release(clip);
    }
    return { type: "name-done", id: msg.id, naming: parseNaming(json), spec: msg.spec, size: msg.size, ms: performance.now() - t0 };
  }

  /**
   * The diffusion module for load `id` (see {@link diffusionModule}), which is sent the download's
   * progress even when another load started it, and stops waiting when its own `signal` aborts.
   * If the load that started the download cancels it, this one starts a download of its own.
   */
  private async modelModuleFor(id: number, signal: AbortSignal): Promise<ModelModule> {
    for (let attempt = 0; ; attempt++) {
      this.moduleWatchers.add(id);
      try {
        return await untilAborted(this.diffusionModule(signal), signal);
      } catch (e) {
        if (isAbort(e) && !signal.aborted && attempt === 0) continue;
        throw e;
      } finally {
        this.moduleWatchers.delete(id);
      }
    }
  }

  /**
   * The diffusion module, downloaded (with byte progress: it is tens of MB), imported and
   * instantiated on first use. The load that starts the download can cancel it; every load
   * waiting for it is sent its progress; a failed or cancelled download is tried again by the
   * next load.
   */
  private diffusionModule(signal: AbortSignal): Promise<ModelModule> {
    this.modelModule ??= (async () => {
      const post = (loaded: number, total: number | null): void => {
        for (const id of this.moduleWatchers) scope.postMessage({ type: "progress", id, loaded, total, file: MODULE_FILE, note: null }, []);
      };
      let last = 0;
      const bytes = await fetchWithProgress(
        (url, init) => fetch(url, init),
        modelWasmUrl,
        MODULE_FILE,
        (loaded, total) => {
          const now = performance.now();
          if (loaded !== 0 && loaded !== total && now - last < 100) return;
          last = now;
          post(loaded, total);
        },
        signal,
      );
      const mod: ModelModule = await import("../pkg-model/diffcut.js");
      await mod.default({ module_or_path: bytes });
      return mod;
    })().catch((e: unknown) => {
      this.modelModule = null; // a failed download can be retried
      if (isAbort(e)) throw e;
      throw new Error(`cannot load the diffusion module: ${messageOf(e)}`, { cause: e });
    });
    return this.modelModule;
  }

  /** The segmenter of the image on screen. */
  private current(): Segmenter {
    if (this.active === null) throw new Error("no image has been segmented yet");
    return this.active;
  }

  /** Frees `dc` unless something still uses it. */
  private release(dc: Segmenter | null): void {
    if (dc !== null && dc !== this.light && dc !== this.modelDc && dc !== this.clipDc && dc !== this.active && !this.inUse.has(dc)) dc.free();
  }

  private setActive(dc: Segmenter): void {
    const before = this.active;
    this.active = dc;
    if (before !== dc) this.release(before);
  }
}

const worker = new DiffCutWorker();
scope.addEventListener("message", (e: MessageEvent<ToWorker>) => worker.receive(e.data));

// What no request's handling catches: a trap inside an async export's future (it runs from the
// microtask queue, so the export's promise never settles), or any other uncaught error. The
// requests in flight will never be answered: the page is told, and replaces this worker.
let crashed = false;
function reportCrash(err: unknown, fallback: string): void {
  if (crashed) return;
  crashed = true;
  const message = isTrap(err) ? trapMessage(err) : `the worker failed: ${err instanceof Error ? `${err.name}: ${err.message}` : err === undefined ? fallback : messageOf(err)}`;
  scope.postMessage({ type: "crashed", message }, []);
}
scope.addEventListener("error", (e: ErrorEvent) => {
  e.preventDefault();
  reportCrash(e.error, e.message || "an uncaught error");
});
scope.addEventListener("unhandledrejection", (e: PromiseRejectionEvent) => {
  e.preventDefault();
  reportCrash(e.reason, "an unhandled promise rejection");
});
