import { describe, expect, it } from "vitest";
import { WorkerClient, type Transport } from "../src/client";
import { SupersededError, WorkerError } from "../src/errors";
import type { Request, Response } from "../src/protocol";

/** A transport that records what is posted and lets the test answer. */
class FakeTransport implements Transport {
  readonly posted: Request[] = [];
  private onMessage: (msg: Response) => void = () => {};
  private onCrash: (message: string) => void = () => {};
  terminated = false;

  post(msg: Request): void {
    this.posted.push(msg);
  }
  listen(onMessage: (msg: Response) => void, onCrash: (message: string) => void): void {
    this.onMessage = onMessage;
    this.onCrash = onCrash;
  }
  terminate(): void {
    this.terminated = true;
  }
  answer(msg: Response): void {
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
}

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
    const seg = c.request({ type: "segment", bytes: new ArrayBuffer(1), params: { grid: 8, alpha: 10, tauMax: 0.9 }, tau: 0.5 });
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
    const a = c.request({ type: "init", device: "auto" });
    c.terminate();
    await expect(a).rejects.toBeInstanceOf(SupersededError);
  });
});
