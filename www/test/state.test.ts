import { describe, expect, it } from "vitest";
import { WorkerClient } from "../src/client";
import type { ModelSource, ModelSummary, ResponseFor } from "../src/protocol";
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
  type LoadedModel,
  type ModelState,
  type View,
} from "../src/state";

const client = new WorkerClient({ post: () => {}, listen: () => {}, terminate: () => {} });

function summary(name: string): ModelSummary {
  return { name, licence: null, dtype: "q8", sizes: [128, 256], size: 256, seed42Sizes: [256], channels: 8, weightBytes: 1, totalBytes: 2, files: 3, fromCache: 0, cached: true, notes: [], ms: 1 };
}
const model = (name: string): LoadedModel => ({ summary: summary(name), source: { kind: "url", url: `https://x/${name}/manifest.json` }, client });
const SOURCE: ModelSource = { kind: "url", url: "https://x/new/manifest.json" };
const ENDED = Promise.resolve();

function detail(node: number): ResponseFor<"node"> {
  return { type: "node-done", id: 1, node, fiedler: new Float32Array(1), curve: new Float32Array(1), thresholds: new Float32Array(1) };
}

describe("labelAttributes", () => {
  it("writes data-labels and data-refined for each kind", () => {
    expect(labelAttributes("live")).toEqual({ labels: "live", refined: "false" });
    expect(labelAttributes("exact")).toEqual({ labels: "exact", refined: "false" });
    expect(labelAttributes("refined")).toEqual({ labels: "exact", refined: "true" });
  });
});

describe("the view", () => {
  it("selects a node, shows its Fiedler vector when its detail arrives, and goes back", () => {
    let v: View = selectNode(SEGMENTS, 3);
    expect(v).toEqual({ kind: "segments", selection: { node: 3, detail: null } });
    expect(shownDetail(v)).toBeNull();
    const arrived = detailArrived(v, detail(3));
    expect(arrived).toEqual({ kind: "fiedler", selection: { node: 3, detail: detail(3) } });
    v = arrived ?? v;
    expect(shownDetail(v)?.node).toBe(3);
    expect(SEGMENTS).toEqual({ kind: "segments", selection: null });
  });

  it("ignores the detail of a node no longer selected", () => {
    expect(detailArrived(SEGMENTS, detail(3))).toBeNull();
    expect(detailArrived(selectNode(SEGMENTS, 4), detail(3))).toBeNull();
  });

  it("keeps the Fiedler vector of the last node while the next one's detail is on its way", () => {
    const shown = detailArrived(selectNode(SEGMENTS, 3), detail(3));
    if (shown === null) throw new Error("not shown");
    const next = selectNode(shown, 5);
    expect(next).toEqual({ kind: "fiedler", selection: { node: 5, detail: detail(3) } });
    expect(detailArrived(next, detail(3))).toBeNull();
    expect(detailArrived(next, detail(5))).toEqual({ kind: "fiedler", selection: { node: 5, detail: detail(5) } });
  });

  it("draws the segments again when τ moves, keeping the selection and its panel", () => {
    const shown = detailArrived(selectNode(SEGMENTS, 3), detail(3));
    if (shown === null) throw new Error("not shown");
    const recut = afterRecut(shown);
    expect(recut).toEqual({ kind: "segments", selection: { node: 3, detail: detail(3) } });
    expect(shownDetail(recut)?.node).toBe(3);
    expect(afterRecut(recut)).toBe(recut);
    expect(afterRecut(SEGMENTS)).toBe(SEGMENTS);
    // Selecting another node from there keeps the panel's detail until the new one arrives.
    expect(selectNode(recut, 7)).toEqual({ kind: "segments", selection: { node: 7, detail: detail(3) } });
  });
});

describe("the model state", () => {
  it("starts without a model, in colour mode, and diffusion needs a model", () => {
    expect(featureMode(NO_MODEL)).toBe("color");
    expect(currentModel(NO_MODEL)).toBeNull();
    expect(withMode(NO_MODEL, "diffusion")).toBe(NO_MODEL);
  });

  it("loads a model: the page is busy meanwhile, then the model is there in the same mode", () => {
    const loading = loadStarted(NO_MODEL, 1, SOURCE, "Loading…", ENDED);
    expect(loading.kind).toBe("loading");
    expect(settled(loading)).toEqual({ kind: "none" });
    expect(featureMode(loading)).toBe("color");
    expect(shownStatus(loading, "ready", "Ready: coffee.")).toEqual({ state: "busy", text: "Loading…" });
    expect(shownStatus(loading, "idle", "No image.")).toEqual({ state: "busy", text: "Loading…" });
    const progressed = loadProgressed(loading, 1, "Loading: 1 of 2");
    expect(shownStatus(progressed, "ready", "Ready.")).toEqual({ state: "busy", text: "Loading: 1 of 2" });
    // Errors and other work show as they are.
    expect(shownStatus(progressed, "error", "broken")).toEqual({ state: "error", text: "broken" });
    expect(shownStatus(progressed, "busy", "Segmenting…")).toEqual({ state: "busy", text: "Segmenting…" });

    const m = model("a");
    const ready = loadSucceeded(progressed, 1, m);
    expect(ready).toEqual({ kind: "ready", model: m, mode: "color" });
    expect(shownStatus(ready, "ready", "Ready.")).toEqual({ state: "ready", text: "Ready." });
    const diffusion = withMode(ready, "diffusion");
    expect(featureMode(diffusion)).toBe("diffusion");
    expect(currentModel(diffusion)).toBe(m);
  });

  it("keeps the model it had, in its mode, through a failed or cancelled load", () => {
    const a = model("a");
    const before: ModelState = { kind: "ready", model: a, mode: "diffusion" };
    const loading = loadStarted(before, 2, SOURCE, "Loading…", ENDED);
    expect(currentModel(loading)).toBe(a);
    expect(featureMode(loading)).toBe("diffusion");
    expect(loadFailed(loading, 2)).toBe(before);
    // A new model replaces it, and keeps its mode.
    const b = model("b");
    expect(loadSucceeded(loading, 2, b)).toEqual({ kind: "ready", model: b, mode: "diffusion" });
  });

  it("switches the mode during a load: what the load ends in keeps it", () => {
    const a = model("a");
    const loading = loadStarted({ kind: "ready", model: a, mode: "diffusion" }, 1, SOURCE, "Loading…", ENDED);
    const colour = withMode(loading, "color");
    expect(colour.kind).toBe("loading");
    expect(featureMode(colour)).toBe("color");
    expect(loadFailed(colour, 1)).toEqual({ kind: "ready", model: a, mode: "color" });
    expect(loadSucceeded(colour, 1, model("b"))).toMatchObject({ kind: "ready", mode: "color" });
  });

  it("lets a load's end touch only its own loading state", () => {
    const first = loadStarted(NO_MODEL, 1, SOURCE, "first", ENDED);
    const second = loadStarted(first, 2, SOURCE, "second", ENDED);
    expect(settled(second)).toEqual({ kind: "none" });
    // The first load's progress and failure change nothing of the second's.
    expect(loadProgressed(second, 1, "old")).toBe(second);
    expect(loadFailed(second, 1)).toBe(second);
    // Its success is what the second keeps until it ends.
    const a = model("a");
    const kept = loadSucceeded(second, 1, a);
    expect(kept).toMatchObject({ kind: "loading", id: 2, status: "second" });
    expect(currentModel(kept)).toBe(a);
    expect(loadFailed(kept, 2)).toEqual({ kind: "ready", model: a, mode: "color" });
    // Nothing changes after the load ended.
    expect(loadProgressed(NO_MODEL, 2, "late")).toBe(NO_MODEL);
  });

  it("drops the model (its worker was replaced and loading it again failed)", () => {
    const ready: ModelState = { kind: "ready", model: model("a"), mode: "diffusion" };
    expect(withoutModel(ready)).toEqual({ kind: "none" });
    const loading = loadStarted(ready, 3, SOURCE, "Loading…", ENDED);
    const dropped = withoutModel(loading);
    expect(dropped).toMatchObject({ kind: "loading", id: 3, before: { kind: "none" } });
    expect(featureMode(dropped)).toBe("color");
  });
});
