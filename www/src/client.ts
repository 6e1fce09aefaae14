/**
 * The page's side of the worker protocol: one request in flight at a time, and at most one
 * waiting per kind. A newer request of a kind replaces the waiting one (so dragging a slider
 * never builds a backlog), and a new segmentation also drops waiting label and node requests,
 * which would be about the old tree.
 */
import { SupersededError, WorkerError } from "./errors";
import type { Request, RequestBody, RequestType, Response, ResponseFor } from "./protocol";

/** How the client talks to the worker (a `Worker`, or a fake in tests). */
export interface Transport {
  post(msg: Request, transfer: Transferable[]): void;
  /** Registers the handler for the worker's messages and its crashes (`error` events). */
  listen(onMessage: (msg: Response) => void, onCrash: (message: string) => void): void;
  terminate(): void;
}

/** A {@link Transport} over a dedicated worker. */
export function workerTransport(worker: Worker): Transport {
  return {
    post: (msg, transfer) => worker.postMessage(msg, transfer),
    listen: (onMessage, onCrash) => {
      worker.addEventListener("message", (e: MessageEvent<Response>) => onMessage(e.data));
      worker.addEventListener("error", (e: ErrorEvent) => {
        e.preventDefault();
        onCrash(e.message || "the worker failed to start");
      });
    },
    terminate: () => worker.terminate(),
  };
}

interface Job {
  readonly msg: Request;
  readonly transfer: Transferable[];
  readonly resolve: (r: Response) => void;
  readonly reject: (e: Error) => void;
}

/** Order in which waiting kinds are sent. */
const ORDER: readonly RequestType[] = ["init", "segment", "labels", "node", "mask", "tree-file", "refine"];
/** Kinds a new request of the key kind makes obsolete. */
const OBSOLETES: Partial<Record<RequestType, readonly RequestType[]>> = {
  init: ["segment", "labels", "node", "mask", "tree-file", "refine"],
  segment: ["labels", "node", "mask", "tree-file", "refine"],
  labels: ["refine"],
};

export class WorkerClient {
  private nextId = 1;
  private inFlight: Job | null = null;
  private readonly waiting = new Map<RequestType, Job>();
  private dead: string | null = null;

  constructor(private readonly transport: Transport) {
    transport.listen(
      (msg) => this.receive(msg),
      (message) => this.crash(message),
    );
  }

  /** True while a request is being processed or waiting. */
  get busy(): boolean {
    return this.inFlight !== null || this.waiting.size > 0;
  }

  /**
   * Sends a request (now, or when the worker is free) and resolves with its response.
   *
   * @throws {SupersededError} when a newer request replaced this one before it was sent.
   * @throws {WorkerError} when the worker answered with an error or crashed.
   */
  request<T extends RequestType>(body: Extract<RequestBody, { type: T }>, transfer: Transferable[] = []): Promise<ResponseFor<T>> {
    return new Promise<ResponseFor<T>>((resolve, reject) => {
      if (this.dead !== null) {
        reject(new WorkerError(this.dead, true));
        return;
      }
      const msg = { ...body, id: this.nextId++ } as Request;
      const job: Job = { msg, transfer, resolve: resolve as (r: Response) => void, reject };
      for (const kind of [body.type, ...(OBSOLETES[body.type] ?? [])]) {
        this.waiting.get(kind)?.reject(new SupersededError(kind));
        this.waiting.delete(kind);
      }
      this.waiting.set(body.type, job);
      this.pump();
    });
  }

  /** Stops the worker; the requests not yet answered fail with {@link SupersededError}. */
  terminate(): void {
    this.dead = "the worker was stopped";
    this.inFlight?.reject(new SupersededError("worker"));
    this.inFlight = null;
    for (const job of this.waiting.values()) job.reject(new SupersededError("worker"));
    this.waiting.clear();
    this.transport.terminate();
  }

  private pump(): void {
    if (this.inFlight !== null) return;
    const kind = ORDER.find((k) => this.waiting.has(k));
    if (kind === undefined) return;
    const job = this.waiting.get(kind);
    this.waiting.delete(kind);
    if (!job) return;
    this.inFlight = job;
    this.transport.post(job.msg, job.transfer);
  }

  private receive(msg: Response): void {
    const job = this.inFlight;
    if (job === null || job.msg.id !== msg.id) return; // a stray answer (cannot happen with one in flight)
    this.inFlight = null;
    if (msg.type === "error") {
      if (msg.fatal) this.dead = msg.message;
      job.reject(new WorkerError(msg.message, msg.fatal));
    } else if (msg.type !== `${job.msg.type}-done`) {
      job.reject(new WorkerError(`the worker answered ${msg.type} to ${job.msg.type}`, false));
    } else {
      job.resolve(msg);
    }
    if (this.dead !== null) this.failAll(this.dead);
    else this.pump();
  }

  private crash(message: string): void {
    this.dead = message;
    this.inFlight?.reject(new WorkerError(message, true));
    this.inFlight = null;
    this.failAll(message);
  }

  private failAll(message: string): void {
    for (const job of this.waiting.values()) job.reject(new WorkerError(message, true));
    this.waiting.clear();
  }
}
