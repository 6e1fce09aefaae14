/**
 * The page's side of the worker protocol: one request in flight at a time per lane, and at most
 * one waiting per kind. Model loads (and clearing their cache) run in a lane of their own, so the
 * page keeps segmenting with colour features and moving τ while a model downloads; CLIP (its load
 * and naming segments) in a third. A newer request of a kind replaces the waiting one (so dragging a slider
 * never builds a backlog), and a new segmentation also drops waiting label and node requests,
 * which would be about the old tree. A request may take progress messages (a model load) before
 * its answer, and the running one can be cancelled.
 *
 * The page never waits on the worker without a bound: each request in flight has a time limit
 * ({@link TIME_LIMITS_MS}; a model load's is the time without progress), and a running request
 * that was asked to stop must answer within {@link CANCEL_GRACE_MS}. A worker past a limit is
 * taken as stuck (a trap, a loop, a model or tree made to be slow) exactly as one that crashed:
 * everything pending fails with a fatal {@link WorkerError}, and `onDeath` tells the page, which
 * replaces the worker.
 */
import { CancelledError, SupersededError, WorkerError } from "./errors";
import { laneOf, type FromWorker, type Lane, type Progress, type Request, type RequestBody, type RequestType, type Response, type ResponseFor, type ToWorker } from "./protocol";

/** How the client talks to the worker (a `Worker`, or a fake in tests). */
export interface Transport {
  post(msg: ToWorker, transfer: Transferable[]): void;
  /** Registers the handler for the worker's messages and its crashes (`error` events). */
  listen(onMessage: (msg: FromWorker) => void, onCrash: (message: string) => void): void;
  terminate(): void;
}

/**
 * How long a request may run in the worker before the worker is taken as stuck, in ms. Generous:
 * the bound is for a hang, not for a slow machine (a software WebGPU adapter, a large model).
 * `load-model` and `load-clip` count from their last progress message (a download of GBs makes
 * progress all along).
 */
export const TIME_LIMITS_MS: Readonly<Record<RequestType, number>> = {
  init: 120_000,
  prepare: 60_000,
  segment: 600_000,
  frame: 60_000,
  labels: 120_000,
  refine: 300_000,
  node: 60_000,
  mask: 120_000,
  pick: 300_000,
  region: 300_000,
  cutout: 120_000,
  "selection-mask": 120_000,
  "tree-file": 60_000,
  autosc: 300_000,
  "alpha-count": 300_000,
  "load-model": 300_000,
  "clear-model-cache": 60_000,
  "load-clip": 300_000,
  name: 300_000,
};

/** Requests whose time limit counts from their last progress message (downloads). */
const BY_PROGRESS: readonly RequestType[] = ["load-model", "load-clip"];

/** How long a running request asked to stop may take to answer before the worker is taken as stuck. */
export const CANCEL_GRACE_MS = 15_000;

/** Options of {@link WorkerClient}. */
export interface ClientOptions {
  /**
   * Called once when the worker is dead: it crashed, trapped (a fatal error), or passed a time
   * limit. Everything pending has failed with a fatal {@link WorkerError} just before.
   */
  readonly onDeath?: (message: string) => void;
  /** Time limits replacing {@link TIME_LIMITS_MS}'s (tests). */
  readonly limits?: Partial<Record<RequestType, number>>;
  /** Replaces {@link CANCEL_GRACE_MS} (tests). */
  readonly cancelGraceMs?: number;
}

/** Options of {@link WorkerClient.request}. */
export interface RequestOptions {
  /** Called with each progress message of the request while it runs. */
  readonly onProgress?: (p: Progress) => void;
}

/** A {@link Transport} over a dedicated worker. */
export function workerTransport(worker: Worker): Transport {
  return {
    post: (msg, transfer) => worker.postMessage(msg, transfer),
    listen: (onMessage, onCrash) => {
      worker.addEventListener("message", (e: MessageEvent<FromWorker>) => onMessage(e.data));
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
  readonly onProgress: ((p: Progress) => void) | undefined;
  /** The time limit's timer while the job is in flight. */
  timer?: ReturnType<typeof setTimeout>;
}

/** Rank of each kind when several wait (lowest first); a record, so that no kind can be left out. */
const PRIORITY: Readonly<Record<RequestType, number>> = {
  init: 0,
  "load-model": 1,
  prepare: 2,
  segment: 3,
  frame: 3.5,
  labels: 4,
  pick: 5,
  region: 6,
  node: 7,
  mask: 8,
  cutout: 9,
  "selection-mask": 10,
  "tree-file": 11,
  refine: 12,
  autosc: 12.5,
  "alpha-count": 12.6,
  "clear-model-cache": 13,
  "load-clip": 1,
  name: 14,
};
/** Order in which waiting kinds are sent. */
const ORDER: readonly RequestType[] = (Object.keys(PRIORITY) as RequestType[]).sort((a, b) => PRIORITY[a] - PRIORITY[b]);
/** What depends on the segmentation on screen: a new one (or a new worker) makes it obsolete. */
const OF_SEGMENTATION: readonly RequestType[] = ["labels", "pick", "region", "node", "mask", "cutout", "selection-mask", "tree-file", "refine", "autosc", "alpha-count"];
/** Kinds a new request of the key kind makes obsolete. */
const OBSOLETES: Partial<Record<RequestType, readonly RequestType[]>> = {
  init: ["segment", "frame", ...OF_SEGMENTATION],
  segment: ["frame", ...OF_SEGMENTATION],
  frame: OF_SEGMENTATION,
  labels: ["refine"],
};

export class WorkerClient {
  private nextId = 1;
  private readonly inFlight = new Map<Lane, Job>();
  private readonly waiting = new Map<RequestType, Job>();
  private dead: string | null = null;
  private readonly limits: Readonly<Record<RequestType, number>>;
  private readonly cancelGraceMs: number;

  constructor(
    private readonly transport: Transport,
    private readonly options: ClientOptions = {},
  ) {
    this.limits = { ...TIME_LIMITS_MS, ...options.limits };
    this.cancelGraceMs = options.cancelGraceMs ?? CANCEL_GRACE_MS;
    transport.listen(
      (msg) => this.receive(msg),
      (message) => this.crash(message),
    );
  }

  /** Why the worker is dead (crashed, trapped, stuck or stopped), or null while it works. */
  get deadReason(): string | null {
    return this.dead;
  }

  /** True while a request is being processed or waiting. */
  get busy(): boolean {
    return this.inFlight.size > 0 || this.waiting.size > 0;
  }

  /**
   * Sends a request (now, or when the worker is free) and resolves with its response.
   *
   * @throws {SupersededError} when a newer request replaced this one before it was sent.
   * @throws {WorkerError} when the worker answered with an error or crashed.
   */
  request<T extends RequestType>(body: Extract<RequestBody, { type: T }>, transfer: Transferable[] = [], options: RequestOptions = {}): Promise<ResponseFor<T>> {
    return new Promise<ResponseFor<T>>((resolve, reject) => {
      if (this.dead !== null) {
        reject(new WorkerError(this.dead, true));
        return;
      }
      const msg = { ...body, id: this.nextId++ } as Request;
      const job: Job = { msg, transfer, resolve: resolve as (r: Response) => void, reject, onProgress: options.onProgress };
      for (const kind of [body.type, ...(OBSOLETES[body.type] ?? [])]) {
        this.waiting.get(kind)?.reject(new SupersededError(kind));
        this.waiting.delete(kind);
      }
      this.waiting.set(body.type, job);
      this.pump();
    });
  }

  /**
   * Cancels the request of kind `kind`: a waiting one fails at once with {@link CancelledError};
   * the running one is asked to stop, and fails with {@link CancelledError} when the worker has
   * stopped it (or resolves, if it finished first). Anything else is left alone.
   */
  cancel(kind: RequestType): void {
    const waiting = this.waiting.get(kind);
    if (waiting) {
      this.waiting.delete(kind);
      waiting.reject(new CancelledError(`the ${kind} request was cancelled`));
    }
    const running = this.inFlight.get(laneOf(kind));
    if (running?.msg.type === kind && this.dead === null) {
      this.transport.post({ type: "cancel", id: running.msg.id }, []);
      // It must answer soon (cancelled, or done); a worker that cannot stop is stuck.
      this.arm(running, this.cancelGraceMs, `the worker did not stop the ${kind} request within ${seconds(this.cancelGraceMs)} of being asked to`);
    }
  }

  /** Stops the worker; the requests not yet answered fail with {@link SupersededError}. */
  terminate(): void {
    this.dead ??= "the worker was stopped";
    for (const job of this.inFlight.values()) {
      clearTimeout(job.timer);
      job.reject(new SupersededError("worker"));
    }
    this.inFlight.clear();
    for (const job of this.waiting.values()) job.reject(new SupersededError("worker"));
    this.waiting.clear();
    this.transport.terminate();
  }

  /** (Re)starts `job`'s timer: past `ms`, the worker is taken as stuck. */
  private arm(job: Job, ms: number, why: string): void {
    clearTimeout(job.timer);
    job.timer = setTimeout(() => {
      if ([...this.inFlight.values()].includes(job)) this.crash(why);
    }, ms);
  }

  /** Starts the time limit of a job just sent. */
  private armLimit(job: Job): void {
    const kind = job.msg.type;
    const ms = this.limits[kind];
    const what = BY_PROGRESS.includes(kind) ? `made no progress loading ${kind === "load-clip" ? "CLIP" : "the model"} for ${seconds(ms)}` : `did not answer the ${kind} request within ${seconds(ms)}`;
    this.arm(job, ms, `the worker ${what}`);
  }

  private pump(): void {
    for (const lane of ["main", "model", "clip"] as const) {
      if (this.inFlight.has(lane)) continue;
      const kind = ORDER.find((k) => laneOf(k) === lane && this.waiting.has(k));
      if (kind === undefined) continue;
      const job = this.waiting.get(kind);
      this.waiting.delete(kind);
      if (!job) continue;
      this.inFlight.set(lane, job);
      this.transport.post(job.msg, job.transfer);
      this.armLimit(job);
    }
  }

  private receive(msg: FromWorker): void {
    if (msg.type === "crashed") {
      this.crash(msg.message);
      return;
    }
    const lane = [...this.inFlight.entries()].find(([, j]) => j.msg.id === msg.id)?.[0];
    const job = lane === undefined ? undefined : this.inFlight.get(lane);
    if (lane === undefined || job === undefined) return; // a stray answer (cannot happen: ids are unique)
    if (msg.type === "progress") {
      if (BY_PROGRESS.includes(job.msg.type)) this.armLimit(job); // its limit is on the time without progress
      job.onProgress?.(msg);
      return;
    }
    clearTimeout(job.timer);
    this.inFlight.delete(lane);
    if (msg.type === "error") {
      if (msg.fatal) this.dead = msg.message;
      job.reject(msg.cancelled === true && !msg.fatal ? new CancelledError(msg.message) : new WorkerError(msg.message, msg.fatal, { code: msg.code }));
    } else if (msg.type !== `${job.msg.type}-done`) {
      job.reject(new WorkerError(`the worker answered ${msg.type} to ${job.msg.type}`, false));
    } else {
      job.resolve(msg);
    }
    if (this.dead !== null) this.die(this.dead);
    else this.pump();
  }

  private crash(message: string): void {
    if (this.dead !== null) return; // already dead (or stopped): told once
    this.dead = message;
    this.die(message);
  }

  /** Fails everything running and waiting (the worker is gone or unusable), then says so. */
  private die(message: string): void {
    this.failAll(message);
    this.options.onDeath?.(message);
  }

  private failAll(message: string): void {
    for (const job of this.inFlight.values()) {
      clearTimeout(job.timer);
      job.reject(new WorkerError(message, true));
    }
    this.inFlight.clear();
    for (const job of this.waiting.values()) job.reject(new WorkerError(message, true));
    this.waiting.clear();
  }
}

/** `ms` in words: "90 s", "5 min". */
function seconds(ms: number): string {
  return ms >= 120_000 && ms % 60_000 === 0 ? `${ms / 60_000} min` : `${Math.round(ms / 100) / 10} s`;
}
