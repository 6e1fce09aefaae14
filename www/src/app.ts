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
 */
import { WorkerClient, workerTransport } from "./client";
import { coloursForKeys, fiedlerRgba, Palette } from "./colour";
import { download, setStatus, type PageElements, type StatusState } from "./dom";
import { messageOf, SupersededError, WorkerError } from "./errors";
import { firstFile, prepareImage } from "./image-input";
import type { DevicePreference, ResponseFor, SegmentSummary, TreeJson } from "./protocol";
import { composeOverlay, drawGridMap, pixelAt, segmentSizes } from "./render";
import { DEFAULT_SAMPLE, SAMPLES } from "./samples";
import { colourKeys, cutAt, finestLeaves, mapLabels, type Cut } from "./tree-model";
import { drawCurve, drawTree } from "./tree-view";

/** The tree is grown to this τ, the top of the τ slider: beyond ~0.95 colour-feature trees shatter. */
export const TAU_MAX = 0.9;

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

  constructor(private readonly ui: PageElements) {}

  /** Wires the page and segments the default sample. */
  start(): void {
    this.wire();
    const params = new URLSearchParams(location.search);
    const device = params.get("device");
    if (device === "cpu" || device === "webgpu") this.ui.device.value = device;
    const grid = params.get("grid");
    if (grid !== null && Array.from(this.ui.grid.options).some((o) => o.value === grid)) this.ui.grid.value = grid;
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
      this.client?.terminate();
      this.client = null;
      void this.segment();
    });
    ui.opacity.addEventListener("input", () => {
      ui.opacityValue.value = `${Math.round(this.opacity() * 100)}%`;
      this.queueRedraw();
    });
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

  private status(state: StatusState, text: string): void {
    setStatus(this.ui.status, state, text);
    const busy = state === "busy";
    this.ui.dropzone.setAttribute("aria-busy", String(busy));
    this.ui.downloadMask.disabled = this.loaded === null;
    this.ui.downloadTree.disabled = this.loaded === null;
  }

  private fail(e: unknown): void {
    if (e instanceof SupersededError) return;
    if (e instanceof WorkerError && e.fatal) {
      this.client?.terminate();
      this.client = null;
    }
    console.error(e);
    this.status("error", messageOf(e));
  }

  // --- worker -----------------------------------------------------------------------------------

  private async worker(): Promise<WorkerClient> {
    if (this.client) return this.client;
    const client = new WorkerClient(workerTransport(new Worker(new URL("./worker.ts", import.meta.url), { type: "module" })));
    this.client = client;
    const device = this.ui.device.value;
    const r = await client.request({ type: "init", device: device === "cpu" || device === "webgpu" ? device : ("auto" satisfies DevicePreference) });
    const adapter = r.adapter?.trim().replace(/^\((.*)\)$/, "$1") ?? "";
    this.backendText = r.backend === "webgpu" ? `WebGPU${adapter ? ` (${adapter})` : ""}` : `CPU (WebAssembly)${r.note ? `: ${r.note}` : ""}`;
    console.info(`[diffcut] segment tree on ${this.backendText}`);
    return client;
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
    this.status("busy", `Segmenting ${source.name}…`);
    try {
      const client = await this.worker();
      const t0 = performance.now();
      const r = await client.request({
        type: "segment",
        bytes: source.bytes,
        params: { grid: Number(this.ui.grid.value), alpha: this.alpha(), tauMax: TAU_MAX },
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
    return `Ready: ${l.name}, ${l.info.width}×${l.info.height}, grid ${l.info.grid}×${l.info.grid}.`;
  }

  private facts(info: SegmentSummary, source: Source, totalMs: number): void {
    const rows: [string, string][] = [
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
