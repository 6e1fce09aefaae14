import { afterEach, describe, expect, it, vi } from "vitest";
import { TIME_LIMITS_MS, WorkerClient, type Transport } from "../src/client";
import { CancelledError, SupersededError, WorkerError } from "../src/errors";
import type { FromWorker, Progress, Request, Response, ToWorker } from "../src/protocol";

/** A transport that records what is posted and lets the test answer. */
class FakeTransport implements Transport {
  readonly posted: Request[] = [];
  readonly cancels: number[] = [];
  private onMessage: (msg: FromWorker) => void = () => {};
  private onCrash: (message: string) => void = () => {};
  terminated = false;

  post(msg: ToWorker): void {
    if (msg.type === "cancel") this.cancels.push(msg.id);
    else this.posted.push(msg);
  }
  listen(onMessage: (msg: FromWorker) => void, onCrash: (message: string) => void): void {
    this.onMessage = onMessage;
    this.onCrash = onCrash;
  }
  terminate(): void {
    this.terminated = true;
  }
  answer(msg: FromWorker): void {
    this.onMessage(msg);
  }
  crash(message: string): void {
    this.onCrash(message);
  }
  last(): Request {
    const r = this.posted[this.posted.length - 1];
    if (!r) throw new Error("nothing posted");
    return r;
  }
  /** The last posted request of `type`. */
  lastOf(type: Request["type"]): Request {
    const r = [...this.posted].reverse().find((p) => p.type === type);
    if (!r) throw new Error(`no ${type} posted`);
    return r;
  }
}

const MODEL = {
  name: "test/tiny",
  licence: "MIT",
  dtype: "q8",
  sizes: [128, 256],
  size: 256,
  seed42Sizes: [256],
  channels: 64,
  weightBytes: 805104,
  totalBytes: 822841,
  files: 3,
  fromCache: 0,
  cached: true,
  notes: [],
  ms: 1,
} as const;

const labelsDone = (id: number, tau: number): Response => ({ type: "labels-done", id, tau, labels: new Uint32Array(1), ms: 0 });

describe("WorkerClient", () => {
  it("sends one request at a time and resolves each with its answer", async () => {
    const t = new FakeTransport();
    const c = new WorkerClient(t);
    const a = c.request({ type: "labels", tau: 0.3 });
    const b = c.request({ type: "tree-file" });
    expect(t.posted.map((r) => r.type)).toEqual(["labels"]);
    t.answer(labelsDone(t.last().id, 0.3));
    await expect(a).resolves.toMatchObject({ type: "labels-done", tau: 0.3 });
    expect(t.posted.map((r) => r.type)).toEqual(["labels", "tree-file"]);
    t.answer({ type: "tree-file-done", id: t.last().id, json: "{}" });
    await expect(b).resolves.toMatchObject({ json: "{}" });
    expect(c.busy).toBe(false);
  });

  it("sends the picking requests once the worker is free, and drops them for a new segmentation", async () => {
    const t = new FakeTransport();
    const c = new WorkerClient(t);
    const refine = c.request({ type: "refine", tau: 0.5 });
    const pick = c.request({ type: "pick", x: 1, y: 2, tau: 0.5, from: null });
    const cutout = c.request({ type: "cutout", crop: false });
    t.answer({ type: "refine-done", id: t.last().id, tau: 0.5, labels: new Uint32Array(1), ms: 0 });
    await expect(refine).resolves.toMatchObject({ type: "refine-done" });
    expect(t.last()).toMatchObject({ type: "pick", x: 1, y: 2 });
    t.answer({ type: "pick-done", id: t.last().id, node: 7 });
    await expect(pick).resolves.toMatchObject({ node: 7 });
    expect(t.last().type).toBe("cutout");
    const region = c.request({ type: "region", nodes: [7], tau: 0.5 });
    const mask = c.request({ type: "selection-mask" });
    c.request({ type: "segment", bytes: new ArrayBuffer(1), params: { features: { kind: "color", grid: 8 }, alpha: 10, tauMax: 0.8 }, tau: 0.5 }).catch(() => {});
    await expect(region).rejects.toBeInstanceOf(SupersededError);
    await expect(mask).rejects.toBeInstanceOf(SupersededError);
    t.answer({ type: "cutout-done", id: t.last().id, png: new Uint8Array(1) });
    await expect(cutout).resolves.toMatchObject({ type: "cutout-done" });
    expect(t.last().type).toBe("segment");
  });

  it("replaces a waiting request of the same kind", async () => {
    const t = new FakeTransport();
    const c = new WorkerClient(t);
    const first = c.request({ type: "labels", tau: 0.1 });
    const stale = c.request({ type: "labels", tau: 0.2 });
    const latest = c.request({ type: "labels", tau: 0.3 });
    await expect(stale).rejects.toBeInstanceOf(SupersededError);
    t.answer(labelsDone(t.last().id, 0.1));
    await expect(first).resolves.toMatchObject({ tau: 0.1 });
    const sent = t.last();
    expect(sent).toMatchObject({ type: "labels", tau: 0.3 });
    t.answer(labelsDone(sent.id, 0.3));
    await expect(latest).resolves.toMatchObject({ tau: 0.3 });
  });

  it("drops waiting label and node requests when a new segmentation is asked for", async () => {
    const t = new FakeTransport();
    const c = new WorkerClient(t);
    const running = c.request({ type: "mask", tau: 0.5 });
    const labels = c.request({ type: "labels", tau: 0.4 });
    const node = c.request({ type: "node", node: 3 });
    const seg = c.request({ type: "segment", bytes: new ArrayBuffer(1), params: { features: { kind: "color", grid: 8 }, alpha: 10, tauMax: 0.9 }, tau: 0.5 });
    await expect(labels).rejects.toBeInstanceOf(SupersededError);
    await expect(node).rejects.toBeInstanceOf(SupersededError);
    t.answer({ type: "mask-done", id: t.last().id, png: new Uint8Array(1) });
    await expect(running).resolves.toMatchObject({ type: "mask-done" });
    expect(t.last().type).toBe("segment");
    t.answer({ type: "error", id: t.last().id, message: "cannot decode image: bad", fatal: false });
    await expect(seg).rejects.toThrow("cannot decode image: bad");
  });

  it("rejects a mismatched answer and fails everything after a crash", async () => {
    const t = new FakeTransport();
    const c = new WorkerClient(t);
    const a = c.request({ type: "labels", tau: 0.2 });
    t.answer({ type: "tree-file-done", id: t.last().id, json: "" });
    await expect(a).rejects.toThrow("answered tree-file-done to labels");
    const b = c.request({ type: "labels", tau: 0.2 });
    const d = c.request({ type: "tree-file" });
    t.crash("boom");
    await expect(b).rejects.toSatisfy((e: unknown) => e instanceof WorkerError && e.fatal);
    await expect(d).rejects.toBeInstanceOf(WorkerError);
    await expect(c.request({ type: "tree-file" })).rejects.toThrow("boom");
  });

  it("treats a fatal error as the end of the worker", async () => {
    const t = new FakeTransport();
    const c = new WorkerClient(t);
    const a = c.request({ type: "labels", tau: 0.2 });
    const b = c.request({ type: "tree-file" });
    t.answer({ type: "error", id: t.last().id, message: "unreachable", fatal: true });
    await expect(a).rejects.toSatisfy((e: unknown) => e instanceof WorkerError && e.fatal);
    await expect(b).rejects.toBeInstanceOf(WorkerError);
    c.terminate();
    expect(t.terminated).toBe(true);
  });

  it("fails pending requests as superseded when terminated", async () => {
    const t = new FakeTransport();
    const c = new WorkerClient(t);
    const a = c.request({ type: "init", device: "auto", helper: true, trap: null });
    c.terminate();
    await expect(a).rejects.toBeInstanceOf(SupersededError);
  });

  it("runs a model load beside the segmenter, passing its progress on", async () => {
    const t = new FakeTransport();
    const c = new WorkerClient(t);
    const progress: Progress[] = [];
    const load = c.request({ type: "load-model", source: { kind: "url", url: "http://x/m/manifest.json" } }, [], { onProgress: (p) => progress.push(p) });
    const labels = c.request({ type: "labels", tau: 0.3 });
    // Both are sent at once: the load does not hold up τ.
    expect(t.posted.map((r) => r.type)).toEqual(["load-model", "labels"]);
    const loadId = t.lastOf("load-model").id;
    t.answer({ type: "progress", id: loadId, loaded: 10, total: 100, file: "config.json", note: null });
    t.answer(labelsDone(t.lastOf("labels").id, 0.3));
    await expect(labels).resolves.toMatchObject({ tau: 0.3 });
    t.answer({ type: "progress", id: loadId, loaded: 100, total: 100, file: "w", note: "no caching" });
    expect(progress.map((p) => p.loaded)).toEqual([10, 100]);
    // Clearing the cache waits for the load (same lane).
    const clear = c.request({ type: "clear-model-cache" });
    expect(t.posted.map((r) => r.type)).toEqual(["load-model", "labels"]);
    t.answer({ type: "load-model-done", id: loadId, model: MODEL });
    await expect(load).resolves.toMatchObject({ model: { size: 256 } });
    expect(t.last().type).toBe("clear-model-cache");
    t.answer({ type: "clear-model-cache-done", id: t.last().id, files: 3, bytes: 822841 });
    await expect(clear).resolves.toMatchObject({ files: 3 });
    expect(c.busy).toBe(false);
  });

  it("loads CLIP and names in a lane of their own, beside the segmenter and the model loader", async () => {
    const t = new FakeTransport();
    const c = new WorkerClient(t);
    const model = c.request({ type: "load-model", source: { kind: "url", url: "http://x/m/manifest.json" } });
    const clip = c.request({ type: "load-clip", source: { kind: "url", url: "http://x/c/manifest.json" }, withText: false });
    const labels = c.request({ type: "labels", tau: 0.3 });
    expect(t.posted.map((r) => r.type)).toEqual(["load-model", "load-clip", "labels"]);
    // Naming waits for the CLIP load (same lane); a newer naming replaces a waiting one.
    const body = { type: "name", rgba: new Uint8ClampedArray(4), labels: new Uint32Array(1), width: 1, height: 1, spec: "voc", size: 512 } as const;
    const first = c.request(body);
    const second = c.request({ ...body, spec: "ade" });
    await expect(first).rejects.toBeInstanceOf(SupersededError);
    t.answer({ type: "load-clip-done", id: t.lastOf("load-clip").id, clip: { name: null, licence: null, dtype: "q8", labelSets: ["voc"], textLoaded: false, embedDim: 32, imageBytes: 1, textBytes: 2, totalBytes: 1, files: 1, fromCache: 0, cached: true, notes: [], ms: 1 } });
    await expect(clip).resolves.toMatchObject({ clip: { labelSets: ["voc"] } });
    expect(t.last()).toMatchObject({ type: "name", spec: "ade" });
    // An error the page acts on keeps its code.
    t.answer({ type: "error", id: t.last().id, message: "naming with your own words needs the CLIP text part", fatal: false, code: "clip-text-needed" });
    await expect(second).rejects.toSatisfy((e: unknown) => e instanceof WorkerError && !e.fatal && e.code === "clip-text-needed");
    t.answer(labelsDone(t.lastOf("labels").id, 0.3));
    await expect(labels).resolves.toMatchObject({ tau: 0.3 });
    t.answer({ type: "load-model-done", id: t.lastOf("load-model").id, model: MODEL });
    await expect(model).resolves.toMatchObject({ model: { size: 256 } });
    expect(c.busy).toBe(false);
  });

  it("cancels a waiting load at once and asks the worker to stop a running one", async () => {
    const t = new FakeTransport();
    const c = new WorkerClient(t);
    const running = c.request({ type: "load-model", source: { kind: "url", url: "http://x/a/manifest.json" } });
    const waiting = c.request({ type: "load-model", source: { kind: "url", url: "http://x/b/manifest.json" } });
    c.cancel("load-model");
    await expect(waiting).rejects.toBeInstanceOf(CancelledError);
    const id = t.lastOf("load-model").id;
    expect(t.cancels).toEqual([id]);
    t.answer({ type: "error", id, message: "the model download was cancelled", fatal: false, cancelled: true });
    await expect(running).rejects.toBeInstanceOf(CancelledError);
    // Nothing running: a cancel sends nothing.
    c.cancel("load-model");
    expect(t.cancels).toEqual([id]);
    // Another kind is not cancelled by it.
    const labels = c.request({ type: "labels", tau: 0.2 });
    c.cancel("load-model");
    expect(t.cancels).toEqual([id]);
    t.answer(labelsDone(t.last().id, 0.2));
    await expect(labels).resolves.toMatchObject({ tau: 0.2 });
  });

  it("fails a running load too when the worker crashes", async () => {
    const t = new FakeTransport();
    const c = new WorkerClient(t);
    const load = c.request({ type: "load-model", source: { kind: "url", url: "http://x/manifest.json" } });
    const seg = c.request({ type: "segment", bytes: new ArrayBuffer(1), params: { features: { kind: "diffusion", size: 256 }, alpha: 10, tauMax: 0.9 }, tau: 0.5 });
    t.answer({ type: "error", id: t.lastOf("segment").id, message: "unreachable executed", fatal: true });
    await expect(seg).rejects.toSatisfy((e: unknown) => e instanceof WorkerError && e.fatal);
    await expect(load).rejects.toSatisfy((e: unknown) => e instanceof WorkerError && e.fatal);
  });

  it("takes a crash report from the worker (a trap in an async export) as its end, and says so once", async () => {
    const t = new FakeTransport();
    const deaths: string[] = [];
    const c = new WorkerClient(t, { onDeath: (m) => deaths.push(m) });
    const seg = c.request({ type: "segment", bytes: new ArrayBuffer(1), params: { features: { kind: "color", grid: 32 }, alpha: 10, tauMax: 0.9 }, tau: 0.5 });
    const load = c.request({ type: "load-model", source: { kind: "url", url: "http://x/manifest.json" } });
    const waiting = c.request({ type: "labels", tau: 0.4 });
    t.answer({ type: "crashed", message: "the segmenter stopped with an internal error (RuntimeError: unreachable)" });
    for (const p of [seg, load, waiting]) await expect(p).rejects.toSatisfy((e: unknown) => e instanceof WorkerError && e.fatal && e.message.includes("RuntimeError: unreachable"));
    expect(c.busy).toBe(false);
    t.crash("and then its error event");
    expect(deaths).toEqual(["the segmenter stopped with an internal error (RuntimeError: unreachable)"]);
    await expect(c.request({ type: "tree-file" })).rejects.toSatisfy((e: unknown) => e instanceof WorkerError && e.fatal);
    expect(c.deadReason).toContain("RuntimeError");
  });

  it("tells the page when a fatal error ends the worker, and not when the page stopped it", async () => {
    const t = new FakeTransport();
    const deaths: string[] = [];
    const c = new WorkerClient(t, { onDeath: (m) => deaths.push(m) });
    const a = c.request({ type: "labels", tau: 0.3 });
    t.answer({ type: "error", id: t.last().id, message: "trap", fatal: true });
    await expect(a).rejects.toBeInstanceOf(WorkerError);
    expect(deaths).toEqual(["trap"]);
    const t2 = new FakeTransport();
    const c2 = new WorkerClient(t2, { onDeath: (m) => deaths.push(m) });
    const b = c2.request({ type: "labels", tau: 0.3 });
    c2.terminate();
    t2.crash("late error event");
    await expect(b).rejects.toBeInstanceOf(SupersededError);
    expect(deaths).toEqual(["trap"]);
  });

  describe("time limits", () => {
    afterEach(() => {
      vi.useRealTimers();
    });

    it("takes a worker that does not answer in time as stuck: all fails, the page is told", async () => {
      vi.useFakeTimers();
      const t = new FakeTransport();
      const deaths: string[] = [];
      const c = new WorkerClient(t, { onDeath: (m) => deaths.push(m), limits: { segment: 1000 } });
      const seg = c.request({ type: "segment", bytes: new ArrayBuffer(1), params: { features: { kind: "color", grid: 32 }, alpha: 10, tauMax: 0.9 }, tau: 0.5 });
      const rejected = expect(seg).rejects.toSatisfy((e: unknown) => e instanceof WorkerError && e.fatal && e.message === "the worker did not answer the segment request within 1 s");
      vi.advanceTimersByTime(999);
      expect(deaths).toEqual([]);
      vi.advanceTimersByTime(1);
      await rejected;
      expect(deaths).toHaveLength(1);
      expect(c.busy).toBe(false);
    });

    it("counts from when a request is sent, not while it waits, and stops counting at its answer", async () => {
      vi.useFakeTimers();
      const t = new FakeTransport();
      const deaths: string[] = [];
      const c = new WorkerClient(t, { onDeath: (m) => deaths.push(m), limits: { labels: 1000, "tree-file": 1000 } });
      const a = c.request({ type: "labels", tau: 0.3 });
      const b = c.request({ type: "tree-file" });
      vi.advanceTimersByTime(900);
      t.answer(labelsDone(t.last().id, 0.3));
      await expect(a).resolves.toMatchObject({ tau: 0.3 });
      vi.advanceTimersByTime(900); // the tree-file request has run for 900 ms only
      t.answer({ type: "tree-file-done", id: t.last().id, json: "{}" });
      await expect(b).resolves.toMatchObject({ json: "{}" });
      vi.advanceTimersByTime(10_000);
      expect(deaths).toEqual([]);
    });

    it("bounds a model load by its time without progress", async () => {
      vi.useFakeTimers();
      const t = new FakeTransport();
      const deaths: string[] = [];
      const c = new WorkerClient(t, { onDeath: (m) => deaths.push(m), limits: { "load-model": 1000 } });
      const load = c.request({ type: "load-model", source: { kind: "url", url: "http://x/manifest.json" } });
      const rejected = expect(load).rejects.toSatisfy((e: unknown) => e instanceof WorkerError && e.message.includes("made no progress loading the model for 1 s"));
      const id = t.last().id;
      for (let i = 0; i < 5; i++) {
        vi.advanceTimersByTime(900);
        t.answer({ type: "progress", id, loaded: i, total: 10, file: "w", note: null });
      }
      expect(deaths).toEqual([]);
      vi.advanceTimersByTime(1000);
      await rejected;
      expect(deaths).toHaveLength(1);
    });

    it("bounds a CLIP load by its time without progress too", async () => {
      vi.useFakeTimers();
      const t = new FakeTransport();
      const c = new WorkerClient(t, { limits: { "load-clip": 1000 } });
      const load = c.request({ type: "load-clip", source: { kind: "url", url: "http://x/manifest.json" }, withText: true });
      const rejected = expect(load).rejects.toSatisfy((e: unknown) => e instanceof WorkerError && e.message.includes("made no progress loading CLIP for 1 s"));
      const id = t.last().id;
      for (let i = 0; i < 3; i++) {
        vi.advanceTimersByTime(900);
        t.answer({ type: "progress", id, loaded: i, total: 10, file: "text-00000.safetensors", note: null });
      }
      vi.advanceTimersByTime(1000);
      await rejected;
    });

    it("takes a running request that does not stop when cancelled as stuck", async () => {
      vi.useFakeTimers();
      const t = new FakeTransport();
      const deaths: string[] = [];
      const c = new WorkerClient(t, { onDeath: (m) => deaths.push(m), cancelGraceMs: 500 });
      const load = c.request({ type: "load-model", source: { kind: "url", url: "http://x/manifest.json" } });
      const rejected = expect(load).rejects.toSatisfy((e: unknown) => e instanceof WorkerError && e.fatal && e.message.includes("did not stop the load-model request within 0.5 s"));
      c.cancel("load-model");
      expect(t.cancels).toEqual([t.last().id]);
      vi.advanceTimersByTime(500);
      await rejected;
      expect(deaths).toHaveLength(1);
    });

    it("gives every kind of request a finite limit", () => {
      for (const [kind, ms] of Object.entries(TIME_LIMITS_MS)) {
        expect(Number.isFinite(ms) && ms > 0 && ms <= 600_000, kind).toBe(true);
      }
    });
  });
});
