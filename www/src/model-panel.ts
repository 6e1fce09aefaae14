/**
 * The diffusion model's panel (index.html's `#model-panel`): the manifest URL field and `Load`,
 * a converted folder (or its files) picked from disk, the download's progress bar and `Cancel`,
 * the input size select, `Clear cached models`, and the note saying what is loaded.
 *
 * The panel reports what the user asks for ({@link ModelPanelActions}) and shows what it is
 * told; the model state itself (state.ts) and the worker are app.ts's. The texts it shows are
 * pure functions, exported for the tests.
 */
import type { PageElements } from "./dom";
import { configuredModelUrl, formatBytes, modelUrlAllowed, progressText } from "./model-load";
import type { ModelSource, ModelSummary, PickedModelFile, Progress } from "./protocol";

/** The panel's elements. */
export interface ModelPanelElements {
  readonly url: HTMLInputElement;
  readonly load: HTMLButtonElement;
  readonly folder: HTMLInputElement;
  readonly files: HTMLInputElement;
  readonly progressRow: HTMLDivElement;
  readonly progress: HTMLProgressElement;
  readonly progressText: HTMLSpanElement;
  readonly cancel: HTMLButtonElement;
  readonly size: HTMLSelectElement;
  readonly clearCache: HTMLButtonElement;
  readonly note: HTMLParagraphElement;
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

/** What the user asks of the panel. */
export interface ModelPanelActions {
  /** Load (and use) the model from `source`: the URL field's, or files picked from disk. */
  load(source: ModelSource): void;
  /** Stop the running download. */
  cancel(): void;
  /** Empty the browser's cache of model files. */
  clearCache(): void;
  /** Another input size was chosen. */
  sizeChanged(): void;
}

export class ModelPanel {
  constructor(
    private readonly el: ModelPanelElements,
    actions: ModelPanelActions,
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
    el.size.addEventListener("change", () => actions.sizeChanged());
    el.clearCache.addEventListener("click", () => actions.clearCache());
  }

  /** Fills the URL field (the page's configured model). */
  showUrl(url: string): void {
    this.el.url.value = url;
  }

  /** The model of the URL field (its text resolved against the page, or the configured one when empty). */
  urlSource(): ModelSource {
    return { kind: "url", url: resolveModelUrl(this.el.url.value, location.search, location.href) };
  }

  /** The input size chosen in the select (NaN before a model is loaded). */
  chosenSize(): number {
    return Number(this.el.size.value);
  }

  /** The size select works only with a model loaded. */
  enableSize(enabled: boolean): void {
    this.el.size.disabled = !enabled;
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

  /** A model loaded: its sizes in the select (keeping the chosen one where it has it) and its note. */
  showLoaded(model: ModelSummary): void {
    const select = this.el.size;
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
    this.el.note.textContent = `Model download cancelled.${stillLoaded(still)}`;
  }

  /** The load failed with `message`; `still` is the model loaded before, if any. */
  showFailed(message: string, still: ModelSummary | null): void {
    this.el.note.textContent = `Loading the model failed: ${message}${stillLoaded(still)}`;
  }

  /** The worker holding the model (or loading it) failed and was replaced: the model is gone. */
  showLost(message: string): void {
    this.el.note.textContent = modelLostText(message);
    this.el.size.disabled = true;
  }

  showCacheCleared(files: number, bytes: number): void {
    this.el.note.textContent = cacheClearedText(files, bytes);
  }

  private showProgress(p: Progress): string {
    const el = this.el;
    const shown = progressShown(p);
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

// --- the panel's texts (pure) -----------------------------------------------------------------------

/** The URL field's text as an absolute URL (the configured model when empty); unparsable text as it is. */
export function resolveModelUrl(text: string, search: string, pageUrl: string): string {
  const t = text.trim();
  try {
    return new URL(t || configuredModelUrl(search, pageUrl), pageUrl).href;
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
  if (!webGpu) {
    return "Diffusion features need WebGPU, which this browser does not offer (navigator.gpu is missing): staying with the colour features. Try a recent Chrome, Edge or Safari, or Firefox with WebGPU enabled.";
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

/** A progress message as shown: the bar (null: indeterminate), its text, and the status line's text. */
export function progressShown(p: Pick<Progress, "loaded" | "total" | "file">): {
  readonly bar: { readonly value: number; readonly max: number } | null;
  readonly text: string;
  readonly status: string;
} {
  const bar = p.total === null ? null : { value: Math.min(p.loaded, p.total), max: Math.max(1, p.total) };
  const text = p.total === null ? formatBytes(p.loaded) : progressText(p.loaded, p.total);
  return { bar, text, status: `Loading the diffusion model: ${text}${p.file ? `, ${p.file}` : ""}…` };
}

/** What was loaded, from where, and its notes. */
export function modelText(m: ModelSummary): string {
  const from = m.fromCache === m.files ? "from the browser's cache" : m.fromCache > 0 ? `${m.fromCache} of ${m.files} files from the browser's cache` : m.cached ? "now cached" : "not cached";
  const notes = m.notes.length > 0 ? ` Note: ${m.notes.join("; ")}.` : "";
  return `${m.name ?? "Model"} (${m.dtype}, ${formatBytes(m.totalBytes)}, ${from}${m.licence ? `, licence ${m.licence}` : ""}).${notes}`;
}

function stillLoaded(still: ModelSummary | null): string {
  return still ? ` Still loaded: ${modelText(still)}` : "";
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
