/**
 * The segmenting worker's side of the CPU path's helper worker (`cpu-helper-worker.ts`): the
 * `helper` to hand to `DiffCut.create`. The library posts about half of each affinity's Gram
 * tiles (`tiles`) and the smaller of the root's two subtrees (`subtree`) to it, and does the rest
 * meanwhile. The helper worker starts on the first request (or on `warm`), so a page whose trees
 * grow on WebGPU never starts it. Answers are matched by id. If the helper worker dies, every
 * request in flight and every later one rejects at once, and the library does that work itself:
 * slower, never wrong.
 */

/** Work for the helper worker (the buffers move to it: they are the library's copies). */
export type HelperRequest =
  /** First, always: the light module as the segmenting worker compiled it (shared machine code, so the helper starts without compiling and runs code already optimised). */
  | { readonly kind: "start"; readonly id: number; readonly module: WebAssembly.Module }
  /** Gram tiles of the normalised features `x` `[n, c]`, as `(row, col)` pairs. */
  | { readonly kind: "tiles"; readonly id: number; readonly x: Float32Array; readonly c: number; readonly tiles: Uint32Array }
  /** A region's subtree: its affinity `[n, n]`, its excluded cells, the job's parameters (`ncut::wire`). */
  | { readonly kind: "subtree"; readonly id: number; readonly w: Float32Array; readonly excluded: Uint8Array; readonly params: Float64Array };

/** The helper's answer: the tiles' products or the subtree's encoded nodes, or why there are none. */
export type HelperReply = { readonly id: number; readonly result: Float32Array | Float64Array } | { readonly id: number; readonly error: string };

/** What the helper needs of a worker (a `Worker`, or a fake in the unit tests). */
export interface HelperPort {
  postMessage(msg: HelperRequest, transfer: Transferable[]): void;
  addEventListener(type: "message", listener: (e: MessageEvent<HelperReply>) => void): void;
  addEventListener(type: "error", listener: (e: Event) => void): void;
  terminate(): void;
}

export class CpuHelper {
  private next = 0;
  private readonly pending = new Map<number, { resolve: (r: Float32Array | Float64Array) => void; reject: (e: Error) => void }>();
  private dead: string | null = null;
  private port: HelperPort | null = null;

  /**
   * `open` starts the helper worker (`cpu-helper-worker.ts`, or a fake in the tests), which is
   * then sent `module`, the light module.
   */
  constructor(
    private readonly open: () => HelperPort,
    private readonly module: WebAssembly.Module,
  ) {}

  /** Starts the helper worker now, so that it is ready by the first request. */
  warm(): void {
    this.started();
  }

  /** Products of Gram tiles (`gramTiles` in the helper). */
  tiles(x: Float32Array, c: number, tiles: Uint32Array): Promise<Float32Array> {
    return this.post({ kind: "tiles", id: this.next++, x, c, tiles }, [x.buffer, tiles.buffer], Float32Array);
  }

  /** A region's subtree, encoded (`growSubtree` in the helper). */
  subtree(w: Float32Array, excluded: Uint8Array, params: Float64Array): Promise<Float64Array> {
    return this.post({ kind: "subtree", id: this.next++, w, excluded, params }, [w.buffer, excluded.buffer, params.buffer], Float64Array);
  }

  /** Stops the helper worker; later requests reject (and the library does their work). */
  stop(): void {
    this.port?.terminate();
    this.die("the helper worker was stopped");
  }

  private post<T extends Float32Array | Float64Array>(msg: HelperRequest, transfer: Transferable[], type: { new (n: number): T }): Promise<T> {
    const port = this.started();
    if (port === null) return Promise.reject(new Error(this.dead ?? "the helper worker is gone"));
    return new Promise<T>((resolve, reject) => {
      this.pending.set(msg.id, {
        resolve: (r) => (r instanceof type ? resolve(r) : reject(new Error(`the helper answered ${msg.kind} with the wrong kind of array`))),
        reject,
      });
      port.postMessage(msg, transfer);
    });
  }

  /** The helper worker, started if need be; null once it is dead or could not start. */
  private started(): HelperPort | null {
    if (this.dead !== null) return null;
    if (this.port !== null) return this.port;
    let port: HelperPort;
    try {
      port = this.open();
    } catch (err) {
      // A browser without workers inside workers: the segmenting worker does all the work.
      this.die(`the helper worker could not start: ${err instanceof Error ? err.message : String(err)}`);
      return null;
    }
    port.addEventListener("message", (e) => this.answer(e.data));
    port.addEventListener("error", (e) => {
      e.preventDefault();
      this.die("the helper worker stopped");
    });
    port.postMessage({ kind: "start", id: -1, module: this.module }, []);
    this.port = port;
    return port;
  }

  private answer(msg: HelperReply): void {
    const job = this.pending.get(msg.id);
    if (job === undefined) return;
    this.pending.delete(msg.id);
    if ("result" in msg) job.resolve(msg.result);
    else job.reject(new Error(msg.error));
  }

  private die(why: string): void {
    this.dead ??= why;
    for (const job of this.pending.values()) job.reject(new Error(why));
    this.pending.clear();
  }
}
