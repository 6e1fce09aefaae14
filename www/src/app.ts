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
 */
import { parseModelHosts } from "../scripts/csp.mjs";
import { WorkerClient, workerTransport } from "./client";
import { coloursForKeys, fiedlerRgba, Palette } from "./colour";
import { download, setStatus, type PageElements, type StatusState } from "./dom";
import { CancelledError, messageOf, SupersededError, WorkerError } from "./errors";
import { firstFile, prepareImage } from "./image-input";
import { configuredModelUrl, formatBytes, modelUrlAllowed, progressText } from "./model-load";
import type { DevicePreference, FeatureKind, Features, ModelSource, ModelSummary, Progress, ResponseFor, SegmentSummary, TreeJson } from "./protocol";
import { composeOverlay, drawGridMap, pixelAt, segmentSizes } from "./render";
import { DEFAULT_SAMPLE, SAMPLES } from "./samples";
import { colourKeys, cutAt, finestLeaves, mapLabels, type Cut } from "./tree-model";
import { drawCurve, drawTree } from "./tree-view";

/** The tree is grown to this τ, the top of the τ slider: beyond ~0.95 colour-feature trees shatter. */
export const TAU_MAX = 0.9;

/** Origins besides the page's own that models may be fetched from (the build's CSP lists them too). */
const MODEL_HOSTS: readonly string[] = parseModelHosts(import.meta.env.VITE_MODEL_HOSTS);

/** Whether this browser offers WebGPU at all (diffusion features need it). */
function hasWebGpu(): boolean {
  return typeof navigator !== "undefined" && "gpu" in navigator && (navigator as { gpu?: unknown }).gpu != null;
}

/** A model loaded in a worker. */
interface LoadedModel {
  readonly summary: ModelSummary;
  readonly source: ModelSource;
  /** The worker that holds it (a replaced worker has lost it). */
  readonly client: WorkerClient;
}

/** An image the user chose, kept to recompute with other parameters. */
interface Source {
  readonly bytes: ArrayBuffer;
  readonly name: string;
  readonly note: string | null;
}

/** One segmentation on screen. */
interface Loaded {
  readonly info: SegmentSummary;
  readonly tree: TreeJson;
  readonly finestNodes: readonly number[];
  readonly keys: Uint32Array;
  readonly photo: ImageData;
  readonly finest: Uint32Array;
  readonly name: string;
}

type NodeDetail = ResponseFor<"node">;

export class App {
  private client: WorkerClient | null = null;
  private clientReady: Promise<WorkerClient> | null = null;
  private backendText = "";
  private source: Source | null = null;
  private loaded: Loaded | null = null;
  private cut: Cut | null = null;
  /** Segment of each pixel as drawn now (`data-labels` on the canvas says live or exact). */
  private labels: Uint32Array = new Uint32Array(0);
  private colours: Uint8Array = new Uint8Array(0);
  private readonly palette = new Palette();
  private frame = new ImageData(1, 1);
  private hovered = -1;
  private selected: number | null = null;
  private detail: NodeDetail | null = null;
  private view: "segments" | "fiedler" = "segments";
  private readonly recutTimes: number[] = [];
  private redrawQueued = false;
  /** The features segmentations use now (the mode select may show a mode being loaded). */
  private mode: FeatureKind = "color";
  private model: LoadedModel | null = null;
  /** The model load in progress, if any. */
  private modelLoad: Promise<boolean> | null = null;
  /** The colour grid, kept while the grid select says the model sets it. */
  private colourGrid = "32";
  /** The status text of the model load in progress (the status line shows it until it ends). */
  private loadingText: string | null = null;

  constructor(private readonly ui: PageElements) {}

  /** Wires the page and segments the default sample. */
  start(): void {
    this.wire();
    const params = new URLSearchParams(location.search);
    const device = params.get("device");
    if (device === "cpu" || device === "webgpu") this.ui.device.value = device;
    const grid = params.get("grid");
    if (grid !== null && grid !== "model" && Array.from(this.ui.grid.options).some((o) => o.value === grid)) this.ui.grid.value = grid;
    this.ui.modelUrl.value = configuredModelUrl(location.search, location.href);
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

    ui.tau.addEventListener("input", () => this.liveRecut());
    ui.tau.addEventListener("change", () => void this.exactLabels());
    ui.alpha.addEventListener("input", () => (ui.alphaValue.value = this.alpha().toString()));
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
    ui.modelLoad.addEventListener("click", () => void this.loadModelAndUse({ kind: "url", url: this.modelUrlValue() }));
    ui.modelUrl.addEventListener("keydown", (e) => {
      if (e.key === "Enter") void this.loadModelAndUse({ kind: "url", url: this.modelUrlValue() });
    });
    for (const input of [ui.modelFolder, ui.modelFiles]) {
      input.addEventListener("change", () => {
        const files = Array.from(input.files ?? []).map((file) => ({ path: file.webkitRelativePath || file.name, file }));
        input.value = "";
        if (files.length > 0) void this.loadModelAndUse({ kind: "files", files });
      });
    }
    ui.modelCancel.addEventListener("click", () => this.client?.cancel("load-model"));
    ui.modelSize.addEventListener("change", () => void this.segment());
    ui.clearModelCache.addEventListener("click", () => void this.clearModelCache());
    ui.downloadMask.addEventListener("click", () => void this.downloadMask());
    ui.downloadTree.addEventListener("click", () => void this.downloadTree());
    ui.showSegments.addEventListener("click", () => this.showSegments());
    document.addEventListener("keydown", (e) => {
      if (e.key === "Escape" && this.view === "fiedler") this.showSegments();
    });
    ui.overlay.addEventListener("pointermove", (e) => this.hover(e.clientX, e.clientY));
    ui.overlay.addEventListener("pointerleave", () => this.setHovered(-1));
  }

  private tau(): number {
    return Math.min(TAU_MAX, Number(this.ui.tau.value));
  }

  private alpha(): number {
    return Number(this.ui.alpha.value);
  }

  private opacity(): number {
    return Number(this.ui.opacity.value);
  }

  /**
   * Sets the status line. While a model loads, the page is busy with that (its progress), even
   * when something else finished meanwhile (τ, colour segmentations go on during a download).
   */
  private status(state: StatusState, text: string): void {
    if (this.loadingText !== null && (state === "ready" || state === "idle")) {
      state = "busy";
      text = this.loadingText;
    }
    setStatus(this.ui.status, state, text);
    const busy = state === "busy";
    this.ui.dropzone.setAttribute("aria-busy", String(busy));
    this.ui.downloadMask.disabled = this.loaded === null;
    this.ui.downloadTree.disabled = this.loaded === null;
  }

  private fail(e: unknown): void {
    if (e instanceof SupersededError || e instanceof CancelledError) return;
    if (e instanceof WorkerError && e.fatal) this.dropWorker();
    console.error(e);
    this.status("error", messageOf(e));
  }

  // --- worker -----------------------------------------------------------------------------------

  /**
   * The worker, started and initialised once: every caller waits for the same `init` (a model
   * load must not reach the worker before it knows where the tree is grown).
   */
  private worker(): Promise<WorkerClient> {
    if (this.client !== null && this.clientReady !== null) return this.clientReady;
    const client = new WorkerClient(workerTransport(new Worker(new URL("./worker.ts", import.meta.url), { type: "module" })));
    this.client = client;
    const device = this.ui.device.value;
    const ready = (async () => {
      const r = await client.request({ type: "init", device: device === "cpu" || device === "webgpu" ? device : ("auto" satisfies DevicePreference) });
      const adapter = r.adapter?.trim().replace(/^\((.*)\)$/, "$1") ?? "";
      this.backendText = r.backend === "webgpu" ? `WebGPU${adapter ? ` (${adapter})` : ""}` : `CPU (WebAssembly)${r.note ? `: ${r.note}` : ""}`;
      console.info(`[diffcut] segment tree on ${this.backendText}`);
      return client;
    })();
    this.clientReady = ready;
    // A failed start is not kept: the next request starts a new worker.
    ready.catch(() => {
      if (this.client === client) this.dropWorker();
    });
    return ready;
  }

  /** Stops the worker (a device change, a trap); the next request starts a new one. */
  private dropWorker(): void {
    this.client?.terminate();
    this.client = null;
    this.clientReady = null;
  }

  private async loadSample(id: string): Promise<void> {
    const sample = SAMPLES.find((s) => s.id === id);
    if (!sample) return;
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
    this.status("busy", `Reading ${name}…`);
    try {
      const prepared = await prepareImage(blob);
      this.source = { bytes: prepared.bytes, name, note: prepared.note };
      await this.segment();
    } catch (e) {
      this.fail(e);
    }
  }

  /** Grows a new tree for the current image and parameters. */
  private async segment(): Promise<void> {
    const source = this.source;
    if (!source) return;
    // Busy at once (synchronously, in the event that asked for it).
    this.status("busy", `Segmenting ${source.name}${this.mode === "diffusion" ? " with the diffusion features" : ""}…`);
    try {
      const features = await this.features();
      const client = await this.worker();
      const t0 = performance.now();
      const r = await client.request({
        type: "segment",
        bytes: source.bytes,
        params: { features, alpha: this.alpha(), tauMax: TAU_MAX },
        tau: this.tau(),
      });
      const total = performance.now() - t0;
      this.show(r, source, total);
    } catch (e) {
      this.fail(e);
    }
  }

  private show(r: ResponseFor<"segment">, source: Source, totalMs: number): void {
    const { info, tree } = r;
    const photo = new ImageData(new Uint8ClampedArray(r.rgba), info.width, info.height);
    this.loaded = {
      info,
      tree,
      finestNodes: finestLeaves(tree),
      keys: colourKeys(tree),
      photo,
      finest: r.finest,
      name: source.name.replace(/\.[^.]*$/, "") || "image",
    };
    this.selected = null;
    this.detail = null;
    this.view = "segments";
    this.ui.nodeDetail.hidden = true;
    this.ui.overlay.width = info.width;
    this.ui.overlay.height = info.height;
    this.frame = new ImageData(info.width, info.height);
    this.ui.dropHint.hidden = true;
    this.labels = new Uint32Array(info.width * info.height);
    if (r.tau === this.tau()) {
      this.setCut(cutAt(tree, r.tau, this.loaded.finestNodes), r.labels, true);
      void this.refinedLabels();
    } else {
      this.liveRecut();
      void this.exactLabels();
    }
    this.facts(info, source, totalMs);
    if (r.tau === this.tau()) this.status("ready", this.readyText());
  }

  private readyText(): string {
    const l = this.loaded;
    if (!l) return "Ready.";
    const features = l.info.features.kind === "diffusion" ? `diffusion features at ${l.info.features.size} px, ` : "";
    return `Ready: ${l.name}, ${l.info.width}×${l.info.height}, ${features}grid ${l.info.grid}×${l.info.grid}.`;
  }

  private facts(info: SegmentSummary, source: Source, totalMs: number): void {
    const f = info.features;
    const model = this.model?.summary;
    const features =
      f.kind === "color"
        ? `colour + texture (weight-free), grid ${info.grid}×${info.grid}`
        : `diffusion${model ? ` (${model.name ?? "model"}, ${model.dtype}, ${model.channels} channels)` : ""}: ${f.size}×${f.size} input, grid ${info.grid}×${info.grid}`;
    const rows: [string, string][] = [
      ["Features", features],
      ["Tree on", info.backend === "webgpu" ? this.backendText : info.note ? `CPU (WebAssembly): ${info.note}` : this.backendText],
      ["Tree", `${info.nodes} nodes, ${info.finestSegments} segments at τ ≤ ${TAU_MAX}`],
      [
        "Time",
        `decode ${info.decodeMs.toFixed(0)} ms · features ${info.featuresMs.toFixed(0)} ms · tree ${info.treeMs.toFixed(0)} ms · pixels ${info.labelsMs.toFixed(0)} ms · total ${totalMs.toFixed(0)} ms`,
      ],
    ];
    if (source.note) rows.push(["Input", source.note]);
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
    if (this.mode === "color") return { kind: "color", grid: this.gridValue() };
    const model = this.model;
    if (model === null) {
      this.setMode("color");
      return { kind: "color", grid: this.gridValue() };
    }
    if (model.client !== this.client || this.client === null) {
      // A new worker (another device, or a crash): the model goes in again, from the browser's cache.
      if (!(await this.loadModel(model.source))) {
        // The image on screen came from the old worker: segment it again, with colour features.
        this.model = null;
        this.setMode("color");
        return { kind: "color", grid: this.gridValue() };
      }
    }
    const size = Number(this.ui.modelSize.value);
    return { kind: "diffusion", size: this.model?.summary.sizes.includes(size) ? size : (this.model?.summary.size ?? size) };
  }

  /** The colour features' grid side. */
  private gridValue(): number {
    return Number(this.ui.grid.value === "model" ? this.colourGrid : this.ui.grid.value);
  }

  /** Shows `mode` in the select and enables what it uses (the grid select belongs to colour). */
  private setMode(mode: FeatureKind): void {
    const grid = this.ui.grid;
    if (mode === "diffusion" && grid.value !== "model") {
      this.colourGrid = grid.value;
      grid.value = "model";
    } else if (mode === "color" && grid.value === "model") {
      grid.value = this.colourGrid;
    }
    this.mode = mode;
    this.ui.mode.value = mode;
    grid.disabled = mode === "diffusion";
    grid.title = mode === "diffusion" ? "The diffusion model sets the grid (its input size / 32 for SSD-1B)" : "";
    this.ui.modelSize.disabled = this.model === null;
  }

  private modelUrlValue(): string {
    const text = this.ui.modelUrl.value.trim();
    try {
      return new URL(text || configuredModelUrl(location.search, location.href), location.href).href;
    } catch {
      return text;
    }
  }

  private async modeChanged(): Promise<void> {
    const wanted = this.ui.mode.value === "diffusion" ? "diffusion" : "color";
    if (wanted === "color") {
      this.client?.cancel("load-model");
      this.setMode("color");
      await this.segment();
      return;
    }
    if (this.model !== null) {
      this.setMode("diffusion");
      await this.segment();
      return;
    }
    await this.loadModelAndUse({ kind: "url", url: this.modelUrlValue() });
  }

  /** Loads a model, then segments the image with it; on failure the mode stays what it was. */
  private async loadModelAndUse(source: ModelSource): Promise<void> {
    if (await this.loadModel(source)) {
      this.setMode("diffusion");
      if (this.source) await this.segment();
      else this.status("idle", "Model loaded: drop, paste or choose an image, or pick a sample.");
    } else {
      this.setMode(this.mode);
    }
  }

  /**
   * Loads a model into the worker, showing the progress; resolves to whether it worked. A failure
   * shows the error; a cancel says so. Either way the model and segmentation before stay.
   */
  private async loadModel(source: ModelSource): Promise<boolean> {
    if (this.modelLoad !== null) {
      this.client?.cancel("load-model");
      await this.modelLoad;
    }
    const load = this.runModelLoad(source);
    this.modelLoad = load;
    try {
      return await load;
    } finally {
      if (this.modelLoad === load) this.modelLoad = null;
      this.ui.modelProgressRow.hidden = true;
    }
  }

  private async runModelLoad(source: ModelSource): Promise<boolean> {
    const ui = this.ui;
    if (!hasWebGpu()) {
      this.status("error", "Diffusion features need WebGPU, which this browser does not offer (navigator.gpu is missing): staying with the colour features. Try a recent Chrome, Edge or Safari, or Firefox with WebGPU enabled.");
      return false;
    }
    if (source.kind === "url" && !modelUrlAllowed(source.url, location.origin, MODEL_HOSTS)) {
      const origin = URL.canParse(source.url) ? new URL(source.url).origin : source.url;
      const allowed = ["this site", ...MODEL_HOSTS].join(", ");
      this.status("error", `Cannot load a model from ${origin}: this page may fetch models from ${allowed} only (its Content-Security-Policy). Pick the model folder from disk instead, or build the page with VITE_MODEL_HOSTS=${origin}.`);
      return false;
    }
    const what = source.kind === "url" ? source.url : `${source.files.length} picked files`;
    this.loadingText = "Loading the diffusion model…";
    this.status("busy", this.loadingText);
    ui.modelNote.textContent = `Loading ${what}…`;
    // Indeterminate until the first bytes arrive.
    ui.modelProgress.removeAttribute("value");
    ui.modelProgress.max = 1;
    delete ui.modelProgress.dataset["loaded"];
    delete ui.modelProgress.dataset["total"];
    ui.modelProgressText.textContent = "starting…";
    ui.modelProgressRow.hidden = false;
    const notes: string[] = [];
    try {
      const client = await this.worker();
      const r = await client.request({ type: "load-model", source }, [], {
        onProgress: (p) => {
          if (p.note !== null) {
            notes.push(p.note);
            ui.modelNote.textContent = `Loading ${what}: ${notes.join("; ")}.`;
          }
          this.showProgress(p);
        },
      });
      this.loadingText = null;
      this.model = { summary: r.model, source, client };
      this.fillSizes(r.model);
      ui.modelNote.textContent = this.modelText(r.model);
      console.info(`[diffcut] model loaded in ${r.model.ms.toFixed(0)} ms: ${this.modelText(r.model)}`);
      return true;
    } catch (e) {
      this.loadingText = null;
      if (e instanceof CancelledError) {
        ui.modelNote.textContent = `Model download cancelled.${this.model ? ` Still loaded: ${this.modelText(this.model.summary)}` : ""}`;
        if (this.loaded) this.status("ready", this.readyText());
        else this.status("idle", "Model download cancelled.");
      } else if (!(e instanceof SupersededError)) {
        ui.modelNote.textContent = `Loading the model failed: ${messageOf(e)}${this.model ? ` Still loaded: ${this.modelText(this.model.summary)}` : ""}`;
        this.fail(e);
      }
      return false;
    }
  }

  private showProgress(p: Progress): void {
    const ui = this.ui;
    ui.modelProgress.dataset["loaded"] = String(p.loaded);
    let text: string;
    if (p.total === null) {
      ui.modelProgress.removeAttribute("value"); // indeterminate: the size is not known
      delete ui.modelProgress.dataset["total"];
      text = formatBytes(p.loaded);
    } else {
      ui.modelProgress.max = Math.max(1, p.total);
      ui.modelProgress.value = Math.min(p.loaded, p.total);
      ui.modelProgress.dataset["total"] = String(p.total);
      text = progressText(p.loaded, p.total);
    }
    ui.modelProgressText.textContent = text;
    this.loadingText = `Loading the diffusion model: ${text}${p.file ? `, ${p.file}` : ""}…`;
    this.status("busy", this.loadingText);
  }

  private fillSizes(model: ModelSummary): void {
    const select = this.ui.modelSize;
    const keep = Number(select.value);
    select.replaceChildren(
      ...model.sizes.map((s) => {
        const o = document.createElement("option");
        o.value = String(s);
        o.textContent = `${s} × ${s}${model.seed42Sizes.includes(s) ? "" : " (no noise)"}`;
        o.title = model.seed42Sizes.includes(s) ? "with DiffCut's seed-42 noise" : "the model has no seed-42 noise for this size: no noise is added";
        return o;
      }),
    );
    select.value = String(model.sizes.includes(keep) ? keep : model.size);
    select.disabled = false;
  }

  private modelText(m: ModelSummary): string {
    const from = m.fromCache === m.files ? "from the browser's cache" : m.fromCache > 0 ? `${m.fromCache} of ${m.files} files from the browser's cache` : m.cached ? "now cached" : "not cached";
    const notes = m.notes.length > 0 ? ` Note: ${m.notes.join("; ")}.` : "";
    return `${m.name ?? "Model"} (${m.dtype}, ${formatBytes(m.totalBytes)}, ${from}${m.licence ? `, licence ${m.licence}` : ""}).${notes}`;
  }

  private async clearModelCache(): Promise<void> {
    try {
      const client = await this.worker();
      const r = await client.request({ type: "clear-model-cache" });
      this.ui.modelNote.textContent =
        r.files === 0 ? "The browser's cache holds no model files." : `Removed ${r.files} cached model file${r.files === 1 ? "" : "s"} (${formatBytes(r.bytes)}) from the browser's cache.`;
    } catch (e) {
      this.fail(e);
    }
  }

  // --- τ ------------------------------------------------------------------------------------------

  /** The live view: cut the tree at τ and map each pixel's finest leaf to its segment. */
  private liveRecut(): void {
    const tau = this.tau();
    this.ui.tauValue.value = tau.toFixed(2);
    const l = this.loaded;
    if (!l) return;
    const t0 = performance.now();
    const cut = cutAt(l.tree, tau, l.finestNodes);
    mapLabels(l.finest, cut.lut, this.labels);
    this.view = "segments";
    this.setCut(cut, this.labels, false);
    const ms = performance.now() - t0;
    this.recutTimes.push(ms);
    if (this.recutTimes.length > 50) this.recutTimes.shift();
    const sorted = [...this.recutTimes].sort((a, b) => a - b);
    const median = sorted[Math.floor(sorted.length / 2)] ?? ms;
    this.ui.recutMs.textContent = `re-cut + draw ${ms.toFixed(1)} ms (median ${median.toFixed(1)})`;
    this.ui.recutMs.dataset["ms"] = ms.toFixed(2);
    console.debug(`[diffcut] re-cut + draw at τ = ${tau.toFixed(2)}: ${ms.toFixed(2)} ms, grid ${l.info.grid}², ${l.info.width}×${l.info.height} px`);
  }

  /** The exact assignment at τ from the worker (on slider release). */
  private async exactLabels(): Promise<void> {
    const client = this.client;
    if (!this.loaded || !client) return;
    const tau = this.tau();
    this.status("busy", `Assigning pixels at τ = ${tau.toFixed(2)}…`);
    try {
      const r = await client.request({ type: "labels", tau });
      const l = this.loaded;
      if (r.tau !== this.tau() || !l || r.labels.length !== l.info.width * l.info.height) return;
      this.setCut(cutAt(l.tree, r.tau, l.finestNodes), r.labels, true);
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
    const l = this.loaded;
    if (!l || !client) return;
    const tau = this.tau();
    try {
      const r = await client.request({ type: "refine", tau });
      if (r.tau !== this.tau() || this.loaded !== l || r.labels.length !== l.info.width * l.info.height) return;
      this.setCut(cutAt(l.tree, r.tau, l.finestNodes), r.labels, true);
      this.ui.overlay.dataset["refined"] = "true";
      console.debug(`[diffcut] PAMR refinement at τ = ${tau.toFixed(2)}: ${r.ms.toFixed(0)} ms`);
    } catch (e) {
      // A superseded refinement (τ moved, a new image) is expected; anything else is shown.
      if (!(e instanceof SupersededError)) this.fail(e);
    }
  }

  private setCut(cut: Cut, labels: Uint32Array, exact: boolean): void {
    const l = this.loaded;
    if (!l) return;
    this.cut = cut;
    this.labels = labels;
    this.ui.overlay.dataset["labels"] = exact ? "exact" : "live";
    this.ui.overlay.dataset["refined"] = "false";
    this.colours = coloursForKeys(
      cut.segmentNodes.map((n) => l.keys[n] ?? 0),
      this.palette,
    );
    this.ui.segmentCount.value = String(cut.segments);
    this.hovered = -1;
    this.ui.hoverInfo.textContent = "";
    this.redraw();
    this.drawTreeView();
    if (this.detail) this.drawDetail(this.detail);
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
    const l = this.loaded;
    const ctx = this.ui.overlay.getContext("2d");
    if (!l || !ctx) return;
    if (this.view === "fiedler" && this.detail) {
      const threshold = l.tree.nodes[this.detail.node]?.threshold ?? 0;
      drawGridMap(ctx, l.photo, fiedlerRgba(this.detail.fiedler, threshold), l.tree.grid, this.opacity());
      return;
    }
    composeOverlay(
      { width: l.info.width, height: l.info.height, photo: l.photo.data, labels: this.labels, colours: this.colours, opacity: this.opacity(), highlight: this.hovered },
      this.frame.data,
    );
    ctx.putImageData(this.frame, 0, 0);
  }

  private drawTreeView(): void {
    const l = this.loaded;
    if (!l || !this.cut) return;
    drawTree(this.ui.treeView, { tree: l.tree, cut: this.cut, colours: this.colours, selected: this.selected, hoveredSegment: this.hovered }, (node) => void this.selectNode(node));
  }

  private hover(clientX: number, clientY: number): void {
    const l = this.loaded;
    if (!l || this.view !== "segments") return;
    const p = pixelAt(this.ui.overlay, clientX, clientY);
    this.setHovered(p ? (this.labels[p.y * l.info.width + p.x] ?? -1) : -1);
  }

  private setHovered(segment: number): void {
    if (segment === this.hovered) return;
    this.hovered = segment;
    const cut = this.cut;
    if (segment >= 0 && cut) {
      const share = (segmentSizes(this.labels, cut.segments)[segment] ?? 0) / Math.max(1, this.labels.length);
      const node = cut.segmentNodes[segment] ?? 0;
      this.ui.hoverInfo.textContent = `segment ${segment + 1} of ${cut.segments} (tree node ${node}), ${(share * 100).toFixed(1)}% of the image`;
    } else {
      this.ui.hoverInfo.textContent = "";
    }
    this.queueRedraw();
    this.drawTreeView();
  }

  // --- the teaching view ----------------------------------------------------------------------

  private async selectNode(node: number): Promise<void> {
    const client = this.client;
    if (!client || !this.loaded) return;
    this.selected = node;
    this.drawTreeView();
    try {
      const r = await client.request({ type: "node", node });
      if (this.selected !== r.node) return;
      this.detail = r;
      this.view = "fiedler";
      this.drawDetail(r);
      this.redraw();
    } catch (e) {
      this.fail(e);
    }
  }

  private drawDetail(r: NodeDetail): void {
    const l = this.loaded;
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

  private showSegments(): void {
    this.view = "segments";
    this.detail = null;
    this.selected = null;
    this.ui.nodeDetail.hidden = true;
    this.redraw();
    this.drawTreeView();
  }

  // --- exports ------------------------------------------------------------------------------------

  private async downloadMask(): Promise<void> {
    const client = this.client;
    const l = this.loaded;
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
    const l = this.loaded;
    if (!client || !l) return;
    try {
      const r = await client.request({ type: "tree-file" });
      download(r.json, "application/json", `${l.name}.tree.json`);
    } catch (e) {
      this.fail(e);
    }
  }
}
