/**
 * The page's state as types that cannot hold an inconsistent combination, and the pure
 * transitions between them (app.ts holds the current values and draws them).
 *
 * * {@link LabelKind}: which per-pixel labels the canvas shows (the live re-cut while τ moves, the
 *   worker's exact assignment, or PAMR's refinement of it). The canvas's `data-labels` and
 *   `data-refined` attributes are written from it, for the tests; nothing reads them back.
 * * {@link View}: the segments or a node's Fiedler vector on the canvas, and the node selected in
 *   the tree view with the last detail that arrived for it.
 * * {@link ModelState}: no model, a loaded one (and whether segmentations use it, the feature
 *   mode), or a load in progress with what was there before it, which stays until it ends.
 */
import type { WorkerClient } from "./client";
import type { StatusState } from "./dom";
import { unreachable } from "./errors";
import type { FeatureKind, ModelSource, ModelSummary, ResponseFor } from "./protocol";

// --- the labels on the canvas ---------------------------------------------------------------------

/**
 * Which labels are drawn: `live` (the tree cut at τ, each pixel following its finest leaf; while
 * τ moves), `exact` (the worker's assignment at τ), `refined` (PAMR's refinement of the exact one).
 */
export type LabelKind = "live" | "exact" | "refined";

/** The canvas attributes of the test contract: `data-labels` (`live`/`exact`) and `data-refined`. */
export function labelAttributes(kind: LabelKind): { readonly labels: "live" | "exact"; readonly refined: "true" | "false" } {
  switch (kind) {
    case "live":
      return { labels: "live", refined: "false" };
    case "exact":
      return { labels: "exact", refined: "false" };
    case "refined":
      return { labels: "exact", refined: "true" };
    default:
      return unreachable(kind);
  }
}

// --- the view: segments or a node's Fiedler vector -------------------------------------------------

/** The worker's detail of a tree node: its Fiedler vector and NCut curve. */
export type NodeDetail = ResponseFor<"node">;

/**
 * The node selected in the tree view. `detail` is the last detail that arrived: the selected
 * node's, or (until that one arrives) the node's selected before it; null when none arrived yet.
 */
export interface Selection {
  readonly node: number;
  readonly detail: NodeDetail | null;
}

export type View =
  /**
   * The segments on the canvas (hovering highlights them). A selection's detail, if any, stays in
   * the node panel (τ moved while a Fiedler vector was shown).
   */
  | { readonly kind: "segments"; readonly selection: Selection | null }
  /** A node's Fiedler vector on the canvas (`selection.detail`'s), and its panel. */
  | { readonly kind: "fiedler"; readonly selection: Selection & { readonly detail: NodeDetail } };

/** The segments, nothing selected: a new image, or "Back to the segments". */
export const SEGMENTS: View = { kind: "segments", selection: null };

/** Node `node` was selected (its detail is asked for); what is drawn stays until it arrives. */
export function selectNode(view: View, node: number): View {
  switch (view.kind) {
    case "segments":
      return { kind: "segments", selection: { node, detail: view.selection?.detail ?? null } };
    case "fiedler":
      return { kind: "fiedler", selection: { node, detail: view.selection.detail } };
    default:
      return unreachable(view);
  }
}

/** A node's detail arrived: its Fiedler vector is shown, or null if that node is no longer selected. */
export function detailArrived(view: View, detail: NodeDetail): View | null {
  if (view.selection?.node !== detail.node) return null;
  return { kind: "fiedler", selection: { node: detail.node, detail } };
}

/** τ moved (the live view): the segments are drawn again; the selection and its panel stay. */
export function afterRecut(view: View): View {
  switch (view.kind) {
    case "segments":
      return view;
    case "fiedler":
      return { kind: "segments", selection: view.selection };
    default:
      return unreachable(view);
  }
}

/** The detail the node panel shows, if any. */
export function shownDetail(view: View): NodeDetail | null {
  return view.selection?.detail ?? null;
}

// --- the worker -------------------------------------------------------------------------------------

/** The page's worker: none yet (or dropped), or started, with its `init` answered by `ready`. */
export type WorkerState =
  | { readonly kind: "none" }
  | { readonly kind: "started"; readonly client: WorkerClient; readonly ready: Promise<WorkerClient> };

// --- the diffusion model and the feature mode ------------------------------------------------------

/** A model loaded in a worker. */
export interface LoadedModel {
  readonly summary: ModelSummary;
  readonly source: ModelSource;
  /** The worker that holds it (a replaced worker has lost it). */
  readonly client: WorkerClient;
}

/** The model state outside a load: segmentations use what this says. */
export type SettledModel =
  /** No model: colour features. */
  | { readonly kind: "none" }
  /** A model is loaded; `mode` says whether segmentations use it (`diffusion`) or colour features. */
  | { readonly kind: "ready"; readonly model: LoadedModel; readonly mode: FeatureKind };

export type ModelState =
  | SettledModel
  /**
   * A model is loading (load number `id`, ended when `ended` resolves). Until it ends, `before`
   * is what segmentations use, and the status line shows `status` (busy with its progress).
   */
  | {
      readonly kind: "loading";
      readonly id: number;
      readonly source: ModelSource;
      readonly status: string;
      readonly ended: Promise<void>;
      readonly before: SettledModel;
    };

export const NO_MODEL: ModelState = { kind: "none" };

/** What segmentations use now: the state itself, or during a load what was there before it. */
export function settled(state: ModelState): SettledModel {
  return state.kind === "loading" ? state.before : state;
}

/** The model segmentations would use (during a load, the one loaded before it), if any. */
export function currentModel(state: ModelState): LoadedModel | null {
  const s = settled(state);
  return s.kind === "ready" ? s.model : null;
}

/** The features segmentations use now. */
export function featureMode(state: ModelState): FeatureKind {
  const s = settled(state);
  return s.kind === "ready" ? s.mode : "color";
}

/** Uses `mode` from now on (during a load too); diffusion without a model stays colour. */
export function withMode(state: ModelState, mode: FeatureKind): ModelState {
  return state.kind === "loading" ? { ...state, before: settledWithMode(state.before, mode) } : settledWithMode(state, mode);
}

function settledWithMode(state: SettledModel, mode: FeatureKind): SettledModel {
  switch (state.kind) {
    case "none":
      return state;
    case "ready":
      return state.mode === mode ? state : { ...state, mode };
    default:
      return unreachable(state);
  }
}

/** A load `id` of `source` starts; what segmentations use stays until it ends. */
export function loadStarted(state: ModelState, id: number, source: ModelSource, status: string, ended: Promise<void>): ModelState {
  return { kind: "loading", id, source, status, ended, before: settled(state) };
}

/** Load `id` made progress: the status line says so (nothing changes if that load is over). */
export function loadProgressed(state: ModelState, id: number, status: string): ModelState {
  return state.kind === "loading" && state.id === id ? { ...state, status } : state;
}

/**
 * Load `id` succeeded: `model` replaces the model, in the same mode (the caller picks diffusion
 * when it loaded the model to use it). If another load has started since, `model` becomes what
 * that one keeps until it ends.
 */
export function loadSucceeded(state: ModelState, id: number, model: LoadedModel): ModelState {
  const ready: SettledModel = { kind: "ready", model, mode: featureMode(state) };
  return state.kind === "loading" && state.id !== id ? { ...state, before: ready } : ready;
}

/** Load `id` failed or was cancelled: what was there before it stays. */
export function loadFailed(state: ModelState, id: number): ModelState {
  return state.kind === "loading" && state.id === id ? state.before : state;
}

/** The model is gone (its worker was replaced and loading it again failed): colour features. */
export function withoutModel(state: ModelState): ModelState {
  return state.kind === "loading" ? { ...state, before: { kind: "none" } } : NO_MODEL;
}

// --- the status line ---------------------------------------------------------------------------------

/**
 * What the status line shows when the page reports `state` with `text`: while a model loads,
 * the page is busy with that (its progress), even when something else finished meanwhile (τ and
 * colour segmentations go on during a download). Errors and other busy states show as they are.
 */
export function shownStatus(model: ModelState, state: StatusState, text: string): { readonly state: StatusState; readonly text: string } {
  if (model.kind === "loading" && (state === "ready" || state === "idle")) return { state: "busy", text: model.status };
  return { state, text };
}
