/**
 * The panels that load a converted folder (models/FORMAT.md): the diffusion model's
 * (index.html's `#model-panel`) and CLIP's (`#naming-panel`, see clip-panel.ts). Both have a
 * manifest URL field and `Load`, a folder (or its files) picked from disk, the download's progress
 * bar and `Cancel`, and a note saying what is loaded ({@link LoadPanel}); the model panel adds the
 * input size select and `Clear cached models` ({@link ModelPanel}).
 *
 * A panel reports what the user asks for (its actions) and shows what it is told; the state
 * itself (state.ts) and the worker are app.ts's. The texts it shows are pure functions, exported
 * for the tests.
 */
import type { PageElements } from "./dom";
import { configuredUrl, DEFAULT_MODEL_URL, formatBytes, modelUrlAllowed, progressText } from "./model-load";
import type { ModelSource, ModelSummary, PickedModelFile, Progress } from "./protocol";

/** The elements every loading panel has. */
export interface LoadPanelElements {
  readonly url: HTMLInputElement;
  readonly load: HTMLButtonElement;
  readonly folder: HTMLInputElement;
  readonly files: HTMLInputElement;
  readonly progressRow: HTMLDivElement;
  readonly progress: HTMLProgressElement;
  readonly progressText: HTMLSpanElement;
  readonly cancel: HTMLButtonElement;
  readonly note: HTMLParagraphElement;
}

/** The model panel's elements. */
export interface ModelPanelElements extends LoadPanelElements {
  readonly size: HTMLSelectElement;
  readonly clearCache: HTMLButtonElement;
}

export function modelPanelElements(ui: PageElements): ModelPanelElements {
  return {
    url: ui.modelUrl,
    load: ui.modelLoad,
    folder: ui.modelFolder,
    files: ui.modelFiles,
    progressRow: ui.modelProgressRow,
    progress: ui.modelProgress,
    progressText: ui.modelProgressText,
    cancel: ui.modelCancel,
    size: ui.modelSize,
    clearCache: ui.clearModelCache,
    note: ui.modelNote,
  };
}

/** What a panel loads: how it is named, and where its URL comes from when none is typed. */
export interface LoadKind {
  /** In a sentence: "the diffusion model", "CLIP"; and shorter, where the panel is clear: "the model". */
  readonly noun: string;
  readonly short: string;
  /** At the start of a note: "Model", "CLIP". */
  readonly title: string;
  /** The page's query parameter naming its manifest URL, and the URL without one. */
  readonly param: string;
  readonly fallbackUrl: string;
}

/** The diffusion model's {@link LoadKind}. */
export const DIFFUSION_MODEL: LoadKind = { noun: "the diffusion model", short: "the model", title: "Model", param: "model", fallbackUrl: DEFAULT_MODEL_URL };

/** What the user asks of a loading panel. */
export interface LoadPanelActions {
  /** Load (and use) the folder from `source`: the URL field's, or files picked from disk. */
  load(source: ModelSource): void;
  /** Stop the running download. */
  cancel(): void;
}

/** What the user asks of the model panel. */
export interface ModelPanelActions extends LoadPanelActions {
  /** Empty the browser's cache of model files. */
  clearCache(): void;
  /** Another input size was chosen. */
  sizeChanged(): void;
}

/** A loading panel: URL and Load, picked files, progress and Cancel, the note. */
export class LoadPanel {
  constructor(
    protected readonly el: LoadPanelElements,
    protected readonly kind: LoadKind,
    actions: LoadPanelActions,
  ) {
    el.load.addEventListener("click", () => actions.load(this.urlSource()));
    el.url.addEventListener("keydown", (e) => {
      if (e.key === "Enter") actions.load(this.urlSource());
    });
    for (const input of [el.folder, el.files]) {
      input.addEventListener("change", () => {
        const files: PickedModelFile[] = Array.from(input.files ?? []).map((file) => ({ path: file.webkitRelativePath || file.name, file }));
        input.value = "";
        if (files.length > 0) actions.load({ kind: "files", files });
      });
    }
    el.cancel.addEventListener("click", () => actions.cancel());
  }

  /** Fills the URL field (the page's configured folder). */
  showUrl(url: string): void {
    this.el.url.value = url;
  }

  /** The folder of the URL field (its text resolved against the page, or the configured one when empty). */
  urlSource(): ModelSource {
    return { kind: "url", url: resolveUrl(this.el.url.value, location.search, location.href, this.kind.param, this.kind.fallbackUrl) };
  }

  /**
   * Shows a load of `source` starting (an indeterminate progress bar); returns what handles its
   * progress messages, which answers the status line's text.
   */
  beginLoad(source: ModelSource): (p: Progress) => string {
    const el = this.el;
    const what = loadingWhat(source);
    el.note.textContent = `Loading ${what}…`;
    // Indeterminate until the first bytes arrive.
    el.progress.removeAttribute("value");
    el.progress.max = 1;
    delete el.progress.dataset["loaded"];
    delete el.progress.dataset["total"];
    el.progressText.textContent = "starting…";
    el.progressRow.hidden = false;
    const notes: string[] = [];
    return (p) => {
      if (p.note !== null) {
        notes.push(p.note);
        el.note.textContent = `Loading ${what}: ${notes.join("; ")}.`;
      }
      return this.showProgress(p);
    };
  }

  /** Hides the progress bar (the load ended, whichever way). */
  endLoad(): void {
    this.el.progressRow.hidden = true;
  }

  /** Shows `text` as the note (what is loaded). */
  showNote(text: string): void {
    this.el.note.textContent = text;
  }

  /** The load was cancelled; `still` says what is loaded from before, if anything. */
  protected cancelled(still: string | null): void {
    this.el.note.textContent = `${this.kind.title} download cancelled.${still === null ? "" : ` Still loaded: ${still}`}`;
  }

  /** The load failed with `message`; `still` says what is loaded from before, if anything. */
  protected failed(message: string, still: string | null): void {
    this.el.note.textContent = `Loading ${this.kind.short} failed: ${message}${still === null ? "" : ` Still loaded: ${still}`}`;
  }

  private showProgress(p: Progress): string {
    const el = this.el;
    const shown = progressShown(p, this.kind.noun);
    el.progress.dataset["loaded"] = String(p.loaded);
    if (shown.bar === null) {
      el.progress.removeAttribute("value"); // indeterminate: the size is not known
      delete el.progress.dataset["total"];
    } else {
      el.progress.max = shown.bar.max;
      el.progress.value = shown.bar.value;
      el.progress.dataset["total"] = String(p.total);
    }
    el.progressText.textContent = shown.text;
    return shown.status;
  }
}

/** The diffusion model's panel: a {@link LoadPanel} with the input size and the cache's clearing. */
export class ModelPanel extends LoadPanel {
  private readonly size: HTMLSelectElement;

  constructor(el: ModelPanelElements, actions: ModelPanelActions) {
    super(el, DIFFUSION_MODEL, actions);
    this.size = el.size;
    el.size.addEventListener("change", () => actions.sizeChanged());
    el.clearCache.addEventListener("click", () => actions.clearCache());
  }

  /** The input size chosen in the select (NaN before a model is loaded). */
  chosenSize(): number {
    return Number(this.size.value);
  }

  /** The size select works only with a model loaded. */
  enableSize(enabled: boolean): void {
    this.size.disabled = !enabled;
  }

  /** A model loaded: its sizes in the select (keeping the chosen one where it has it) and its note. */
  showLoaded(model: ModelSummary): void {
    const select = this.size;
    const keep = Number(select.value);
    select.replaceChildren(
      ...sizeOptions(model).map((s) => {
        const o = document.createElement("option");
        o.value = s.value;
        o.textContent = s.label;
        o.title = s.title;
        return o;
      }),
    );
    select.value = String(sizeFor(model, keep));
    select.disabled = false;
    this.el.note.textContent = modelText(model);
  }

  /** The load was cancelled; `still` is the model loaded before, if any. */
  showCancelled(still: ModelSummary | null): void {
    this.cancelled(still === null ? null : modelText(still));
  }

  /** The load failed with `message`; `still` is the model loaded before, if any. */
  showFailed(message: string, still: ModelSummary | null): void {
    this.failed(message, still === null ? null : modelText(still));
  }

  /** The worker holding the model (or loading it) failed and was replaced: the model is gone. */
  showLost(message: string): void {
    this.el.note.textContent = modelLostText(message);
    this.size.disabled = true;
  }

  showCacheCleared(files: number, bytes: number): void {
    this.el.note.textContent = cacheClearedText(files, bytes);
  }
}

// --- the panel's texts (pure) -----------------------------------------------------------------------

/** The URL field's text as an absolute URL (the configured model when empty); unparsable text as it is. */
export function resolveModelUrl(text: string, search: string, pageUrl: string): string {
  return resolveUrl(text, search, pageUrl, DIFFUSION_MODEL.param, DIFFUSION_MODEL.fallbackUrl);
}

/** A URL field's text as an absolute URL (when empty: the page's `?param=`, else `fallback`); unparsable text as it is. */
export function resolveUrl(text: string, search: string, pageUrl: string, param: string, fallback: string): string {
  const t = text.trim();
  try {
    return new URL(t || configuredUrl(search, pageUrl, param, fallback), pageUrl).href;
  } catch {
    return t;
  }
}

/** How a load of `source` is named in the note. */
export function loadingWhat(source: ModelSource): string {
  return source.kind === "url" ? source.url : `${source.files.length} picked files`;
}

/**
 * Why the page will not load `source`, or null if it may: diffusion needs WebGPU, and a URL must
 * be on this site or a host the page was built with (its Content-Security-Policy).
 */
export function modelRefusal(source: ModelSource, webGpu: boolean, pageOrigin: string, hosts: readonly string[]): string | null {
  return loadRefusal(source, webGpu, pageOrigin, hosts, "Diffusion features need WebGPU, which this browser does not offer (navigator.gpu is missing): staying with the colour features.");
}

/** What the browser lacking WebGPU means for naming segments. */
export const CLIP_NEEDS_WEBGPU = "Naming segments needs WebGPU (CLIP runs on it), which this browser does not offer (navigator.gpu is missing); the segments are not named.";

/**
 * As {@link modelRefusal} for any folder: `noGpu` is what the page says without WebGPU (the advice
 * on browsers follows it).
 */
export function loadRefusal(source: ModelSource, webGpu: boolean, pageOrigin: string, hosts: readonly string[], noGpu: string): string | null {
  if (!webGpu) {
    return `${noGpu} Try a recent Chrome, Edge or Safari, or Firefox with WebGPU enabled.`;
  }
  if (source.kind === "url" && !modelUrlAllowed(source.url, pageOrigin, hosts)) {
    const origin = URL.canParse(source.url) ? new URL(source.url).origin : source.url;
    const allowed = ["this site", ...hosts].join(", ");
    return `Cannot load a model from ${origin}: this page may fetch models from ${allowed} only (its Content-Security-Policy). Pick the model folder from disk instead, or build the page with VITE_MODEL_HOSTS=${origin}.`;
  }
  return null;
}

/** The status line's text when a load starts. */
export const LOADING_STATUS = "Loading the diffusion model…";

/** The status line's text when a CLIP load starts. */
export const CLIP_LOADING_STATUS = "Loading CLIP…";

/** A progress message as shown: the bar (null: indeterminate), its text, and the status line's text (loading `noun`). */
export function progressShown(p: Pick<Progress, "loaded" | "total" | "file">, noun = DIFFUSION_MODEL.noun): {
  readonly bar: { readonly value: number; readonly max: number } | null;
  readonly text: string;
  readonly status: string;
} {
  const bar = p.total === null ? null : { value: Math.min(p.loaded, p.total), max: Math.max(1, p.total) };
  const text = p.total === null ? formatBytes(p.loaded) : progressText(p.loaded, p.total);
  return { bar, text, status: `Loading ${noun}: ${text}${p.file ? `, ${p.file}` : ""}…` };
}

/** What was loaded, from where, and its notes. */
export function modelText(m: ModelSummary): string {
  const from = m.fromCache === m.files ? "from the browser's cache" : m.fromCache > 0 ? `${m.fromCache} of ${m.files} files from the browser's cache` : m.cached ? "now cached" : "not cached";
  const notes = m.notes.length > 0 ? ` Note: ${m.notes.join("; ")}.` : "";
  return `${m.name ?? "Model"} (${m.dtype}, ${formatBytes(m.totalBytes)}, ${from}${m.licence ? `, licence ${m.licence}` : ""}).${notes}`;
}

/** The note after the worker holding the model failed (`message` says how). */
export function modelLostText(message: string): string {
  return `The diffusion model is no longer loaded: ${message}. Choose the diffusion mode (or Load) to load it again; the files come from the browser's cache where they are.`;
}

export function cacheClearedText(files: number, bytes: number): string {
  return files === 0 ? "The browser's cache holds no model files." : `Removed ${files} cached model file${files === 1 ? "" : "s"} (${formatBytes(bytes)}) from the browser's cache.`;
}

/** The size select's options for `model`. */
export function sizeOptions(model: ModelSummary): { readonly value: string; readonly label: string; readonly title: string }[] {
  return model.sizes.map((s) => {
    const noise = model.seed42Sizes.includes(s);
    return {
      value: String(s),
      label: `${s} × ${s}${noise ? "" : " (no noise)"}`,
      title: noise ? "with DiffCut's seed-42 noise" : "the model has no seed-42 noise for this size: no noise is added",
    };
  });
}

/** The input size to use: `wanted` if the model has it, else the model's default. */
export function sizeFor(model: ModelSummary, wanted: number): number {
  return model.sizes.includes(wanted) ? wanted : model.size;
}
