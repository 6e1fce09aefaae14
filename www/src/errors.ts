/** Typed errors of the page; each carries the underlying `cause` when there is one. */

/** The image could not be read or prepared in the browser. */
export class ImageInputError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ImageInputError";
  }
}

/** The worker (and the wasm module in it) reported a failure. */
export class WorkerError extends Error {
  /** The wasm instance trapped and the worker was replaced. */
  readonly fatal: boolean;
  /** What kind of failure, where the page acts on it (protocol.ts's `ErrorCode`), else null. */
  readonly code: string | null;

  constructor(message: string, fatal: boolean, options?: ErrorOptions & { readonly code?: string | undefined }) {
    super(message, options);
    this.name = "WorkerError";
    this.fatal = fatal;
    this.code = options?.code ?? null;
  }
}

/** A request was dropped because a newer one of the same kind replaced it before it ran. */
export class SupersededError extends Error {
  constructor(kind: string) {
    super(`superseded by a newer ${kind} request`);
    this.name = "SupersededError";
  }
}

/** The user cancelled the request (a model download); nothing changed. */
export class CancelledError extends Error {
  constructor(message = "cancelled") {
    super(message);
    this.name = "CancelledError";
  }
}

/** The message of any thrown value. */
export function messageOf(e: unknown): string {
  if (e instanceof Error) return e.message;
  return typeof e === "string" ? e : JSON.stringify(e);
}

/** The `default` of an exhaustive switch: a compile error where a case is missing, a throw if a value from outside the types arrives. */
export function unreachable(x: never): never {
  throw new Error(`unexpected value: ${JSON.stringify(x)}`);
}
