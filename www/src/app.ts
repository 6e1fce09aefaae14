/**
 * The page's controller: inputs → worker requests → what is drawn.
 *
 * Re-cutting while τ moves is done here, without the worker: the worker returns, with every
 * segmentation, each pixel's finest leaf (its segment at τ_max by concept assignment); on every
 * `input` event the tree is cut at τ and each finest leaf is mapped to its ancestor at τ
 * (`tree-model.ts`), which is O(nodes + pixels). That live view can differ from a fresh
 * assignment at τ along segment borders (a pixel follows its finest leaf, not the coarse
 * segment's mean feature), so when the slider is released (`change`) the worker computes the
 * exact labels at τ, which replace it; those are what the mask download contains.
 *
 * Two feature modes: `color` (weight-free, the grid select) and `diffusion` (a converted model the
 * worker loads on request, with a progress bar and Cancel; the model implies the grid, the size
 * select picks its input size). Everything after the features (τ, α, the tree, exports) is the same.
 *
 * The state is a few discriminated unions (state.ts): the worker ({@link WorkerState}), the
 * image on screen ({@link Screen}, with its {@link LabelKind}), the {@link View} and the model
 * with the feature mode ({@link ModelState}). The DOM shows them and is never read back for them;
 * the model panel's elements are model-panel.ts's.
 */
import { parseModelHosts } from "../scripts/csp.mjs";
import { ClipPanel } from "./clip-panel";
import { WorkerClient, workerTransport } from "./client";
import { coloursForKeys, fiedlerRgba, Palette } from "./colour";
import { download, setStatus, type PageElements, type StatusState } from "./dom";
import { CancelledError, messageOf, SupersededError, unreachable, WorkerError } from "./errors";
import { firstFile, MAX_PIXELS } from "./image-input";
import { configuredClipUrl, configuredModelUrl } from "./model-load";
import { howTexts, type HowTexts } from "./how";
import { fileStem } from "./names";
import { CLIP_LOADING_STATUS, CLIP_NEEDS_WEBGPU, loadRefusal, LOADING_STATUS, ModelPanel, modelPanelElements, modelRefusal, modelText, sizeFor } from "./model-panel";
import { clipText, hoverText, innermostPoints, LABEL_SETS, labelBoxes, labelSpec, nameCounts, namesByNode, namesForNode, needsText, selectionNames, type Inner, type NameAt, type SegmentName } from "./naming";
import { slidersFor, tauHint } from "./params";
import { trapPointOf, type ClipSummary, type DevicePreference, type FeatureDefaults, type FeatureKind, type Features, type ModelSource, type ResponseFor, type Segmented, type SegmentSummary, type TrapPoint, type TreeJson } from "./protocol";
import { composeOverlay, drawGridMap, drawNameBoxes, pixelAt, segmentSizes } from "./render";
import { DEFAULT_SAMPLE, SAMPLES } from "./samples";
import {
  afterRecut,
  currentModel,
  detailArrived,
  featureMode,
  labelAttributes,
  loadFailed,
  loadProgressed,
  loadStarted,
  loadSucceeded,
  NO_MODEL,
  SEGMENTS,
  selectNode,
  settled,
  shownDetail,
  shownStatus,
  withMode,
  withoutModel,
  type LabelKind,
  type LoadedModel,
  type ModelState,
  type NodeDetail,
  type View,
  type WorkerState,
} from "./state";
import { colourKeys, cutAt, finestLeaves, mapLabels, recursionSteps, segmentSteps, type Cut, type RecursionStep } from "./tree-model";
import { drawAlphaPlot, drawCurve, drawEigengaps, drawTauPlot, drawTree } from "./tree-view";

/** Origins besides the page's own that models may be fetched from (the build's CSP lists them too). */
const MODEL_HOSTS: readonly string[] = parseModelHosts(import.meta.env.VITE_MODEL_HOSTS);

/** Whether this browser offers WebGPU at all (diffusion features need it). */
function hasWebGpu(): boolean {
  return typeof navigator !== "undefined" && "gpu" in navigator && (navigator as { gpu?: unknown }).gpu != null;
}

/** An image the user chose, kept to recompute with other parameters. */
interface Source {
  readonly bytes: ArrayBuffer;
  readonly name: string;
  readonly note: string | null;
}

/** One segmentation: what the worker returned, and what drawing it needs. */
interface Segmentation {
  readonly info: SegmentSummary;
  readonly tree: TreeJson;
  readonly finestNodes: readonly number[];
  readonly keys: Uint32Array;
  readonly photo: ImageData;
  /** Per pixel, its finest leaf. */
  readonly finest: Uint32Array;
  /** The live view's labels are mapped into this (one per pixel). */
  readonly live: Uint32Array;
  /** The overlay is composed into this. */
  readonly frame: ImageData;
  readonly name: string;
}

/** The labels drawn: the tree cut at τ, each pixel's segment in it, and their colours. */
interface Labels {
  readonly cut: Cut;
  readonly labels: Uint32Array;
  readonly kind: LabelKind;
  readonly colours: Uint8Array;
}

/**
 * Camera frames are segmented at this long side and grid, with no PAMR: a frame then costs
 * about as much as a 16² tree (tens of ms on a laptop's CPU without WebGPU; BENCHMARKS.md).
 */
const CAMERA_SIDE = 256;
const CAMERA_GRID = 16;

/** The camera while it runs: its stream, the video it plays into, the canvas frames are read from. */
interface Camera {
  readonly stream: MediaStream;
  readonly video: HTMLVideoElement;
  readonly canvas: HTMLCanvasElement;
  /** When the last frames were shown (for frames per second). */
  readonly shown: number[];
  stopped: boolean;
}

/** A picked region: the pixel clicked and the tree node chosen there (by the click, then coarser/finer). */
interface Pick {
  readonly x: number;
  readonly y: number;
  readonly node: number;
}

/** The α the sweep tries, within the slider's range: denser where the count changes fastest. */
const SWEEP_ALPHAS: readonly number[] = [1, 2, 3, 5, 7, 10, 13, 16, 20];

/** An α sweep: the segments at `tau` of a tree per α on `seg`'s features. */
interface AlphaSweep {
  readonly seg: Segmentation;
  readonly tau: number;
  readonly points: { readonly alpha: number; readonly segments: number }[];
  stopped: boolean;
  done: boolean;
}

/** CLIP, loaded in a worker. */
interface LoadedClip {
  readonly summary: ClipSummary;
  readonly source: ModelSource;
  /** The worker that holds it (a replaced worker has lost it: naming loads it again). */
  readonly client: WorkerClient;
}

/** The names of a segmentation's segments, by tree node, and the label list and CLIP size they came from. */
interface Names {
  readonly seg: Segmentation;
  readonly byNode: ReadonlyMap<number, SegmentName>;
  readonly spec: string;
  readonly size: number;
}

/** How long the page waits after the labels change before naming them again (they often change twice: exact, then refined). */
const RENAME_DELAY_MS = 150;

/** What the canvas holds: nothing yet, or a segmentation with its labels at τ. */
type Screen = { readonly kind: "empty" } | { readonly kind: "shown"; readonly seg: Segmentation; readonly labels: Labels };

export class App {
  private work: WorkerState = { kind: "none" };
  private backendText = "";
  private source: Source | null = null;
  private screen: Screen = { kind: "empty" };
  private view: View = SEGMENTS;
  /** The segment under the pointer (−1: none); the labels of `screen` number it. */
  private hovered = -1;
  /** The picked regions: each click's pixel and the tree node picked there; the last is walked by coarser/finer. */
  private picks: readonly Pick[] = [];
  /** The union of the picked regions (1 per selected pixel) and the τ it was read at. */
  private picked: { readonly mask: Uint8Array; readonly pixels: number; readonly tau: number } | null = null;
  /** The camera, while it runs. */
  private camera: Camera | null = null;
  /** The diffusion model and the feature mode segmentations use. */
  private model: ModelState = NO_MODEL;
  /** Model loads started so far (each load's id). */
  private loads = 0;
  /** The colour grid, kept while the grid select says the model sets it. */
  private colourGrid = "32";
  /** Each feature kind's τ/α defaults and τ range (from the worker's `init`). */
  private defaults: FeatureDefaults | null = null;
  /** Whether the person moved τ or α (then their value is kept; else the kind's default is shown). */
  private tauMoved = false;
  private alphaMoved = false;
  private readonly palette = new Palette();
  /** The recursion replayed for `seg` at `tau`: its steps and the one shown (−1: none yet). */
  private stepper: { readonly seg: Segmentation; readonly tau: number; readonly steps: readonly RecursionStep[]; at: number } | null = null;
  private stepTimer: ReturnType<typeof setInterval> | null = null;
  private sweep: AlphaSweep | null = null;
  private readonly recutTimes: number[] = [];
  private redrawQueued = false;
  private readonly panel: ModelPanel;
  /** Where the first worker traps on purpose (`?trap=`, for the tests of the recovery); used once. */
  private trapOnce: TrapPoint | null = null;
  /** Whether the CPU path may use a second worker for the Gram matrix (`?workers=1` says no). */
  private cpuHelper = true;
  /** Workers lost in a row without a segmentation succeeding since (bounds the automatic retries). */
  private deathsInRow = 0;
  /** What the page wants the user to know beside "Ready" (a worker replaced after a failure). */
  private notice: string | null = null;
  /** Segmentations started so far (the Stop button belongs to the latest). */
  private segmentRuns = 0;
  private readonly clipPanel: ClipPanel;
  /** CLIP, once loaded (its worker may have been replaced since: naming then loads it again). */
  private clip: LoadedClip | null = null;
  /** The CLIP load in progress, resolving to whether it worked. */
  private clipLoading: { readonly id: number; readonly done: Promise<boolean> } | null = null;
  private clipLoads = 0;
  /** Whether the segments are named (the Name button turned it on; the labels changing names them again). */
  private namingOn = false;
  /** The names shown, when naming is on and they arrived. */
  private names: Names | null = null;
  /** Namings started so far (only the latest one's answer is shown). */
  private nameRuns = 0;
  private renameTimer: ReturnType<typeof setTimeout> | null = null;
  /** Each segment's innermost point by tree node, from the last labels that were not the live view's. */
  private places: { readonly seg: Segmentation; readonly labels: Uint32Array; readonly byNode: ReadonlyMap<number, Inner> } | null = null;

  constructor(private readonly ui: PageElements) {
    this.panel = new ModelPanel(modelPanelElements(ui), {
      load: (source) => void this.loadModelAndUse(source),
      cancel: () => this.client?.cancel("load-model"),
      clearCache: () => void this.clearModelCache(),
      sizeChanged: () => void this.segment(),
    });
    this.clipPanel = new ClipPanel(ui, {
      load: (source) => void this.loadClipAndName(source),
      cancel: () => this.client?.cancel("load-clip"),
      name: () => void this.nameNow(),
      hide: () => this.hideNames(),
      changed: () => {
        if (this.namingOn) void this.nameNow();
      },
    });
  }

  /** Wires the page and segments the default sample. */
  start(): void {
    this.wire();
    const params = new URLSearchParams(location.search);
    this.trapOnce = trapPointOf(params.get("trap"));
    // `?workers=1`: the CPU path on one worker (comparisons; a machine to keep cool).
    this.cpuHelper = params.get("workers") !== "1";
    const device = params.get("device");
    if (device === "cpu" || device === "webgpu") this.ui.device.value = device;
    const grid = params.get("grid");
    if (grid !== null && grid !== "model" && Array.from(this.ui.grid.options).some((o) => o.value === grid)) this.ui.grid.value = grid;
    this.panel.showUrl(configuredModelUrl(location.search, location.href));
    this.clipPanel.showUrl(configuredClipUrl(location.search, location.href));
    // A reload may restore the form's last values: the page starts in colour mode, without a model.
    this.ui.mode.value = "color";
    if (this.ui.grid.value === "model") this.ui.grid.value = this.colourGrid;
    const wanted = params.get("sample");
    if (wanted === "none") {
      this.status("idle", "No image yet: drop, paste or choose one, or pick a sample.");
      return;
    }
    const sample = SAMPLES.find((s) => s.id === wanted) ?? SAMPLES.find((s) => s.id === DEFAULT_SAMPLE);
    if (sample) void this.loadSample(sample.id);
  }

  // --- inputs -----------------------------------------------------------------------------------

  private wire(): void {
    const ui = this.ui;
    for (const s of SAMPLES) {
      const b = document.createElement("button");
      b.type = "button";
      b.className = "sample";
      b.dataset["sample"] = s.id;
      b.title = `${s.title}: ${s.credit}`;
      const img = document.createElement("img");
      img.src = s.url;
      img.alt = s.title;
      img.loading = "lazy";
      b.append(img, document.createTextNode(s.title));
      b.addEventListener("click", () => void this.loadSample(s.id));
      ui.samples.append(b);
    }
    ui.credits.append(
      ...SAMPLES.map((s, i) => {
        const span = document.createElement("span");
        span.textContent = `${i === 0 ? " " : "; "}${s.title}: ${s.credit}`;
        return span;
      }),
      document.createTextNode("."),
    );

    ui.imageInput.addEventListener("change", () => {
      const file = ui.imageInput.files?.[0];
      if (file) void this.loadBlob(file, file.name);
      ui.imageInput.value = "";
    });
    // Drops anywhere in the page count (a drop outside a target would open the file instead).
    document.addEventListener("dragover", (e) => {
      e.preventDefault();
      ui.dropzone.classList.add("dragging");
    });
    document.addEventListener("dragleave", (e) => {
      if (e.relatedTarget === null) ui.dropzone.classList.remove("dragging");
    });
    document.addEventListener("drop", (e) => {
      e.preventDefault();
      ui.dropzone.classList.remove("dragging");
      const file = firstFile(e.dataTransfer?.items, e.dataTransfer?.files);
      if (file) void this.loadBlob(file, file.name);
    });
    document.addEventListener("paste", (e) => {
      const file = firstFile(e.clipboardData?.items, e.clipboardData?.files);
      if (file) {
        e.preventDefault();
        void this.loadBlob(file, file.name || "pasted image");
      }
    });

    ui.tau.addEventListener("input", () => {
      this.tauMoved = true;
      this.liveRecut();
    });
    ui.tau.addEventListener("change", () => void this.exactLabels());
    ui.alpha.addEventListener("input", () => {
      this.alphaMoved = true;
      ui.alphaValue.value = this.alpha().toString();
    });
    ui.alpha.addEventListener("change", () => void this.segment());
    ui.grid.addEventListener("change", () => void this.segment());
    ui.device.addEventListener("change", () => {
      // A new worker: a loaded model is loaded again (from the browser's cache) when needed.
      this.dropWorker();
      void this.segment();
    });
    ui.opacity.addEventListener("input", () => {
      ui.opacityValue.value = `${Math.round(this.opacity() * 100)}%`;
      this.queueRedraw();
    });
    ui.mode.addEventListener("change", () => void this.modeChanged());
    ui.stop.addEventListener("click", () => this.stop());
    ui.downloadMask.addEventListener("click", () => void this.downloadMask());
    ui.downloadTree.addEventListener("click", () => void this.downloadTree());
    ui.showSegments.addEventListener("click", () => this.showSegments());
    ui.stepNext.addEventListener("click", () => this.step(1));
    ui.stepBack.addEventListener("click", () => this.step(-1));
    ui.stepPlay.addEventListener("click", () => this.togglePlay());
    ui.autoscRun.addEventListener("click", () => void this.runAutosc());
    ui.alphaSweep.addEventListener("click", () => void this.alphaSweep());
    document.addEventListener("keydown", (e) => {
      if (e.key === "Escape" && this.view.kind === "fiedler") this.showSegments();
    });
    ui.overlay.addEventListener("pointermove", (e) => this.hover(e.clientX, e.clientY));
    ui.overlay.addEventListener("pointerleave", () => this.setHovered(-1));
    ui.overlay.addEventListener("click", (e) => void this.pickAt(e.clientX, e.clientY, e.shiftKey));
    ui.overlay.addEventListener("keydown", (e) => {
      if (e.key === "Enter" || e.key === " ") {
        e.preventDefault();
        void this.pickCentre();
      }
    });
    ui.overlay.addEventListener(
      "wheel",
      (e) => {
        if (this.picks.length === 0 || e.deltaY === 0) return;
        e.preventDefault();
        if (e.deltaY < 0) void this.finer();
        else void this.coarser();
      },
      { passive: false },
    );
    document.addEventListener("keydown", (e) => {
      if (e.ctrlKey || e.metaKey || e.altKey) return;
      if (e.key === "[") void this.coarser();
      else if (e.key === "]") void this.finer();
    });
    ui.camera.addEventListener("click", () => void (this.camera ? this.stopCamera("Camera stopped.") : this.startCamera()));
    document.addEventListener("visibilitychange", () => {
      if (document.hidden) this.stopCamera("Camera stopped: the tab was hidden.");
    });
    ui.selectCoarser.addEventListener("click", () => void this.coarser());
    ui.selectFiner.addEventListener("click", () => void this.finer());
    ui.selectClear.addEventListener("click", () => this.setPicks([]));
    ui.downloadCutout.addEventListener("click", () => void this.downloadCutout());
    ui.downloadSelection.addEventListener("click", () => void this.downloadSelection());
    ui.copyCutout.hidden = typeof ClipboardItem === "undefined" || !("clipboard" in navigator);
    ui.copyCutout.addEventListener("click", () => void this.copyCutout());
  }

  private tau(): number {
    return Math.min(this.tauTop(), Number(this.ui.tau.value));
  }

  /** The top of the τ slider: trees are grown to it, so every τ on the slider is a pruning. */
  private tauTop(): number {
    return Number(this.ui.tau.max);
  }

  /** Sets the τ and α sliders (range, value, hint) for the current feature kind ([`slidersFor`]). */
  private showSliders(): void {
    if (this.defaults === null) return;
    const kind = featureMode(this.model);
    const d = this.defaults[kind];
    const s = slidersFor(d, { tau: Number(this.ui.tau.value), alpha: this.alpha(), tauMoved: this.tauMoved, alphaMoved: this.alphaMoved });
    const ui = this.ui;
    ui.tau.min = String(s.tauMin);
    ui.tau.max = String(s.tauMax);
    ui.tau.value = String(s.tau);
    ui.tauValue.value = s.tau.toFixed(2);
    ui.alpha.value = String(s.alpha);
    ui.alphaValue.value = this.alpha().toString();
    ui.tauHint.textContent = tauHint(kind, d);
  }

  private alpha(): number {
    return Number(this.ui.alpha.value);
  }

  private opacity(): number {
    return Number(this.ui.opacity.value);
  }

  /** The segmentation on screen, if any. */
  private segmentation(): Segmentation | null {
    return this.screen.kind === "shown" ? this.screen.seg : null;
  }

  /** Sets the status line (while a model loads, `shownStatus` keeps it busy with that). */
  private status(state: StatusState, text: string): void {
    const shown = shownStatus(this.model, state, text);
    setStatus(this.ui.status, shown.state, shown.text);
    this.ui.dropzone.setAttribute("aria-busy", String(shown.state === "busy"));
    const empty = this.screen.kind === "empty";
    this.ui.downloadMask.disabled = empty;
    this.ui.downloadTree.disabled = empty;
  }

  private fail(e: unknown): void {
    if (e instanceof SupersededError || e instanceof CancelledError) return;
    console.error(e);
    // The worker's death is handled once, by `workerDied`, whatever request saw it.
    if (e instanceof WorkerError && e.fatal) return;
    this.status("error", messageOf(e));
  }

  /**
   * The worker `client` died: a trap, an uncaught error, or a request past its time limit. It is
   * replaced; the model it held is gone (the user chooses it again); the page says what happened
   * and segments the image again with the colour features, in a new worker (once: a worker that
   * dies again before a segmentation succeeds is not retried on its own).
   */
  private workerDied(client: WorkerClient, message: string): void {
    if (this.client !== client) return; // one the page had already replaced
    this.dropWorker();
    const hadModel = this.model.kind === "loading" || currentModel(this.model) !== null;
    this.model = NO_MODEL;
    this.showMode();
    if (hadModel) this.panel.showLost(message);
    if (this.clip !== null) this.clipPanel.showNote(`CLIP is no longer loaded (${message}): naming loads it again, from the browser's cache where its files are.`);
    this.deathsInRow++;
    const what = `${message.charAt(0).toUpperCase()}${message.slice(1)}.`;
    if (this.source === null || this.deathsInRow > 1) {
      this.notice = null;
      this.status("error", `${what} The page started a new worker: choose an image or a sample to go on${hadModel ? ", and load the diffusion model again to use it" : ""}.`);
      return;
    }
    this.notice = `${what} The page started a new worker and segmented the image again with the colour features${hadModel ? "; load the diffusion model again to use it" : ""}.`;
    void this.segment(this.notice);
  }

  // --- worker -----------------------------------------------------------------------------------

  /** The worker's client, if one is started (requests wait in it for its `init`). */
  private get client(): WorkerClient | null {
    return this.work.kind === "started" ? this.work.client : null;
  }

  /**
   * The worker, started and initialised once: every caller waits for the same `init` (a model
   * load must not reach the worker before it knows where the tree is grown).
   */
  private worker(): Promise<WorkerClient> {
    if (this.work.kind === "started") return this.work.ready;
    const client: WorkerClient = new WorkerClient(workerTransport(new Worker(new URL("./worker.ts", import.meta.url), { type: "module" })), {
      onDeath: (message) => this.workerDied(client, message),
    });
    const device = this.ui.device.value;
    const helper = this.cpuHelper;
    const trap = this.trapOnce;
    this.trapOnce = null;
    const ready = (async () => {
      const r = await client.request({ type: "init", device: device === "cpu" || device === "webgpu" ? device : ("auto" satisfies DevicePreference), helper, trap });
      this.defaults = r.defaults;
      this.showSliders();
      const adapter = r.adapter?.trim().replace(/^\((.*)\)$/, "$1") ?? "";
      const cpu = r.cpuWorkers > 1 ? `CPU (WebAssembly, ${r.cpuWorkers} workers)` : "CPU (WebAssembly)";
      this.backendText = r.backend === "webgpu" ? `WebGPU${adapter ? ` (${adapter})` : ""}` : `${cpu}${r.note ? `: ${r.note}` : ""}`;
      console.info(`[diffcut] segment tree on ${this.backendText}`);
      return client;
    })();
    this.work = { kind: "started", client, ready };
    // A failed start is not kept: the next request starts a new worker.
    ready.catch(() => {
      if (this.client === client) this.dropWorker();
    });
    return ready;
  }

  /** Stops the worker (a device change, a trap); the next request starts a new one. */
  private dropWorker(): void {
    if (this.work.kind === "started") this.work.client.terminate();
    this.work = { kind: "none" };
  }

  private async loadSample(id: string): Promise<void> {
    const sample = SAMPLES.find((s) => s.id === id);
    if (!sample) return;
    this.stopCamera();
    this.status("busy", `Loading ${sample.title}…`);
    try {
      const response = await fetch(sample.url);
      if (!response.ok) throw new Error(`cannot load the sample ${sample.title}: HTTP ${response.status}`);
      await this.loadBlob(await response.blob(), `${sample.id}.jpg`);
    } catch (e) {
      this.fail(e);
    }
  }

  private async loadBlob(blob: Blob, name: string): Promise<void> {
    this.stopCamera();
    this.status("busy", `Reading ${name}…`);
    try {
      // Decoded and downscaled in the worker: a large image never holds up the page.
      const client = await this.worker();
      const prepared = await client.request({ type: "prepare", image: blob });
      this.source = { bytes: prepared.bytes, name, note: prepared.note };
      await this.segment();
    } catch (e) {
      this.fail(e);
    }
  }

  /**
   * Grows a new tree for the current image and parameters. `notice` (after a worker was
   * replaced) stays beside the status until the next segmentation.
   */
  private async segment(notice: string | null = null): Promise<void> {
    const source = this.source;
    if (!source) return;
    this.notice = notice;
    const run = ++this.segmentRuns;
    this.ui.stop.hidden = false;
    // Busy at once (synchronously, in the event that asked for it).
    this.status("busy", `${notice === null ? "" : `${notice} `}Segmenting ${source.name}${featureMode(this.model) === "diffusion" ? " with the diffusion features" : ""}…`);
    try {
      const features = await this.features();
      const client = await this.worker();
      const t0 = performance.now();
      const r = await client.request({
        type: "segment",
        bytes: source.bytes,
        params: { features, alpha: this.alpha(), tauMax: this.tauTop() },
        tau: this.tau(),
      });
      const total = performance.now() - t0;
      this.deathsInRow = 0;
      this.show(r, source, total);
    } catch (e) {
      this.fail(e);
    } finally {
      if (run === this.segmentRuns) this.ui.stop.hidden = true;
    }
  }

  /**
   * Stops the segmentation in progress: the wasm module cannot be interrupted inside a call, so
   * the worker is replaced (a loaded model goes into the new one from the browser's cache when it
   * is next used). What was on screen came from the old worker and goes too.
   */
  private stop(): void {
    const name = this.source?.name ?? "the image";
    this.segmentRuns++;
    this.ui.stop.hidden = true;
    this.dropWorker();
    this.notice = null;
    this.clearScreen();
    this.status("idle", `Stopped segmenting ${name}. Choose an image or a sample, or change a setting (a smaller grid, the colour features) to segment it again.`);
  }

  /** Back to no image on screen. */
  private clearScreen(): void {
    this.screen = { kind: "empty" };
    this.view = SEGMENTS;
    this.hovered = -1;
    const overlay = this.ui.overlay;
    overlay.getContext("2d")?.clearRect(0, 0, overlay.width, overlay.height);
    delete overlay.dataset["labels"];
    delete overlay.dataset["refined"];
    this.ui.dropHint.hidden = false;
    this.ui.nodeDetail.hidden = true;
    this.ui.treeView.replaceChildren();
    this.ui.facts.replaceChildren();
    this.ui.segmentCount.value = "0";
    this.ui.hoverInfo.textContent = "";
    delete overlay.dataset["names"];
    this.resetTeaching();
  }

  private show(r: ResponseFor<"segment">, source: Source, totalMs: number): void {
    const { info, tree } = r;
    const seg = segmentationOf(r, fileStem(source.name));
    this.view = SEGMENTS;
    this.ui.nodeDetail.hidden = true;
    this.resetTeaching();
    this.picks = [];
    this.picked = null;
    this.showPicked();
    this.ui.overlay.width = info.width;
    this.ui.overlay.height = info.height;
    this.ui.dropHint.hidden = true;
    const exact = r.tau === this.tau();
    if (exact) {
      this.setCut(seg, cutAt(tree, r.tau, seg.finestNodes), r.labels, "exact");
      void this.refinedLabels();
    } else {
      this.liveRecut(seg);
      void this.exactLabels();
    }
    this.facts(info, source, totalMs);
    if (exact) this.status("ready", this.readyText());
  }

  private readyText(): string {
    const l = this.segmentation();
    const notice = this.notice === null ? "" : `${this.notice} `;
    if (!l) return `${notice}Ready.`;
    const features = l.info.features.kind === "diffusion" ? `diffusion features at ${l.info.features.size} px, ` : "";
    return `${notice}Ready: ${l.name}, ${l.info.width}×${l.info.height}, ${features}grid ${l.info.grid}×${l.info.grid}.`;
  }

  private facts(info: SegmentSummary, source: Source, totalMs: number): void {
    const f = info.features;
    const model = currentModel(this.model)?.summary;
    const features =
      f.kind === "color"
        ? `colour + texture (weight-free), grid ${info.grid}×${info.grid}`
        : `diffusion${model ? ` (${model.name ?? "model"}, ${model.dtype}, ${model.channels} channels)` : ""}: ${f.size}×${f.size} input, grid ${info.grid}×${info.grid}`;
    const rows: [string, string][] = [
      ["Features", features],
      ["Tree on", info.backend === "webgpu" ? this.backendText : info.note ? `CPU (WebAssembly): ${info.note}` : this.backendText],
      ["Tree", `${info.nodes} nodes, ${info.finestSegments} segments at τ ≤ ${this.tauTop()}`],
      [
        "Time",
        `decode ${info.decodeMs.toFixed(0)} ms · features ${info.featuresMs.toFixed(0)} ms · tree ${info.treeMs.toFixed(0)} ms · pixels ${info.labelsMs.toFixed(0)} ms · total ${totalMs.toFixed(0)} ms`,
      ],
    ];
    if (source.note) rows.push(["Input", source.note]);
    if (info.decodedWidth !== info.width || info.decodedHeight !== info.height) {
      rows.push(["Input", `downscaled from ${info.decodedWidth}×${info.decodedHeight} to ${info.width}×${info.height} after decoding (${Math.round(MAX_PIXELS / 1e4) / 100} megapixels at most)`]);
    }
    this.ui.facts.replaceChildren(
      ...rows.flatMap(([k, v]) => {
        const dt = document.createElement("dt");
        dt.textContent = k;
        const dd = document.createElement("dd");
        dd.textContent = v;
        return [dt, dd];
      }),
    );
  }

  // --- the diffusion model -----------------------------------------------------------------------

  /** The features of the next segmentation; loads the model again if its worker was replaced. */
  private async features(): Promise<Features> {
    const now = settled(this.model);
    if (now.kind === "none" || now.mode === "color") return { kind: "color", grid: this.gridValue() };
    let model: LoadedModel = now.model;
    if (model.client !== this.client || this.client === null) {
      // A new worker (another device, or a crash): the model goes in again, from the browser's cache.
      if (!(await this.loadModel(model.source))) {
        // The image on screen came from the old worker: segment it again, with colour features.
        this.model = withoutModel(this.model);
        this.showMode();
        return { kind: "color", grid: this.gridValue() };
      }
      model = currentModel(this.model) ?? model;
    }
    return { kind: "diffusion", size: sizeFor(model.summary, this.panel.chosenSize()) };
  }

  /** The colour features' grid side. */
  private gridValue(): number {
    return Number(this.ui.grid.value === "model" ? this.colourGrid : this.ui.grid.value);
  }

  /** Segmentations use `mode` from now on (diffusion needs a model), and the page shows it. */
  private setMode(mode: FeatureKind): void {
    this.model = withMode(this.model, mode);
    this.showMode();
  }

  /** Shows the feature mode in the select and enables what it uses (the grid select belongs to colour). */
  private showMode(): void {
    const mode = featureMode(this.model);
    const grid = this.ui.grid;
    if (mode === "diffusion" && grid.value !== "model") {
      this.colourGrid = grid.value;
      grid.value = "model";
    } else if (mode === "color" && grid.value === "model") {
      grid.value = this.colourGrid;
    }
    this.ui.mode.value = mode;
    this.showSliders();
    grid.disabled = mode === "diffusion";
    grid.title = mode === "diffusion" ? "The diffusion model sets the grid (its input size / 32 for SSD-1B)" : "";
    this.panel.enableSize(currentModel(this.model) !== null);
  }

  private async modeChanged(): Promise<void> {
    const wanted = this.ui.mode.value === "diffusion" ? "diffusion" : "color";
    if (wanted === "color") {
      this.client?.cancel("load-model");
      this.setMode("color");
      await this.segment();
      return;
    }
    if (currentModel(this.model) !== null) {
      this.setMode("diffusion");
      await this.segment();
      return;
    }
    await this.loadModelAndUse(this.panel.urlSource());
  }

  /** Loads a model, then segments the image with it; on failure the mode stays what it was. */
  private async loadModelAndUse(source: ModelSource): Promise<void> {
    if (await this.loadModel(source)) {
      this.setMode("diffusion");
      if (this.source) await this.segment();
      else this.status("idle", "Model loaded: drop, paste or choose an image, or pick a sample.");
    } else {
      // The mode select may show the mode that was being loaded.
      this.showMode();
    }
  }

  /**
   * Loads a model into the worker, showing the progress; resolves to whether it worked. A load
   * in progress is cancelled first. A failure shows the error; a cancel says so. Either way the
   * model and segmentation before stay.
   */
  private async loadModel(source: ModelSource): Promise<boolean> {
    if (this.model.kind === "loading") {
      this.client?.cancel("load-model");
      await this.model.ended;
    }
    const refusal = modelRefusal(source, hasWebGpu(), location.origin, MODEL_HOSTS);
    if (refusal !== null) {
      this.status("error", refusal);
      return false;
    }
    const id = ++this.loads;
    let end = (): void => {};
    const ended = new Promise<void>((resolve) => (end = resolve));
    this.model = loadStarted(this.model, id, source, LOADING_STATUS, ended);
    this.status("busy", LOADING_STATUS);
    const progress = this.panel.beginLoad(source);
    try {
      const client = await this.worker();
      const r = await client.request({ type: "load-model", source }, [], {
        onProgress: (p) => {
          const text = progress(p);
          this.model = loadProgressed(this.model, id, text);
          this.status("busy", text);
        },
      });
      this.model = loadSucceeded(this.model, id, { summary: r.model, source, client });
      this.panel.showLoaded(r.model);
      console.info(`[diffcut] model loaded in ${r.model.ms.toFixed(0)} ms: ${modelText(r.model)}`);
      return true;
    } catch (e) {
      this.model = loadFailed(this.model, id);
      const still = currentModel(this.model)?.summary ?? null;
      if (e instanceof CancelledError) {
        this.panel.showCancelled(still);
        if (this.screen.kind === "shown") this.status("ready", this.readyText());
        else this.status("idle", "Model download cancelled.");
      } else if (e instanceof WorkerError && e.fatal) {
        this.panel.showLost(messageOf(e)); // the worker was replaced (workerDied): the model must be chosen again
        console.error(e);
      } else if (!(e instanceof SupersededError)) {
        this.panel.showFailed(messageOf(e), still);
        this.fail(e);
      }
      return false;
    } finally {
      this.panel.endLoad();
      end();
    }
  }

  private async clearModelCache(): Promise<void> {
    try {
      const client = await this.worker();
      const r = await client.request({ type: "clear-model-cache" });
      this.panel.showCacheCleared(r.files, r.bytes);
    } catch (e) {
      this.fail(e);
    }
  }

  // --- naming segments with CLIP -----------------------------------------------------------------

  /**
   * Names the segments on screen (Name, or the labels or the label list changed while naming is
   * on): loads CLIP first where it is not loaded (its text part too for the person's own words),
   * then asks the worker, and shows the names when they arrive, if the segmentation is still
   * the one named. A newer naming replaces an older one.
   */
  private async nameNow(retried = false): Promise<void> {
    if (this.renameTimer !== null) clearTimeout(this.renameTimer);
    this.renameTimer = null;
    const wanted = labelSpec(this.clipPanel.choice().choice, this.clipPanel.choice().words);
    if (!wanted.ok) {
      this.clipPanel.showNaming("error", wanted.error);
      return;
    }
    this.namingOn = true;
    const run = ++this.nameRuns;
    if (this.camera) {
      this.clipPanel.showNaming("error", "The camera's frames are not named: stop the camera, then name the segments.");
      return;
    }
    if (this.screen.kind === "empty") {
      this.clipPanel.showNaming("busy", "The segments are named once an image is segmented.");
      return;
    }
    const clip = await this.clipFor(wanted.spec, wanted.words);
    if (clip === null || run !== this.nameRuns || !this.namingOn) return;
    // The screen after the load: the exact labels (the live view names them once it rests).
    if (this.screen.kind !== "shown" || this.screen.labels.kind === "live") return;
    const { seg, labels } = this.screen;
    const size = this.clipPanel.size();
    const what = specTitle(wanted.spec, wanted.words);
    this.clipPanel.showNaming("busy", `Naming ${labels.cut.segments} segments with ${what} (CLIP at ${size} px)…`);
    try {
      const r = await clip.client.request({ type: "name", rgba: seg.photo.data, labels: labels.labels, width: seg.info.width, height: seg.info.height, spec: wanted.spec, size });
      if (run !== this.nameRuns || !this.namingOn || this.segmentation() !== seg) return;
      this.names = { seg, byNode: namesByNode(r.naming, labels.cut.segmentNodes), spec: wanted.spec, size };
      const count = r.naming.segments.length;
      this.clipPanel.showNaming("named", `${count} segment${count === 1 ? "" : "s"} named with ${what}, CLIP at ${size} px, in ${r.ms.toFixed(0)} ms.`, labels.cut.tau);
      this.showLegend();
      this.redraw();
      this.refreshNamesInTexts();
      console.info(`[diffcut] named ${r.naming.segments.length} segments with ${what} at ${size} px in ${r.ms.toFixed(0)} ms`);
    } catch (e) {
      if (e instanceof SupersededError) return;
      if (e instanceof WorkerError && e.code === "clip-text-needed" && !retried) {
        // A label set the folder has not precomputed: the text part builds its classifier.
        if (await this.loadClip(clip.source, true)) await this.nameNow(true);
        return;
      }
      if (e instanceof WorkerError && e.fatal) return; // workerDied says so, and segments again
      console.error(e);
      if (run === this.nameRuns) this.clipPanel.showNaming("error", `Naming failed: ${messageOf(e)}`);
    }
  }

  /** Names again a moment after the labels changed (they often change twice in a row). */
  private scheduleNaming(): void {
    if (this.renameTimer !== null) clearTimeout(this.renameTimer);
    this.renameTimer = setTimeout(() => {
      this.renameTimer = null;
      if (this.namingOn) void this.nameNow();
    }, RENAME_DELAY_MS);
  }

  /** Stops naming: the names go from the image, the legend and the texts. */
  private hideNames(): void {
    this.namingOn = false;
    this.names = null;
    this.nameRuns++;
    if (this.renameTimer !== null) clearTimeout(this.renameTimer);
    this.renameTimer = null;
    this.clipPanel.showNaming("off", "");
    this.showLegend();
    this.redraw();
    this.refreshNamesInTexts();
  }

  /**
   * CLIP in the current worker with what `spec` needs, loading it (or its text part) first; null
   * when that failed (the panel says why). `words`: the person's own words (the text part).
   */
  private async clipFor(spec: string, words: boolean): Promise<LoadedClip | null> {
    if (this.clipLoading !== null) await this.clipLoading.done;
    const clip = this.clip;
    const here = clip !== null && this.client !== null && clip.client === this.client;
    if (clip !== null && here && !needsText(spec, clip.summary)) return clip;
    // Not loaded, lost with its worker, or without the text part that these words need.
    const withText = words || (clip !== null && (clip.summary.textLoaded || needsText(spec, clip.summary)));
    const ok = await this.loadClip(clip?.source ?? this.clipPanel.urlSource(), withText);
    return ok ? this.clip : null;
  }

  /** The panel's Load: loads CLIP from `source` (keeping the text part if the one loaded has it), then names if naming is on. */
  private async loadClipAndName(source: ModelSource): Promise<void> {
    const choice = this.clipPanel.choice();
    const words = labelSpec(choice.choice, choice.words);
    const withText = (this.clip?.summary.textLoaded ?? false) || (words.ok && words.words);
    if ((await this.loadClip(source, withText)) && this.namingOn) await this.nameNow();
  }

  /**
   * Loads CLIP into the worker from `source` (its image part; with `withText`, its text part too),
   * showing the progress in the panel; resolves to whether it worked. A load in progress is
   * cancelled first. The CLIP loaded before stays until the new one has loaded.
   */
  private async loadClip(source: ModelSource, withText: boolean): Promise<boolean> {
    if (this.clipLoading !== null) {
      this.client?.cancel("load-clip");
      await this.clipLoading.done;
    }
    const refusal = loadRefusal(source, hasWebGpu(), location.origin, MODEL_HOSTS, CLIP_NEEDS_WEBGPU);
    if (refusal !== null) {
      this.namingOn = false;
      this.clipPanel.showNaming("error", refusal);
      return false;
    }
    const id = ++this.clipLoads;
    let end = (_ok: boolean): void => {};
    const done = new Promise<boolean>((resolve) => (end = resolve));
    this.clipLoading = { id, done };
    const progress = this.clipPanel.beginLoad(source);
    const textOnly = withText && this.clip !== null && !this.clip.summary.textLoaded;
    this.clipPanel.showNaming("busy", textOnly ? "Loading CLIP's text part for your own words…" : CLIP_LOADING_STATUS);
    let ok = false;
    try {
      const client = await this.worker();
      const r = await client.request({ type: "load-clip", source, withText }, [], { onProgress: (p) => this.clipPanel.showNaming("busy", progress(p)) });
      this.clip = { summary: r.clip, source, client };
      this.clipPanel.showLoaded(r.clip);
      console.info(`[diffcut] CLIP loaded in ${r.clip.ms.toFixed(0)} ms: ${clipText(r.clip)}`);
      ok = true;
    } catch (e) {
      const still = this.clip !== null && this.clip.client === this.client ? this.clip.summary : null;
      if (e instanceof CancelledError) {
        this.namingOn = false;
        this.clipPanel.showCancelled(still);
        this.clipPanel.showNaming("off", "CLIP download cancelled: the segments are not named.");
      } else if (e instanceof WorkerError && e.fatal) {
        console.error(e); // workerDied says so
      } else if (!(e instanceof SupersededError)) {
        console.error(e);
        this.namingOn = false;
        this.clipPanel.showFailed(messageOf(e), still);
        this.clipPanel.showNaming("error", `Loading CLIP failed: ${messageOf(e)}`);
      }
    } finally {
      this.clipPanel.endLoad();
      if (this.clipLoading?.id === id) this.clipLoading = null;
      end(ok);
    }
    return ok;
  }

  /** The names shown for the segmentation on screen, by tree node (none when naming is off or they are another image's). */
  private shownNames(): ReadonlyMap<number, SegmentName> | null {
    const names = this.names;
    return this.namingOn && names !== null && names.seg === this.segmentation() ? names.byNode : null;
  }

  /** The name of the segment that is tree node `node`, if it has one. */
  private nameOf(node: number): string | null {
    return this.shownNames()?.get(node)?.name ?? null;
  }

  /** The distinct names within the picked regions. */
  private pickedNames(): string[] {
    const names = this.shownNames();
    if (names === null || this.screen.kind !== "shown") return [];
    const { seg, labels } = this.screen;
    const out: string[] = [];
    for (const p of this.picks) for (const n of namesForNode(seg.tree, labels.cut.segmentNodes, names, p.node)) if (!out.includes(n)) out.push(n);
    return out;
  }

  /** Names arrived or went: the hover line and the selection's text follow. */
  private refreshNamesInTexts(): void {
    const hovered = this.hovered;
    this.hovered = -1;
    this.setHovered(hovered);
    if (this.picked !== null) this.ui.selection.textContent = this.pickedText();
  }

  /** The legend of the names on screen: each name, its segments' count and the first one's colour. */
  private showLegend(): void {
    const names = this.shownNames();
    if (names === null || this.screen.kind !== "shown") {
      this.clipPanel.showLegend([]);
      return;
    }
    const { cut, colours } = this.screen.labels;
    const first = new Map<string, number>();
    const all: string[] = [];
    cut.segmentNodes.forEach((node, segment) => {
      const name = names.get(node)?.name;
      if (name === undefined) return;
      all.push(name);
      if (!first.has(name)) first.set(name, segment);
    });
    const colour = (segment: number): string => `rgb(${colours[3 * segment] ?? 0} ${colours[3 * segment + 1] ?? 0} ${colours[3 * segment + 2] ?? 0})`;
    this.clipPanel.showLegend(nameCounts(all).map((e) => ({ ...e, colour: colour(first.get(e.name) ?? 0) })));
  }

  /**
   * The names on the overlay, each at its segment's innermost point (from the last labels that
   * were not the live view's: while τ moves, a segment that stays keeps its name where it was).
   * `data-names` on the canvas lists the names drawn (the test contract).
   */
  private drawNames(ctx: CanvasRenderingContext2D, seg: Segmentation, labels: Labels): void {
    const overlay = this.ui.overlay;
    const names = this.shownNames();
    if (names === null) {
      delete overlay.dataset["names"];
      return;
    }
    const { width: w, height: h } = seg.info;
    if (labels.kind !== "live" && (this.places?.seg !== seg || this.places.labels !== labels.labels)) {
      const byNode = new Map<number, Inner>();
      innermostPoints(labels.labels, w, h, labels.cut.segments).forEach((p, s) => {
        const node = labels.cut.segmentNodes[s];
        if (p !== null && node !== undefined) byNode.set(node, p);
      });
      this.places = { seg, labels: labels.labels, byNode };
    }
    const places = this.places?.seg === seg ? this.places.byNode : new Map<number, Inner>();
    const list: NameAt[] = [];
    labels.cut.segmentNodes.forEach((node, segment) => {
      const name = names.get(node)?.name;
      const at = places.get(node);
      if (name !== undefined && at !== undefined) list.push({ text: name, segment, at });
    });
    // About 14 CSS pixels whatever the canvas's scale on screen.
    const scale = overlay.clientWidth > 0 ? overlay.width / overlay.clientWidth : 1;
    const lineHeight = Math.max(8, Math.round(14 * scale));
    const font = `600 ${lineHeight}px system-ui, sans-serif`;
    ctx.save();
    ctx.font = font;
    const boxes = labelBoxes(list, w, h, lineHeight, (t) => ctx.measureText(t).width);
    ctx.restore();
    drawNameBoxes(ctx, boxes, labels.colours, font, lineHeight);
    overlay.dataset["names"] = JSON.stringify(boxes.map((b) => b.text));
  }

  // --- τ ------------------------------------------------------------------------------------------

  /** The live view: cut the tree at τ and map each pixel's finest leaf to its segment. */
  private liveRecut(seg: Segmentation | null = this.segmentation()): void {
    const tau = this.tau();
    this.ui.tauValue.value = tau.toFixed(2);
    if (!seg) return;
    const t0 = performance.now();
    const cut = cutAt(seg.tree, tau, seg.finestNodes);
    mapLabels(seg.finest, cut.lut, seg.live);
    this.view = afterRecut(this.view);
    this.setCut(seg, cut, seg.live, "live");
    const ms = performance.now() - t0;
    this.recutTimes.push(ms);
    if (this.recutTimes.length > 50) this.recutTimes.shift();
    const sorted = [...this.recutTimes].sort((a, b) => a - b);
    const median = sorted[Math.floor(sorted.length / 2)] ?? ms;
    this.ui.recutMs.textContent = `re-cut + draw ${ms.toFixed(1)} ms (median ${median.toFixed(1)})`;
    this.ui.recutMs.dataset["ms"] = ms.toFixed(2);
    console.debug(`[diffcut] re-cut + draw at τ = ${tau.toFixed(2)}: ${ms.toFixed(2)} ms, grid ${seg.info.grid}², ${seg.info.width}×${seg.info.height} px`);
  }

  /** The exact assignment at τ from the worker (on slider release). */
  private async exactLabels(): Promise<void> {
    const client = this.client;
    if (this.screen.kind === "empty" || !client) return;
    const tau = this.tau();
    this.status("busy", `Assigning pixels at τ = ${tau.toFixed(2)}…`);
    try {
      const r = await client.request({ type: "labels", tau });
      const seg = this.segmentation();
      if (r.tau !== this.tau() || !seg || r.labels.length !== seg.info.width * seg.info.height) return;
      this.setCut(seg, cutAt(seg.tree, r.tau, seg.finestNodes), r.labels, "exact");
      this.status("ready", this.readyText());
      void this.refinedLabels();
    } catch (e) {
      this.fail(e);
    }
  }

  /**
   * PAMR's refinement of the exact view (edges that follow the photo), once that view is on
   * screen: it replaces the view when it arrives, if τ and the image are still the same. The
   * page stays `ready` meanwhile; `data-refined` on the canvas says which view is shown.
   */
  private async refinedLabels(): Promise<void> {
    const client = this.client;
    const seg = this.segmentation();
    if (!seg || !client) return;
    const tau = this.tau();
    try {
      const r = await client.request({ type: "refine", tau });
      if (r.tau !== this.tau() || this.segmentation() !== seg || r.labels.length !== seg.info.width * seg.info.height) return;
      this.setCut(seg, cutAt(seg.tree, r.tau, seg.finestNodes), r.labels, "refined");
      console.debug(`[diffcut] PAMR refinement at τ = ${tau.toFixed(2)}: ${r.ms.toFixed(0)} ms`);
    } catch (e) {
      // A superseded refinement (τ moved, a new image) is expected; anything else is shown.
      if (!(e instanceof SupersededError)) this.fail(e);
    }
  }

  /** The "How it works" panel's numbers: this image's grid, features, α (its tree's), τ and count. */
  private drawHow(seg: Segmentation, segments: number): void {
    const f = seg.info.features;
    const texts = howTexts({
      grid: seg.info.grid,
      features: f.kind,
      size: f.kind === "diffusion" ? f.size : null,
      alpha: seg.tree.alpha,
      tau: this.tau(),
      segments,
      nodes: seg.info.nodes,
    });
    for (const el of this.ui.how.querySelectorAll<HTMLElement>("[data-how]")) {
      const text = texts[el.dataset["how"] as keyof HowTexts];
      if (text !== undefined) el.textContent = text;
    }
  }

  /** Shows `seg` with `labels` (of kind `kind`) for the tree cut at τ. */
  private setCut(seg: Segmentation, cut: Cut, labels: Uint32Array, kind: LabelKind): void {
    const colours = coloursForKeys(
      cut.segmentNodes.map((n) => seg.keys[n] ?? 0),
      this.palette,
    );
    this.screen = { kind: "shown", seg, labels: { cut, labels, kind, colours } };
    const attributes = labelAttributes(kind);
    this.ui.overlay.dataset["labels"] = attributes.labels;
    this.ui.overlay.dataset["refined"] = attributes.refined;
    this.ui.segmentCount.value = String(cut.segments);
    this.drawHow(seg, cut.segments);
    this.hovered = -1;
    this.ui.hoverInfo.textContent = "";
    // A picked node survives a new τ: its region is read again at it.
    if (kind !== "live" && this.picks.length > 0 && this.picked?.tau !== this.tau()) void this.updateRegion();
    if (kind !== "live" && this.namingOn && !this.camera) this.scheduleNaming();
    this.showLegend();
    this.redraw();
    this.drawTreeView();
    this.drawTauPlot(seg);
    const detail = shownDetail(this.view);
    if (detail) this.drawDetail(detail);
  }

  // --- drawing ------------------------------------------------------------------------------------

  private queueRedraw(): void {
    if (this.redrawQueued) return;
    this.redrawQueued = true;
    requestAnimationFrame(() => {
      this.redrawQueued = false;
      this.redraw();
    });
  }

  private redraw(): void {
    const ctx = this.ui.overlay.getContext("2d");
    if (this.screen.kind === "empty" || !ctx) return;
    const { seg, labels } = this.screen;
    const view = this.view;
    switch (view.kind) {
      case "fiedler": {
        const detail = view.selection.detail;
        const threshold = seg.tree.nodes[detail.node]?.threshold ?? 0;
        drawGridMap(ctx, seg.photo, fiedlerRgba(detail.fiedler, threshold), seg.tree.grid, this.opacity());
        return;
      }
      case "segments":
        composeOverlay(
          {
            width: seg.info.width,
            height: seg.info.height,
            photo: seg.photo.data,
            labels: labels.labels,
            colours: labels.colours,
            opacity: this.opacity(),
            highlight: this.picked === null ? this.hovered : -1,
            selection: this.picked?.mask.length === seg.info.width * seg.info.height ? this.picked.mask : null,
          },
          seg.frame.data,
        );
        ctx.putImageData(seg.frame, 0, 0);
        this.drawNames(ctx, seg, labels);
        return;
      default:
        unreachable(view);
    }
  }

  /** Segments against τ for this image (from its tree), the current τ marked; a click sets τ. */
  private drawTauPlot(seg: Segmentation): void {
    const tauMin = Number(this.ui.tau.min);
    drawTauPlot(this.ui.tauPlot, { levels: segmentSteps(seg.tree), tauMin, tauMax: this.tauTop(), tau: this.tau() }, (tau) => {
      this.ui.tau.value = tau.toFixed(2);
      this.tauMoved = true;
      this.liveRecut();
      void this.exactLabels();
    });
  }

  private drawTreeView(): void {
    if (this.screen.kind === "empty") return;
    const { seg, labels } = this.screen;
    drawTree(
      this.ui.treeView,
      { tree: seg.tree, cut: labels.cut, colours: labels.colours, selected: this.view.selection?.node ?? null, hoveredSegment: this.hovered },
      (node) => void this.selectNode(node),
    );
  }

  private hover(clientX: number, clientY: number): void {
    if (this.screen.kind === "empty" || this.view.kind !== "segments") return;
    const { seg, labels } = this.screen;
    const p = pixelAt(this.ui.overlay, clientX, clientY);
    this.setHovered(p ? (labels.labels[p.y * seg.info.width + p.x] ?? -1) : -1);
  }

  private setHovered(segment: number): void {
    if (segment === this.hovered) return;
    this.hovered = segment;
    if (segment >= 0 && this.screen.kind === "shown") {
      const { cut, labels } = this.screen.labels;
      const share = (segmentSizes(labels, cut.segments)[segment] ?? 0) / Math.max(1, labels.length);
      const node = cut.segmentNodes[segment] ?? 0;
      this.ui.hoverInfo.textContent = hoverText(segment, cut.segments, node, share, this.nameOf(node));
    } else {
      this.ui.hoverInfo.textContent = "";
    }
    this.queueRedraw();
    this.drawTreeView();
  }

  // --- picking regions and cutting them out ----------------------------------------------------

  /** A click (or tap) at client coordinates: picks the segment there; with Shift, adds or removes it. */
  private async pickAt(clientX: number, clientY: number, toggle: boolean): Promise<void> {
    if (this.screen.kind === "empty" || this.view.kind !== "segments") return;
    const p = pixelAt(this.ui.overlay, clientX, clientY);
    if (p) await this.pickPixel(p.x, p.y, toggle);
  }

  /** The keyboard's pick: the segment in the middle of the image. */
  private async pickCentre(): Promise<void> {
    const l = this.segmentation();
    if (l) await this.pickPixel(Math.floor(l.info.width / 2), Math.floor(l.info.height / 2), false);
  }

  private async pickPixel(x: number, y: number, toggle: boolean): Promise<void> {
    if (this.camera && this.screen.kind === "shown") {
      // Live: the segment under the pixel in the frame on screen; each frame follows it (showFrame).
      const { labels, cut } = this.screen.labels;
      const node = cut.segmentNodes[labels[y * this.screen.seg.info.width + x] ?? 0] ?? 0;
      this.picks = [{ x, y, node }];
      this.picked = { ...frameMask(labels, labels[y * this.screen.seg.info.width + x] ?? 0), tau: this.tau() };
      this.showPicked();
      this.queueRedraw();
      return;
    }
    const client = this.client;
    if (!client) return;
    try {
      const r = await client.request({ type: "pick", x, y, tau: this.tau(), from: null });
      if (r.node === null) return;
      const pick: Pick = { x, y, node: r.node };
      if (!toggle) this.setPicks([pick]);
      else if (this.picks.some((p) => p.node === r.node)) this.setPicks(this.picks.filter((p) => p.node !== r.node));
      else this.setPicks([...this.picks, pick]);
    } catch (e) {
      this.fail(e);
    }
  }

  /** The last pick's parent region (the tree's structure, no solve). */
  private async coarser(): Promise<void> {
    const last = this.picks[this.picks.length - 1];
    const parent = last === undefined ? null : (this.segmentation()?.tree.nodes[last.node]?.parent ?? null);
    if (last === undefined || parent === null) return;
    this.setPicks([...this.picks.slice(0, -1), { ...last, node: parent }]);
  }

  /** The part of the last pick's region under its pixel (the worker knows which child holds it). */
  private async finer(): Promise<void> {
    const client = this.client;
    const last = this.picks[this.picks.length - 1];
    if (!client || last === undefined) return;
    try {
      const r = await client.request({ type: "pick", x: last.x, y: last.y, tau: this.tau(), from: last.node });
      if (r.node === null) {
        this.ui.selection.textContent = `${this.pickedText()} No finer region here: the tree stops at this node.`;
        return;
      }
      if (this.picks[this.picks.length - 1] !== last) return;
      this.setPicks([...this.picks.slice(0, -1), { ...last, node: r.node }]);
    } catch (e) {
      this.fail(e);
    }
  }

  private setPicks(picks: readonly Pick[]): void {
    this.picks = picks;
    if (picks.length === 0) {
      this.picked = null;
      this.showPicked();
      this.queueRedraw();
      return;
    }
    void this.updateRegion();
  }

  /** Asks the worker for the picked regions' pixels at τ (refined edges) and shows them. */
  private async updateRegion(): Promise<void> {
    const client = this.client;
    const picks = this.picks;
    if (!client || picks.length === 0) return;
    try {
      const tau = this.tau();
      const r = await client.request({ type: "region", nodes: picks.map((p) => p.node), tau });
      if (this.picks !== picks || r.tau !== this.tau()) return;
      this.picked = { mask: r.mask, pixels: r.pixels, tau: r.tau };
      this.showPicked();
      this.queueRedraw();
    } catch (e) {
      if (!(e instanceof SupersededError)) this.fail(e);
    }
  }

  private pickedText(): string {
    const l = this.segmentation();
    const last = this.picks[this.picks.length - 1];
    if (!l || last === undefined || this.picked === null) return "Click a segment to select it.";
    const share = (100 * this.picked.pixels) / Math.max(1, l.info.width * l.info.height);
    const n = l.tree.nodes[last.node];
    const what = this.picks.length === 1 ? `Tree node ${last.node} (depth ${n?.depth ?? 0})` : `${this.picks.length} regions (last: tree node ${last.node})`;
    return `Selected: ${what}${selectionNames(this.pickedNames())}, ${this.picked.pixels.toLocaleString("en")} pixels (${share.toFixed(1)}% of the image).`;
  }

  /** The selection's text, test attributes and buttons. */
  private showPicked(): void {
    const ui = this.ui;
    const last = this.picks[this.picks.length - 1];
    const l = this.segmentation();
    ui.selection.textContent = this.pickedText();
    ui.selection.dataset["pixels"] = String(this.picked?.pixels ?? 0);
    ui.selection.dataset["node"] = String(this.picked === null || last === undefined ? 0 : last.node);
    const none = this.picked === null;
    ui.selectClear.disabled = none;
    ui.downloadCutout.disabled = none;
    ui.downloadSelection.disabled = none;
    ui.copyCutout.disabled = none;
    ui.selectCoarser.disabled = none || last === undefined || (l?.tree.nodes[last.node]?.parent ?? null) === null;
    ui.selectFiner.disabled = none || last === undefined || (l?.tree.nodes[last.node]?.children ?? null) === null;
  }

  /** Stops the camera on the frame on screen and reads the selection there, for an export. */
  private async freezeForExport(): Promise<void> {
    if (!this.camera) return;
    this.stopCamera("Camera stopped on this frame for the export.");
    await this.updateRegion();
  }

  private async cutoutPng(): Promise<Uint8Array | null> {
    await this.freezeForExport();
    const client = this.client;
    if (!client || this.picked === null) return null;
    return (await client.request({ type: "cutout", crop: this.ui.cutoutCrop.checked })).png;
  }

  private async downloadCutout(): Promise<void> {
    const l = this.segmentation();
    try {
      const png = await this.cutoutPng();
      if (l && png) download(png, "image/png", `${l.name}.cutout.png`);
    } catch (e) {
      this.fail(e);
    }
  }

  private async downloadSelection(): Promise<void> {
    await this.freezeForExport();
    const client = this.client;
    const l = this.segmentation();
    if (!client || !l || this.picked === null) return;
    try {
      const r = await client.request({ type: "selection-mask" });
      download(r.png, "image/png", `${l.name}.selection.png`);
    } catch (e) {
      this.fail(e);
    }
  }

  private async copyCutout(): Promise<void> {
    try {
      const png = await this.cutoutPng();
      if (!png) return;
      await navigator.clipboard.write([new ClipboardItem({ "image/png": new Blob([new Uint8Array(png)], { type: "image/png" }) })]);
      this.ui.selection.textContent = `${this.pickedText()} Copied.`;
    } catch (e) {
      this.fail(e);
    }
  }

  // --- the camera ------------------------------------------------------------------------------

  private async startCamera(): Promise<void> {
    const media = navigator.mediaDevices as MediaDevices | undefined;
    if (!media?.getUserMedia) {
      this.status("error", "This browser gives the page no camera.");
      return;
    }
    try {
      const stream = await media.getUserMedia({ video: { width: { ideal: 640 }, height: { ideal: 480 } }, audio: false });
      const video = document.createElement("video");
      video.muted = true;
      video.playsInline = true;
      video.srcObject = stream;
      await video.play();
      const cam: Camera = { stream, video, canvas: document.createElement("canvas"), shown: [], stopped: false };
      this.camera = cam;
      this.source = null;
      this.picks = [];
      this.picked = null;
      this.showPicked();
      this.ui.camera.setAttribute("aria-pressed", "true");
      this.ui.camera.textContent = "Stop camera";
      this.status("busy", "Camera: segmenting each frame in this page (nothing leaves it)…");
      await this.cameraLoop(cam);
    } catch (e) {
      this.stopCamera();
      this.status("error", `The camera could not be opened: ${messageOf(e)}`);
    }
  }

  /** Stops the camera's stream (its light goes off); `why` becomes the status. */
  private stopCamera(why: string | null = null): void {
    const cam = this.camera;
    if (!cam) return;
    cam.stopped = true;
    for (const t of cam.stream.getTracks()) t.stop();
    cam.video.srcObject = null;
    this.camera = null;
    this.ui.camera.setAttribute("aria-pressed", "false");
    this.ui.camera.textContent = "Camera";
    this.ui.fps.textContent = "";
    delete this.ui.fps.dataset["fps"];
    if (why !== null) this.status("idle", why);
  }

  /** Frame after frame: read, segment in the worker, show; until the camera stops. */
  private async cameraLoop(cam: Camera): Promise<void> {
    const client = await this.worker();
    const ctx = cam.canvas.getContext("2d", { willReadFrequently: true });
    if (!ctx) throw new Error("no 2D canvas for the camera's frames");
    while (!cam.stopped) {
      const [vw, vh] = [cam.video.videoWidth, cam.video.videoHeight];
      if (vw === 0 || vh === 0) {
        await new Promise((r) => setTimeout(r, 50));
        continue;
      }
      const scale = Math.min(1, CAMERA_SIDE / Math.max(vw, vh));
      const [w, h] = [Math.max(1, Math.round(vw * scale)), Math.max(1, Math.round(vh * scale))];
      if (cam.canvas.width !== w || cam.canvas.height !== h) [cam.canvas.width, cam.canvas.height] = [w, h];
      ctx.drawImage(cam.video, 0, 0, w, h);
      const rgba = ctx.getImageData(0, 0, w, h).data;
      try {
        const r = await client.request({ type: "frame", rgba, width: w, height: h, params: { features: { kind: "color", grid: CAMERA_GRID }, alpha: this.alpha(), tauMax: this.tauTop() }, tau: this.tau() });
        if (cam.stopped) return;
        this.showFrame(r);
        cam.shown.push(performance.now());
        if (cam.shown.length > 10) cam.shown.shift();
        const first = cam.shown[0] ?? 0;
        const last = cam.shown[cam.shown.length - 1] ?? 0;
        if (cam.shown.length > 1 && last > first) {
          const fps = ((cam.shown.length - 1) * 1000) / (last - first);
          this.ui.fps.textContent = `${fps.toFixed(1)} frames/s`;
          this.ui.fps.dataset["fps"] = fps.toFixed(2);
        }
      } catch (e) {
        if (cam.stopped || e instanceof SupersededError) return;
        this.stopCamera();
        this.fail(e);
        return;
      }
    }
  }

  /** A camera frame on screen; the selection follows the segment under the last click. */
  private showFrame(r: ResponseFor<"frame">): void {
    const { info, tree } = r;
    const seg = segmentationOf(r, "camera");
    if (this.ui.overlay.width !== info.width || this.ui.overlay.height !== info.height) {
      this.ui.overlay.width = info.width;
      this.ui.overlay.height = info.height;
    }
    this.ui.dropHint.hidden = true;
    if (this.view.kind !== "segments") this.showSegments();
    const cut = cutAt(tree, r.tau, seg.finestNodes);
    const last = this.picks[this.picks.length - 1];
    if (last !== undefined && last.x < info.width && last.y < info.height) {
      const label = r.labels[last.y * info.width + last.x] ?? 0;
      this.picks = [{ ...last, node: cut.segmentNodes[label] ?? 0 }];
      this.picked = { ...frameMask(r.labels, label), tau: r.tau };
    }
    this.setCut(seg, cut, r.labels, "exact");
    this.showPicked();
    this.facts(info, { bytes: new ArrayBuffer(0), name: "camera", note: null }, info.decodeMs + info.featuresMs + info.treeMs + info.labelsMs);
    const text = `Camera: ${info.width}×${info.height}, grid ${info.grid}×${info.grid}; frames stay in this page.`;
    if (this.ui.status.textContent !== text) this.status("ready", text);
  }

  // --- the teaching view ----------------------------------------------------------------------

  private async selectNode(node: number): Promise<void> {
    const client = this.client;
    if (!client || this.screen.kind === "empty") return;
    const t0 = performance.now();
    this.view = selectNode(this.view, node);
    this.drawTreeView();
    const before = performance.now() - t0;
    try {
      const r = await client.request({ type: "node", node });
      const view = detailArrived(this.view, r);
      if (view === null) return;
      const t1 = performance.now();
      this.view = view;
      this.drawDetail(r);
      this.redraw();
      // The synchronous drawing of one selection (the step-through's frame): tree, curve, image.
      this.ui.stepText.dataset["drawMs"] = Math.max(before, performance.now() - t1).toFixed(2);
      this.ui.stepText.dataset["shownNode"] = String(node);
    } catch (e) {
      this.fail(e);
    }
  }

  private drawDetail(r: NodeDetail): void {
    const l = this.segmentation();
    const n = l?.tree.nodes[r.node];
    if (!l || !n || n.ncut === null || n.threshold === null) return;
    const tau = this.tau();
    this.ui.nodeDetail.hidden = false;
    this.ui.nodeTitle.textContent = `Node ${r.node}: depth ${n.depth}, ${n.cells} of ${l.tree.grid[0] * l.tree.grid[1]} cells`;
    drawCurve(this.ui.curve, { thresholds: r.thresholds, curve: r.curve, threshold: n.threshold, ncut: n.ncut, tau });
    const verdict = n.ncut < tau ? "below τ, so it splits" : "not below τ, so it stays one segment";
    const lambda = n.lambda === null ? "" : ` λ₂ = ${n.lambda.toFixed(4)}.`;
    this.ui.nodeText.textContent =
      `Best cut of the ${r.thresholds.length} thresholds: NCut ${n.ncut.toFixed(3)} at θ = ${n.threshold.toPrecision(3)}, ${verdict}.${lambda} ` +
      `On the image: red cells are the y > θ side, blue the other; grey is outside this region.`;
  }

  // --- stepping through the recursion, and AutoSC beside it ----------------------------------

  /** A new image or none: the replay and the AutoSC comparison belong to the old one. */
  private resetTeaching(): void {
    this.stopPlay();
    this.stepper = null;
    const t = this.ui.stepText;
    t.textContent = "";
    for (const k of ["step", "node", "total", "segments", "decision", "drawMs", "shownNode"]) delete t.dataset[k];
    const a = this.ui.autoscText;
    a.textContent = "";
    for (const k of ["clusters", "segments", "alpha", "ms", "ncutSegments"]) delete a.dataset[k];
    this.ui.eigengap.replaceChildren();
    for (const c of [this.ui.autoscNcut, this.ui.autoscResult]) c.getContext("2d")?.clearRect(0, 0, c.width, c.height);
    this.ui.autoscCaption.textContent = "AutoSC";
    if (this.sweep) this.sweep.stopped = true;
    this.sweep = null;
    this.ui.alphaPlot.setAttribute("hidden", "");
    this.ui.alphaPlot.replaceChildren();
    this.ui.alphaSweepText.textContent = "";
    for (const k of ["state", "points"]) delete this.ui.alphaSweepText.dataset[k];
    this.ui.autoscNcutCaption.textContent = "Recursive NCut";
  }

  /**
   * One decision forward or back in the recursion at the current τ (`recursionSteps`): the region
   * examined is selected (its Fiedler vector on the image, its sweep, the verdict). Past the last
   * one, the segments at τ are shown again: where the recursion ends.
   */
  private step(delta: 1 | -1): void {
    const seg = this.segmentation();
    if (!seg) return;
    const tau = this.tau();
    let s = this.stepper;
    if (!s || s.seg !== seg || s.tau !== tau) {
      s = { seg, tau, steps: recursionSteps(seg.tree, tau), at: -1 };
      this.stepper = s;
    }
    if (delta === 1 && s.at >= s.steps.length) s.at = -1;
    s.at = Math.max(0, Math.min(s.steps.length, s.at + delta));
    const t = this.ui.stepText;
    t.dataset["total"] = String(s.steps.length);
    const step = s.steps[s.at];
    if (step === undefined) {
      this.stopPlay();
      this.showSegments();
      const cuts = s.steps.filter((x) => x.splits).length;
      const segments = s.steps.at(-1)?.segmentsAfter ?? 1;
      Object.assign(t.dataset, { step: "done", node: "", segments: String(segments), decision: "" });
      t.textContent =
        s.steps.length === 0
          ? `Nothing to replay: the whole image is one region too small to cut.`
          : `Done: ${s.steps.length} regions examined, ${cuts} cuts kept, ${segments} segments: the segmentation on screen at τ = ${tau.toFixed(2)}.`;
      return;
    }
    const n = seg.tree.nodes[step.node];
    const kids = n?.children ?? null;
    const size = (i: number): number => seg.tree.nodes[i]?.cells ?? 0;
    const verdict = step.splits
      ? `below τ = ${tau.toFixed(2)}: the cut is kept, the region splits in two (${kids ? `${size(kids[0])} and ${size(kids[1])} cells` : "two parts"}), and each part is examined in turn`
      : `not below τ = ${tau.toFixed(2)}: the cut is refused, the region stays one segment`;
    Object.assign(t.dataset, {
      step: String(s.at),
      node: String(step.node),
      segments: String(step.segmentsAfter),
      decision: step.splits ? "split" : "stop",
    });
    t.textContent =
      `Step ${s.at + 1} of ${s.steps.length}: node ${step.node}, a region of ${n?.cells ?? 0} cells. ` +
      `Its best cut has NCut ${step.ncut.toFixed(3)}, ${verdict}. Segments so far: ${step.segmentsAfter}.`;
    void this.selectNode(step.node);
  }

  private togglePlay(): void {
    if (this.stepTimer !== null) {
      this.stopPlay();
      return;
    }
    if (!this.segmentation()) return;
    if (this.stepper && this.stepper.at >= this.stepper.steps.length) this.stepper.at = -1;
    this.ui.stepPlay.textContent = "⏸ Pause";
    this.step(1);
    this.stepTimer = setInterval(() => {
      const s = this.stepper;
      // A new image or τ ends the replay.
      if (!s || s.seg !== this.segmentation() || s.tau !== this.tau()) this.stopPlay();
      else this.step(1);
    }, 1000);
  }

  private stopPlay(): void {
    if (this.stepTimer !== null) clearInterval(this.stepTimer);
    this.stepTimer = null;
    this.ui.stepPlay.textContent = "▶ Play";
  }

  /**
   * Segments at τ against α: a tree per α of {@link SWEEP_ALPHAS} and the current tree's α on
   * this image's features, one request at a time (the tree on screen stays), drawn as each arrives. The button stops it
   * between trees; a new image or τ ends it.
   */
  private async alphaSweep(): Promise<void> {
    const ui = this.ui;
    if (this.sweep && !this.sweep.done) {
      this.sweep.stopped = true;
      return;
    }
    const client = this.client;
    const seg = this.segmentation();
    if (!client || !seg) return;
    const tau = this.tau();
    const [lo, hi] = [Number(ui.alpha.min), Number(ui.alpha.max)];
    // The tree on screen is one of the points, whatever α it was cut at (a source's default need
    // not be one of the fixed points).
    const alphas = [...new Set([...SWEEP_ALPHAS, seg.tree.alpha])].filter((a) => a >= lo && a <= hi).sort((a, b) => a - b);
    const sweep: AlphaSweep = { seg, tau, points: [], stopped: false, done: false };
    this.sweep = sweep;
    ui.alphaSweep.textContent = "Stop the sweep";
    ui.alphaPlot.removeAttribute("hidden");
    ui.alphaSweepText.dataset["state"] = "running";
    const draw = (): void =>
      drawAlphaPlot(ui.alphaPlot, { points: sweep.points, alphaMin: lo, alphaMax: hi, alpha: seg.tree.alpha, tau }, (alpha) => {
        ui.alpha.value = String(alpha);
        ui.alphaValue.value = String(alpha);
        this.alphaMoved = true;
        void this.segment();
      });
    draw();
    try {
      for (const [i, alpha] of alphas.entries()) {
        if (sweep.stopped || this.segmentation() !== seg || this.tau() !== tau) break;
        ui.alphaSweepText.textContent = `α = ${alpha}: tree ${i + 1} of ${alphas.length}…`;
        const r = await client.request({ type: "alpha-count", alpha, tau });
        if (this.sweep !== sweep) return;
        sweep.points.push({ alpha, segments: r.segments });
        ui.alphaSweepText.dataset["points"] = JSON.stringify(sweep.points);
        draw();
      }
      const complete = sweep.points.length === alphas.length;
      ui.alphaSweepText.dataset["state"] = complete ? "done" : "stopped";
      ui.alphaSweepText.textContent = complete
        ? `At τ = ${tau.toFixed(2)}: ${sweep.points.map((p) => `α ${p.alpha} → ${p.segments}`).join(", ")}. Click the plot to use an α.`
        : `Stopped after ${sweep.points.length} of ${alphas.length} trees.`;
    } catch (e) {
      if (this.sweep === sweep) {
        ui.alphaSweepText.dataset["state"] = "stopped";
        ui.alphaSweepText.textContent = "";
      }
      this.fail(e);
    } finally {
      sweep.done = true;
      if (this.sweep === sweep) ui.alphaSweep.textContent = "Segments against α";
    }
  }

  /** AutoSC of this image's features in the worker, drawn beside the recursive cut at τ. */
  private async runAutosc(): Promise<void> {
    const client = this.client;
    if (!client || this.screen.kind === "empty") return;
    const { seg, labels } = this.screen;
    const tau = this.tau();
    const ui = this.ui;
    const [h, w] = seg.tree.grid;
    ui.autoscRun.disabled = true;
    ui.autoscText.textContent = `AutoSC: four eigendecompositions of the ${h * w}-patch graph…`;
    try {
      const r = await client.request({ type: "autosc" });
      if (this.segmentation() !== seg) return;
      const paint = (canvas: HTMLCanvasElement, l: Uint32Array, colours: Uint8Array): void => {
        canvas.width = seg.info.width;
        canvas.height = seg.info.height;
        const image = new ImageData(seg.info.width, seg.info.height);
        composeOverlay(
          { width: seg.info.width, height: seg.info.height, photo: seg.photo.data, labels: l, colours, opacity: 0.6, highlight: -1, selection: null },
          image.data,
        );
        canvas.getContext("2d")?.putImageData(image, 0, 0);
      };
      paint(ui.autoscNcut, labels.labels, labels.colours);
      paint(ui.autoscResult, r.labels, coloursForKeys(Array.from({ length: r.segments }, (_, k) => k), this.palette));
      drawEigengaps(ui.eigengap, { spectra: r.spectra, alpha: r.alpha, clusters: r.clusters });
      ui.autoscNcutCaption.textContent = `Recursive NCut, τ = ${tau.toFixed(2)}, α = ${seg.tree.alpha}: ${labels.cut.segments} segments`;
      ui.autoscCaption.textContent = `AutoSC: ${r.segments} segments (k = ${r.clusters}, α = ${r.alpha})`;
      Object.assign(ui.autoscText.dataset, {
        clusters: String(r.clusters),
        segments: String(r.segments),
        alpha: String(r.alpha),
        ms: r.ms.toFixed(0),
        ncutSegments: String(labels.cut.segments),
      });
      ui.autoscText.textContent =
        `AutoSC chose k = ${r.clusters} clusters, where the eigengap is largest (α = ${r.alpha}), in ${r.ms.toFixed(0)} ms; ` +
        `recursive NCut made ${labels.cut.segments} segments, one cut at a time, each kept only while its NCut was below τ.`;
    } catch (e) {
      ui.autoscText.textContent = "";
      this.fail(e);
    } finally {
      ui.autoscRun.disabled = false;
    }
  }

  private showSegments(): void {
    this.view = SEGMENTS;
    this.ui.nodeDetail.hidden = true;
    this.redraw();
    this.drawTreeView();
  }

  // --- exports ------------------------------------------------------------------------------------

  private async downloadMask(): Promise<void> {
    const client = this.client;
    const l = this.segmentation();
    if (!client || !l) return;
    try {
      const tau = this.tau();
      const r = await client.request({ type: "mask", tau });
      download(r.png, "image/png", `${l.name}.tau${tau.toFixed(2)}.mask.png`);
    } catch (e) {
      this.fail(e);
    }
  }

  private async downloadTree(): Promise<void> {
    const client = this.client;
    const l = this.segmentation();
    if (!client || !l) return;
    try {
      const r = await client.request({ type: "tree-file" });
      download(r.json, "application/json", `${l.name}.tree.json`);
    } catch (e) {
      this.fail(e);
    }
  }
}

/** How a label list is named in the page's texts: a set's title, or the words in quotes. */
function specTitle(spec: string, words: boolean): string {
  if (words) return `"${spec.split(";").join("; ")}"`;
  return LABEL_SETS.find((s) => s.id === spec)?.title ?? spec;
}

/** A worker's segmentation (of an image or a camera frame) with what drawing it needs. */
function segmentationOf(r: Segmented, name: string): Segmentation {
  const { info, tree } = r;
  return {
    info,
    tree,
    finestNodes: finestLeaves(tree),
    keys: colourKeys(tree),
    photo: new ImageData(new Uint8ClampedArray(r.rgba), info.width, info.height),
    finest: r.finest,
    live: new Uint32Array(info.width * info.height),
    frame: new ImageData(info.width, info.height),
    name,
  };
}

/** The pixels of segment `label` in a frame's labels (1 selected, 0 not) and their count. */
function frameMask(labels: Uint32Array, label: number): { mask: Uint8Array; pixels: number } {
  const mask = new Uint8Array(labels.length);
  let pixels = 0;
  for (let i = 0; i < labels.length; i++) {
    if (labels[i] === label) {
      mask[i] = 1;
      pixels++;
    }
  }
  return { mask, pixels };
}
