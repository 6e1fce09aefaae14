/**
 * The "Name segments" panel (index.html's `#naming-panel`): CLIP's folder (URL field and Load, a
 * folder or its files from disk, progress and Cancel, the note: a {@link LoadPanel}), the label
 * list (a label set the folder has, or the person's own words), CLIP's input size, the Name and
 * Hide buttons, the legend of names and the naming's own line.
 *
 * Like the model panel, it reports what the user asks for and shows what it is told; the naming
 * state and the worker are app.ts's.
 */
import type { PageElements } from "./dom";
import { DEFAULT_CLIP_URL } from "./model-load";
import { LoadPanel, type LoadKind, type LoadPanelActions } from "./model-panel";
import { CLIP_SIZES, clipText, DEFAULT_CLIP_SIZE, LABEL_SETS, labelOptions, OWN_WORDS } from "./naming";
import type { ClipSummary } from "./protocol";

/** CLIP's {@link LoadKind}. */
export const CLIP: LoadKind = { noun: "CLIP", short: "CLIP", title: "CLIP", param: "clip", fallbackUrl: DEFAULT_CLIP_URL };

/** What the user asks of the naming panel. */
export interface ClipPanelActions extends LoadPanelActions {
  /** Name the segments on screen (loading CLIP first if needed), and keep them named. */
  name(): void;
  /** Stop naming and hide the names. */
  hide(): void;
  /** The label list or CLIP's input size changed. */
  changed(): void;
}

/** The naming line's states (its `data-state`, for the tests). */
export type NamingShown = "off" | "busy" | "named" | "error";

export class ClipPanel extends LoadPanel {
  private readonly ui: PageElements;

  constructor(ui: PageElements, actions: ClipPanelActions) {
    super(
      {
        url: ui.clipUrl,
        load: ui.clipLoad,
        folder: ui.clipFolder,
        files: ui.clipFiles,
        progressRow: ui.clipProgressRow,
        progress: ui.clipProgress,
        progressText: ui.clipProgressText,
        cancel: ui.clipCancel,
        note: ui.clipNote,
      },
      CLIP,
      actions,
    );
    this.ui = ui;
    this.fillLabels(LABEL_SETS.map((s) => s.id));
    ui.clipSize.replaceChildren(
      ...CLIP_SIZES.map((s) => {
        const o = document.createElement("option");
        o.value = String(s);
        o.textContent = `${s} × ${s}${s === 1024 ? " (DiffCut's)" : ""}`;
        return o;
      }),
    );
    ui.clipSize.value = String(DEFAULT_CLIP_SIZE);
    ui.clipLabels.addEventListener("change", () => {
      this.showWords();
      if (ui.clipLabels.value !== OWN_WORDS) actions.changed();
      else ui.clipWords.focus();
    });
    ui.clipWords.addEventListener("change", () => actions.changed());
    ui.clipWords.addEventListener("keydown", (e) => {
      if (e.key === "Enter") actions.name();
    });
    ui.clipSize.addEventListener("change", () => actions.changed());
    ui.nameSegments.addEventListener("click", () => actions.name());
    ui.namesHide.addEventListener("click", () => actions.hide());
    this.showWords();
  }

  /** The label select's value (a set's name or {@link OWN_WORDS}) and the words typed. */
  choice(): { readonly choice: string; readonly words: string } {
    return { choice: this.ui.clipLabels.value, words: this.ui.clipWords.value };
  }

  /** CLIP's input size. */
  size(): number {
    return Number(this.ui.clipSize.value) || DEFAULT_CLIP_SIZE;
  }

  /** CLIP loaded: its label sets in the select (keeping the choice where it has it) and its note. */
  showLoaded(clip: ClipSummary): void {
    this.fillLabels(clip.labelSets);
    this.showNote(clipText(clip));
  }

  /** The load was cancelled; `still` is the CLIP loaded before, if any. */
  showCancelled(still: ClipSummary | null): void {
    this.cancelled(still === null ? null : clipText(still));
  }

  /** The load failed with `message`; `still` is the CLIP loaded before, if any. */
  showFailed(message: string, still: ClipSummary | null): void {
    this.failed(message, still === null ? null : clipText(still));
  }

  /**
   * The naming line: what naming is doing, or why it failed; `tau`, for names shown, the τ of the
   * labels they name (`data-tau`, the test contract).
   */
  showNaming(state: NamingShown, text: string, tau: number | null = null): void {
    const el = this.ui.namesText;
    el.dataset["state"] = state;
    if (tau === null) delete el.dataset["tau"];
    else el.dataset["tau"] = tau.toFixed(2);
    el.textContent = text;
    this.ui.namesHide.disabled = state === "off";
  }

  /** The legend: each name with its number of segments. */
  showLegend(entries: readonly { readonly name: string; readonly segments: number; readonly colour: string }[]): void {
    this.ui.namesList.replaceChildren(
      ...entries.map((e) => {
        const li = document.createElement("li");
        const swatch = document.createElement("span");
        swatch.className = "swatch";
        swatch.style.background = e.colour;
        const name = document.createElement("span");
        name.className = "name";
        name.textContent = e.name;
        const n = document.createElement("span");
        n.className = "muted";
        n.textContent = e.segments === 1 ? "" : ` ×${e.segments}`;
        li.append(swatch, name, n);
        return li;
      }),
    );
  }

  private fillLabels(sets: readonly string[]): void {
    const select = this.ui.clipLabels;
    const keep = select.value;
    const options = labelOptions(sets);
    select.replaceChildren(
      ...options.map((o) => {
        const el = document.createElement("option");
        el.value = o.value;
        el.textContent = o.label;
        return el;
      }),
    );
    select.value = options.some((o) => o.value === keep) ? keep : (options[0]?.value ?? OWN_WORDS);
    this.showWords();
  }

  private showWords(): void {
    this.ui.clipWordsRow.hidden = this.ui.clipLabels.value !== OWN_WORDS;
  }
}
