/**
 * The worker that owns the wasm module: every call into DiffCut-rs happens here, off the page's
 * thread. It answers each request of `protocol.ts` with exactly one response.
 */
import init, { DiffCut } from "../pkg/diffcut.js";
import wasmUrl from "../pkg/diffcut_bg.wasm?url";
import { messageOf } from "./errors";
import { parseTreeJson, transferables } from "./protocol";
import type { Backend, Request, Response } from "./protocol";

/** The part of `DedicatedWorkerGlobalScope` used here (the DOM and WebWorker libs cannot mix). */
interface WorkerScope {
  postMessage(msg: Response, transfer: Transferable[]): void;
  addEventListener(type: "message", listener: (e: MessageEvent<Request>) => void): void;
}
const scope = self as unknown as WorkerScope;

let ready: Promise<unknown> | null = null;
let diffcut: DiffCut | null = null;

/** The parts of WebGPU's adapter info used here (TypeScript's DOM library has no WebGPU types). */
interface GpuAdapterInfoLike {
  readonly vendor?: string;
  readonly architecture?: string;
  readonly description?: string;
  readonly isFallbackAdapter?: boolean;
}
interface GpuLike {
  requestAdapter(): Promise<{ readonly info?: GpuAdapterInfoLike; readonly isFallbackAdapter?: boolean } | null>;
}

/**
 * The name of the browser's WebGPU adapter when it is a software rasteriser (SwiftShader, WARP,
 * llvmpipe), else null. On those the WGSL path is orders of magnitude slower than the CPU path.
 */
async function softwareAdapter(): Promise<string | null> {
  const gpu = (navigator as unknown as { gpu?: GpuLike }).gpu;
  if (!gpu) return null;
  try {
    const adapter = await gpu.requestAdapter();
    const info = adapter?.info;
    if (!adapter || !info) return null;
    const names = [info.vendor, info.architecture, info.description].filter(Boolean).join(" ");
    if (info.isFallbackAdapter === true || adapter.isFallbackAdapter === true || /swiftshader|llvmpipe|lavapipe|warp|software/i.test(names)) {
      return names || "fallback adapter";
    }
    return null;
  } catch {
    return null;
  }
}

function asBackend(s: string): Backend {
  return s === "webgpu" ? "webgpu" : "cpu";
}

function current(): DiffCut {
  if (diffcut === null) throw new Error("the segmenter is not initialised yet");
  return diffcut;
}

async function handle(msg: Request): Promise<Response> {
  switch (msg.type) {
    case "init": {
      ready ??= init({ module_or_path: wasmUrl });
      await ready;
      diffcut?.free();
      diffcut = null;
      const software = msg.device === "auto" ? await softwareAdapter() : null;
      const dc = await DiffCut.create(msg.device !== "cpu" && software === null);
      diffcut = dc;
      const note = software !== null ? `the WebGPU adapter is a software one (${software}), slower than the CPU path` : (dc.gpuNote ?? null);
      return { type: "init-done", id: msg.id, backend: asBackend(dc.backend), adapter: dc.adapter ?? null, note };
    }
    case "segment": {
      const dc = current();
      const info = await dc.segmentImage(new Uint8Array(msg.bytes), msg.params.grid, msg.params.alpha, msg.params.tauMax);
      try {
        const t0 = performance.now();
        const tree = parseTreeJson(dc.tree());
        const finest = dc.pixelLabels(msg.params.tauMax, info.width, info.height);
        const labels = dc.pixelLabels(Math.min(msg.tau, msg.params.tauMax), info.width, info.height);
        const labelsMs = performance.now() - t0;
        const rgba = new Uint8ClampedArray(dc.imageRgba().buffer);
        return {
          type: "segment-done",
          id: msg.id,
          info: {
            width: info.width,
            height: info.height,
            grid: info.grid,
            nodes: info.nodes,
            finestSegments: info.finestSegments,
            backend: asBackend(info.backend),
            note: info.note ?? null,
            decodeMs: info.decodeMs,
            featuresMs: info.featuresMs,
            treeMs: info.treeMs,
            labelsMs,
          },
          tree,
          rgba,
          finest,
          labels,
          tau: msg.tau,
        };
      } finally {
        info.free();
      }
    }
    case "labels": {
      const dc = current();
      const t0 = performance.now();
      const labels = dc.pixelLabels(msg.tau, dc.imageWidth, dc.imageHeight);
      return { type: "labels-done", id: msg.id, tau: msg.tau, labels, ms: performance.now() - t0 };
    }
    case "refine": {
      const dc = current();
      const t0 = performance.now();
      const labels = dc.refinedLabels(msg.tau);
      return { type: "refine-done", id: msg.id, tau: msg.tau, labels, ms: performance.now() - t0 };
    }
    case "node": {
      const dc = current();
      return {
        type: "node-done",
        id: msg.id,
        node: msg.node,
        fiedler: dc.fiedler(msg.node),
        curve: dc.ncutCurve(msg.node),
        thresholds: dc.cutThresholds(msg.node),
      };
    }
    case "mask": {
      const dc = current();
      return { type: "mask-done", id: msg.id, png: dc.maskPng(msg.tau, dc.imageWidth, dc.imageHeight) };
    }
    case "tree-file":
      return { type: "tree-file-done", id: msg.id, json: current().treeFile() };
  }
}

// Requests are handled one at a time, in order (the page sends one at a time anyway).
let queue: Promise<void> = Promise.resolve();
scope.addEventListener("message", (e: MessageEvent<Request>) => {
  const msg = e.data;
  queue = queue.then(async () => {
    let reply: Response;
    try {
      reply = await handle(msg);
    } catch (err) {
      // A trap (a Rust panic, out of memory) leaves the wasm instance unusable.
      const fatal = err instanceof WebAssembly.RuntimeError;
      reply = { type: "error", id: msg.id, message: messageOf(err), fatal };
    }
    scope.postMessage(reply, transferables(reply));
  });
});
