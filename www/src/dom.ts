/** Typed access to the page's elements (index.html); a missing one is a build bug, reported loudly. */

function byId<T extends Element>(id: string, type: abstract new (...args: never[]) => T): T {
  const e = document.getElementById(id);
  if (!(e instanceof type)) throw new Error(`index.html: #${id} is missing or not a ${type.name}`);
  return e;
}

/** Every element the page script uses. */
export function pageElements() {
  return {
    overlay: byId("overlay", HTMLCanvasElement),
    dropzone: byId("dropzone", HTMLDivElement),
    dropHint: byId("drop-hint", HTMLParagraphElement),
    segmentCount: byId("segment-count", HTMLOutputElement),
    how: byId("how", HTMLDetailsElement),
    hoverInfo: byId("hover-info", HTMLSpanElement),
    selection: byId("selection", HTMLParagraphElement),
    camera: byId("camera", HTMLButtonElement),
    fps: byId("fps", HTMLSpanElement),
    selectCoarser: byId("select-coarser", HTMLButtonElement),
    selectFiner: byId("select-finer", HTMLButtonElement),
    selectClear: byId("select-clear", HTMLButtonElement),
    downloadCutout: byId("download-cutout", HTMLButtonElement),
    cutoutCrop: byId("cutout-crop", HTMLInputElement),
    downloadSelection: byId("download-selection", HTMLButtonElement),
    copyCutout: byId("copy-cutout", HTMLButtonElement),
    recutMs: byId("recut-ms", HTMLSpanElement),
    imageInput: byId("image-input", HTMLInputElement),
    samples: byId("samples", HTMLDivElement),
    mode: byId("mode", HTMLSelectElement),
    modelUrl: byId("model-url", HTMLInputElement),
    modelLoad: byId("model-load", HTMLButtonElement),
    modelFolder: byId("model-folder", HTMLInputElement),
    modelFiles: byId("model-files", HTMLInputElement),
    modelProgressRow: byId("model-progress-row", HTMLDivElement),
    modelProgress: byId("model-progress", HTMLProgressElement),
    modelProgressText: byId("model-progress-text", HTMLSpanElement),
    modelCancel: byId("model-cancel", HTMLButtonElement),
    modelSize: byId("model-size", HTMLSelectElement),
    clearModelCache: byId("clear-model-cache", HTMLButtonElement),
    modelNote: byId("model-note", HTMLParagraphElement),
    clipUrl: byId("clip-url", HTMLInputElement),
    clipLoad: byId("clip-load", HTMLButtonElement),
    clipFolder: byId("clip-folder", HTMLInputElement),
    clipFiles: byId("clip-files", HTMLInputElement),
    clipProgressRow: byId("clip-progress-row", HTMLDivElement),
    clipProgress: byId("clip-progress", HTMLProgressElement),
    clipProgressText: byId("clip-progress-text", HTMLSpanElement),
    clipCancel: byId("clip-cancel", HTMLButtonElement),
    clipNote: byId("clip-note", HTMLParagraphElement),
    clipLabels: byId("clip-labels", HTMLSelectElement),
    clipWordsRow: byId("clip-words-row", HTMLDivElement),
    clipWords: byId("clip-words", HTMLInputElement),
    clipSize: byId("clip-size", HTMLSelectElement),
    nameSegments: byId("name-segments", HTMLButtonElement),
    namesHide: byId("names-hide", HTMLButtonElement),
    namesText: byId("names-text", HTMLParagraphElement),
    namesList: byId("names-list", HTMLUListElement),
    device: byId("device", HTMLSelectElement),
    grid: byId("grid", HTMLSelectElement),
    tau: byId("tau", HTMLInputElement),
    tauValue: byId("tau-value", HTMLOutputElement),
    tauHint: byId("tau-hint", HTMLParagraphElement),
    tauPlot: byId("tau-plot", SVGSVGElement),
    alpha: byId("alpha", HTMLInputElement),
    alphaValue: byId("alpha-value", HTMLOutputElement),
    alphaSweep: byId("alpha-sweep", HTMLButtonElement),
    alphaSweepText: byId("alpha-sweep-text", HTMLSpanElement),
    alphaPlot: byId("alpha-plot", SVGSVGElement),
    opacity: byId("opacity", HTMLInputElement),
    opacityValue: byId("opacity-value", HTMLOutputElement),
    downloadMask: byId("download-mask", HTMLButtonElement),
    downloadTree: byId("download-tree", HTMLButtonElement),
    status: byId("status", HTMLParagraphElement),
    stop: byId("stop", HTMLButtonElement),
    facts: byId("facts", HTMLDListElement),
    treeView: byId("tree-view", SVGSVGElement),
    nodeDetail: byId("node-detail", HTMLDivElement),
    nodeTitle: byId("node-title", HTMLHeadingElement),
    curve: byId("curve", SVGSVGElement),
    nodeText: byId("node-text", HTMLParagraphElement),
    showSegments: byId("show-segments", HTMLButtonElement),
    stepBack: byId("step-back", HTMLButtonElement),
    stepPlay: byId("step-play", HTMLButtonElement),
    stepNext: byId("step-next", HTMLButtonElement),
    stepText: byId("step-text", HTMLParagraphElement),
    autoscPanel: byId("autosc-panel", HTMLDetailsElement),
    autoscRun: byId("autosc-run", HTMLButtonElement),
    autoscNcut: byId("autosc-ncut", HTMLCanvasElement),
    autoscNcutCaption: byId("autosc-ncut-caption", HTMLElement),
    autoscResult: byId("autosc-result", HTMLCanvasElement),
    autoscCaption: byId("autosc-caption", HTMLElement),
    eigengap: byId("eigengap", SVGSVGElement),
    autoscText: byId("autosc-text", HTMLParagraphElement),
    credits: byId("credits", HTMLParagraphElement),
  };
}

export type PageElements = ReturnType<typeof pageElements>;

/** The states of `[data-testid=status]` (the test contract). */
export type StatusState = "idle" | "busy" | "ready" | "error";

/** Sets the status line: its `data-state` and its text (the error message when in error). */
export function setStatus(status: HTMLElement, state: StatusState, text: string): void {
  status.dataset["state"] = state;
  status.textContent = text;
}

/** Saves bytes as a file through a temporary object URL. */
export function download(data: string | Uint8Array, type: string, fileName: string): void {
  const part = typeof data === "string" ? data : new Uint8Array(data);
  const url = URL.createObjectURL(new Blob([part], { type }));
  const a = document.createElement("a");
  a.href = url;
  a.download = fileName;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
