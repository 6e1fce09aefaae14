/** Fuzzing the image budget, the format sniffer, and the page's side of the worker protocol. */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { WorkerClient, type Transport } from "../../src/client";
import { CancelledError, SupersededError, WorkerError } from "../../src/errors";
import { fitSize, MAX_PIXELS, MAX_SIDE, sniffFormat } from "../../src/image-input";
import type { FromWorker, Request, RequestBody, ToWorker } from "../../src/protocol";
import { check, timed } from "./runs";

describe("fuzz: fitSize and sniffFormat", () => {
  const size = fc.oneof(fc.integer({ min: -10, max: 1e9 }), fc.double(), fc.constantFrom(0, 1, 2 ** 32, Infinity, -Infinity, Number.NaN));

  it("fitSize: whole sides ≥ 1 within the budget, never upscaled", async () => {
    await check(
      "fitSize",
      fc.property(size, size, fc.oneof(fc.constant(MAX_PIXELS), fc.integer({ min: 1, max: 1e8 })), fc.oneof(fc.constant(MAX_SIDE), fc.integer({ min: 1, max: 1e6 })), (w, h, max, side) => {
        const fit = timed(() => fitSize(w, h, max, side));
        for (const v of [fit.width, fit.height]) expect(Number.isInteger(v) && v >= 1).toBe(true);
        expect(fit.width * fit.height).toBeLessThanOrEqual(Math.max(max, 1));
        expect(Math.max(fit.width, fit.height)).toBeLessThanOrEqual(side);
        if (Number.isFinite(w) && w >= 1) expect(fit.width).toBeLessThanOrEqual(w);
        if (Number.isFinite(h) && h >= 1) expect(fit.height).toBeLessThanOrEqual(h);
      }),
    );
  });

  it("sniffFormat: any bytes give a format or null", async () => {
    await check(
      "sniffFormat",
      fc.property(fc.uint8Array({ maxLength: 32 }), (bytes) => {
        const f = timed(() => sniffFormat(bytes));
        expect([null, "png", "jpeg", "gif", "bmp", "tiff", "webp"]).toContain(f);
      }),
    );
  });
});

/** A transport whose worker answers with whatever the test says. */
class ScriptedTransport implements Transport {
  readonly posted: Request[] = [];
  onMessage: (msg: FromWorker) => void = () => {};
  onCrash: (message: string) => void = () => {};
  post(msg: ToWorker): void {
    if (msg.type !== "cancel") this.posted.push(msg);
  }
  listen(onMessage: (msg: FromWorker) => void, onCrash: (message: string) => void): void {
    this.onMessage = onMessage;
    this.onCrash = onCrash;
  }
  terminate(): void {}
}

const body: fc.Arbitrary<RequestBody> = fc.oneof(
  fc.constant<RequestBody>({ type: "labels", tau: 0.3 }),
  fc.constant<RequestBody>({ type: "refine", tau: 0.3 }),
  fc.constant<RequestBody>({ type: "node", node: 1 }),
  fc.constant<RequestBody>({ type: "mask", tau: 0.3 }),
  fc.constant<RequestBody>({ type: "tree-file" }),
  fc.constant<RequestBody>({ type: "clear-model-cache" }),
  fc.constant<RequestBody>({ type: "segment", bytes: new ArrayBuffer(1), params: { features: { kind: "color", grid: 8 }, alpha: 10, tauMax: 0.9 }, tau: 0.5 }),
  fc.constant<RequestBody>({ type: "load-model", source: { kind: "url", url: "http://x/manifest.json" } }),
  fc.constant<RequestBody>({ type: "load-clip", source: { kind: "url", url: "http://x/clip/manifest.json" }, withText: false }),
  fc.constant<RequestBody>({ type: "name", rgba: new Uint8ClampedArray(4), labels: new Uint32Array(1), width: 1, height: 1, spec: "voc", size: 512 }),
);

/** What the worker might send: right answers to the last request, wrong ids and types, progress, errors, crashes. */
const answer = fc.oneof(
  fc.record({ kind: fc.constantFrom("done", "wrong-type", "error", "coded", "fatal", "cancelled", "progress"), id: fc.oneof(fc.constant(-1), fc.integer({ min: -2, max: 40 })) }),
  fc.record({ kind: fc.constant("crashed"), id: fc.constant(0) }),
);

type Step = { readonly op: "request"; readonly body: RequestBody } | { readonly op: "answer"; readonly a: { kind: string; id: number } } | { readonly op: "cancel"; readonly kind: RequestBody["type"] };

const step: fc.Arbitrary<Step> = fc.oneof(
  body.map((b): Step => ({ op: "request", body: b })),
  answer.map((a): Step => ({ op: "answer", a })),
  body.map((b): Step => ({ op: "cancel", kind: b.type })),
);

function message(t: ScriptedTransport, a: { kind: string; id: number }): FromWorker {
  const last = t.posted[t.posted.length - 1];
  const id = a.id === -1 ? (last?.id ?? 0) : a.id;
  const type = last?.type ?? "labels";
  switch (a.kind) {
    case "done":
      return { type: `${type}-done`, id, tau: 0.3, labels: new Uint32Array(1), ms: 0, json: "{}", png: new Uint8Array(1), files: 0, bytes: 0 } as unknown as FromWorker;
    case "wrong-type":
      return { type: "tree-file-done", id, json: "{}" };
    case "error":
      return { type: "error", id, message: "no", fatal: false };
    case "coded":
      return { type: "error", id, message: "needs the text part", fatal: false, code: "clip-text-needed" };
    case "fatal":
      return { type: "error", id, message: "trap", fatal: true };
    case "cancelled":
      return { type: "error", id, message: "stopped", fatal: false, cancelled: true };
    case "progress":
      return { type: "progress", id, loaded: 1, total: 2, file: null, note: null };
    default:
      return { type: "crashed", message: "the worker failed" };
  }
}

describe("fuzz: the worker protocol, page side", () => {
  it("any sequence of requests, answers and cancels: nothing throws, only the client's errors, all settled after a crash", async () => {
    const settledAll = fc.asyncProperty(fc.array(step, { maxLength: 30 }), async (steps) => {
      const t = new ScriptedTransport();
      let deaths = 0;
      const c = new WorkerClient(t, { onDeath: () => deaths++ });
      const outcomes: Promise<unknown>[] = [];
      for (const s of steps) {
        if (s.op === "request") {
          outcomes.push(
            c.request(s.body).then(
              () => "ok",
              (e: unknown) => {
                if (!(e instanceof WorkerError || e instanceof SupersededError || e instanceof CancelledError)) throw e;
                return "failed";
              },
            ),
          );
        } else if (s.op === "answer") t.onMessage(message(t, s.a));
        else c.cancel(s.kind);
      }
      t.onCrash("end of the test");
      expect(c.busy).toBe(false);
      expect(deaths).toBeLessThanOrEqual(1);
      // Every request has settled: a pending one would leave the page busy forever.
      const results = await Promise.race([Promise.all(outcomes), new Promise((resolve) => setTimeout(() => resolve("pending"), 1000))]);
      expect(results).not.toBe("pending");
    });
    let n = 0;
    await fc.assert(
      settledAll.beforeEach((previous: () => void) => {
        n++;
        previous();
      }),
      { numRuns: Number(process.env["FUZZ_RUNS"] ?? 100) || 100 },
    );
    console.log(`[fuzz] WorkerClient message sequences: ${n} inputs`);
  });
});

export {};
