/**
 * Getting a converted model's files into the wasm module (the worker's side), with its
 * dependencies passed in so that the unit tests can fake them: the network (`fetch`), Cache
 * Storage, the storage estimate, and the wasm loader (`modelBegin` / `modelAddFile`).
 *
 * From a URL: `manifest.json` (never cached: it says what the files must be), then each file the
 * wasm module asks for, from Cache Storage when a copy with the manifest's sha256 is there, else
 * from the network, streamed for the progress bar. A file is written to the cache only after the
 * wasm module has checked it (bytes and sha256); a cached copy that fails that check is removed
 * and the error says so (only that check: a trap while adding a cached file leaves it cached). From disk: the same, reading the picked files.
 */
import { cacheDecision, fileUrl, filesToLoad, findManifest, matchPicked, parseManifest, ProgressTracker, sumBytes, type Manifest, type ManifestFile, type StorageEstimateLike } from "./model-load";

/** The Cache Storage bucket (bump the version if the stored format changes). */
export const CACHE_NAME = "diffcut-models-v1";
/** Header of a cached copy: the sha256 it was checked against. */
export const SHA_HEADER = "x-diffcut-sha256";

/** The part of `Cache` used here. */
export interface CacheLike {
  match(key: string): Promise<Response | undefined>;
  put(key: string, response: Response): Promise<void>;
  delete(key: string): Promise<boolean>;
}

/** The wasm module's loader. */
export interface ModelSink {
  /** Parses the manifest; resolves to the names of the files to add, config first. */
  begin(manifest: Uint8Array): Promise<string[]>;
  /**
   * Checks (bytes, sha256) and takes one file; throws naming the file on a mismatch, with an
   * error named `ModelFileError` (see {@link isFileRejection}).
   */
  add(name: string, bytes: Uint8Array): void;
}

/** The name the wasm module gives the error of a file whose bytes are not its manifest's (size, sha256, format). */
export const FILE_REJECTION = "ModelFileError";

/** Whether `e` is the wasm module's verdict that a file's bytes are wrong (and nothing else). */
export function isFileRejection(e: unknown): boolean {
  return e instanceof Error && e.name === FILE_REJECTION && !(e instanceof WebAssembly.RuntimeError);
}

/** A progress event: bytes so far over the files being read. */
export interface LoadProgress {
  readonly loaded: number;
  readonly total: number;
  /** The file being read, when there is one. */
  readonly file: string | null;
  /** Something the user should know (no caching, a cache problem), once. */
  readonly note: string | null;
  /** The last event of a file, or one with a note: never dropped by throttling. */
  readonly force: boolean;
}

/** What a load did. */
export interface LoadReport {
  readonly manifest: Manifest;
  readonly files: number;
  readonly bytes: number;
  /** Files read from Cache Storage. */
  readonly fromCache: number;
  /** Whether the files are in Cache Storage now (all of them). */
  readonly cached: boolean;
  readonly notes: readonly string[];
}

/** The error of a cancelled load (`name` is `AbortError`, like `fetch`'s). */
export function abortError(): DOMException {
  return new DOMException("the model download was cancelled", "AbortError");
}

export function isAbort(e: unknown): boolean {
  return e instanceof DOMException && e.name === "AbortError";
}

function throwIfAborted(signal: AbortSignal): void {
  if (signal.aborted) throw abortError();
}

/**
 * Reads a body into one buffer of the manifest's size, calling `onBytes` with the running count.
 * A shorter body comes back shorter (the wasm check then names the file); a longer one is an
 * error at once (nothing past the manifest's size is kept).
 */
export async function readBody(body: ReadableStream<Uint8Array> | null, name: string, expected: number, onBytes: (loaded: number) => void, signal: AbortSignal): Promise<Uint8Array<ArrayBuffer>> {
  const out = new Uint8Array(expected);
  let at = 0;
  await eachChunk(body, signal, (value) => {
    if (at + value.length > expected) throw new Error(`${name}: more than the ${expected} bytes its manifest says (a different or damaged file)`);
    out.set(value, at);
    at += value.length;
    onBytes(at);
  });
  return at === expected ? out : out.subarray(0, at);
}

/** Calls `onChunk` with each chunk of `body` as it arrives; a cancel stops the read with an AbortError. */
async function eachChunk(body: ReadableStream<Uint8Array> | null, signal: AbortSignal, onChunk: (chunk: Uint8Array) => void): Promise<void> {
  if (body === null) return;
  const reader = body.getReader();
  const abort = (): void => void reader.cancel().catch(() => undefined);
  signal.addEventListener("abort", abort, { once: true });
  try {
    for (;;) {
      throwIfAborted(signal);
      const { done, value } = await reader.read();
      throwIfAborted(signal);
      if (done) return;
      onChunk(value);
    }
  } finally {
    signal.removeEventListener("abort", abort);
    reader.releaseLock();
  }
}

/** Sends progress events, keeping the notes. */
class Reporter {
  readonly notes: string[] = [];
  constructor(
    readonly tracker: ProgressTracker,
    private readonly emit: (p: LoadProgress) => void,
  ) {}

  bytes(file: string, loaded: number): void {
    this.tracker.set(file, loaded);
    this.emit({ loaded: this.tracker.loaded, total: this.tracker.total, file, note: null, force: false });
  }

  done(file: string): void {
    this.tracker.done(file);
    this.emit({ loaded: this.tracker.loaded, total: this.tracker.total, file, note: null, force: true });
  }

  note(note: string): void {
    this.notes.push(note);
    this.emit({ loaded: this.tracker.loaded, total: this.tracker.total, file: null, note, force: true });
  }
}

export interface UrlLoad {
  readonly manifestUrl: string;
  readonly fetch: FetchLike;
  /** `null` where Cache Storage is not available. */
  readonly openCache: (() => Promise<CacheLike>) | null;
  readonly estimate: () => Promise<StorageEstimateLike | null>;
  readonly sink: ModelSink;
  readonly onProgress: (p: LoadProgress) => void;
  readonly signal: AbortSignal;
}

/** The `fetch` used here (the worker's, or a fake in tests). */
export type FetchLike = (url: string, init: RequestInit) => Promise<Response>;

/** `fetch`, with an error that names what was fetched, from where, and the likely causes. */
async function request(fetchFn: FetchLike, url: string, init: RequestInit, what: string, signal: AbortSignal): Promise<Response> {
  let response: Response;
  try {
    response = await fetchFn(url, { ...init, signal });
  } catch (e) {
    if (isAbort(e) || signal.aborted) throw abortError();
    const why = e instanceof Error ? e.message : String(e);
    throw new Error(`cannot fetch ${what} from ${url} (${why}): the network is down, the host does not allow this page (CORS), or the page's Content-Security-Policy does not list it`, { cause: e });
  }
  if (!response.ok) throw new Error(`cannot fetch ${what} from ${url}: HTTP ${response.status}${response.statusText ? ` ${response.statusText}` : ""}`);
  return response;
}

function fetchOk(load: UrlLoad, url: string, what: string): Promise<Response> {
  return request(load.fetch, url, { cache: "no-cache", credentials: "omit" }, what, load.signal);
}

/**
 * Downloads `url` whole, calling `onBytes` as bytes arrive (for the diffusion module's wasm, tens
 * of MB). `total` is the Content-Length when the body is not content-encoded, else null: a
 * compressed body's length counts bytes on the wire, not the ones read here.
 */
export async function fetchWithProgress(fetchFn: FetchLike, url: string, what: string, onBytes: (loaded: number, total: number | null) => void, signal: AbortSignal): Promise<Uint8Array<ArrayBuffer>> {
  const response = await request(fetchFn, url, { credentials: "same-origin" }, what, signal);
  const encoding = response.headers.get("content-encoding");
  const length = Number(response.headers.get("content-length") ?? Number.NaN);
  const total = (encoding === null || encoding === "identity") && Number.isSafeInteger(length) && length >= 0 ? length : null;
  onBytes(0, total);
  const chunks: Uint8Array[] = [];
  let loaded = 0;
  await eachChunk(response.body, signal, (value) => {
    chunks.push(value);
    loaded += value.length;
    onBytes(loaded, total === null ? null : Math.max(total, loaded));
  });
  if (total !== null && loaded < total) throw new Error(`${what} from ${url}: the download stopped after ${loaded} of ${total} bytes`);
  const out = new Uint8Array(loaded);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

/** A cached copy of `file` checked against this manifest's sha256, or undefined (a stale one is removed). */
async function cachedCopy(cache: CacheLike, url: string, file: ManifestFile): Promise<Response | undefined> {
  const hit = await cache.match(url);
  if (hit === undefined) return undefined;
  if (hit.headers.get(SHA_HEADER) !== file.sha256) {
    await cache.delete(url);
    return undefined;
  }
  return hit;
}

/** Loads a model from the URL of its manifest (see the module comment). */
export async function loadFromUrl(load: UrlLoad): Promise<LoadReport> {
  const { signal, sink } = load;
  const manifestBytes = new Uint8Array(await (await fetchOk(load, load.manifestUrl, "the model manifest")).arrayBuffer());
  throwIfAborted(signal);
  const manifest = parseManifest(new TextDecoder().decode(manifestBytes));
  const names = await sink.begin(manifestBytes);
  throwIfAborted(signal);
  const files = filesToLoad(manifest, names);
  const urls = new Map(files.map((f) => [f.name, fileUrl(load.manifestUrl, f.name)]));
  const report = new Reporter(new ProgressTracker(files), load.onProgress);

  let cache: CacheLike | null = null;
  let inCache = new Set<string>();
  if (load.openCache !== null) {
    try {
      cache = await load.openCache();
      const c = cache;
      const hits = await Promise.all(files.map(async (f) => ((await cachedCopy(c, urls.get(f.name) ?? "", f)) ? f.name : null)));
      inCache = new Set(hits.filter((n): n is string => n !== null));
    } catch (e) {
      cache = null;
      report.note(`Cache Storage failed (${e instanceof Error ? e.message : String(e)}): downloading without caching`);
    }
  }
  let store: CacheLike | null = null;
  if (cache !== null) {
    const needed = sumBytes(files.filter((f) => !inCache.has(f.name)));
    const decision = cacheDecision(await load.estimate().catch(() => null), needed, true);
    if (decision.note !== null) report.note(decision.note);
    store = decision.cache ? cache : null;
  } else if (load.openCache === null) {
    report.note(cacheDecision(null, 0, false).note ?? "no Cache Storage: downloading without caching");
  }
  throwIfAborted(signal);

  let fromCache = 0;
  let cachedFiles = 0;
  for (const file of files) {
    const url = urls.get(file.name) ?? "";
    const hit = cache !== null && inCache.has(file.name) ? await cachedCopy(cache, url, file) : undefined;
    const response = hit ?? (await fetchOk(load, url, file.name));
    const bytes = await readBody(response.body, file.name, file.bytes, (n) => report.bytes(file.name, n), signal);
    try {
      sink.add(file.name, bytes);
    } catch (e) {
      // Only the wasm's verdict on the bytes says the cached copy is bad: anything else (a trap,
      // a model the module cannot build) leaves a good file where it is.
      if (hit !== undefined && cache !== null && isFileRejection(e)) {
        await cache.delete(url).catch(() => false);
        const why = e instanceof Error ? e.message : String(e);
        throw new Error(`${why} (this was the copy in the browser's cache; it has been removed: load the model again to download it afresh)`, { cause: e });
      }
      throw e;
    }
    report.done(file.name);
    if (hit !== undefined) {
      fromCache++;
      cachedFiles++;
    } else if (store !== null) {
      try {
        const headers = { "content-type": "application/octet-stream", "content-length": String(bytes.length), [SHA_HEADER]: file.sha256 };
        await store.put(url, new Response(bytes, { headers }));
        cachedFiles++;
      } catch (e) {
        store = null;
        report.note(`caching stopped (${e instanceof Error ? e.message : String(e)}): the rest is downloaded without caching`);
      }
    }
    throwIfAborted(signal);
  }
  return { manifest, files: files.length, bytes: report.tracker.total, fromCache, cached: cachedFiles === files.length, notes: report.notes };
}

/** A file picked from disk: its path in the picked folder (or its name) and its contents. */
export interface PickedFile {
  readonly path: string;
  readonly file: Blob;
}

export interface PickedLoad {
  readonly picked: readonly PickedFile[];
  readonly sink: ModelSink;
  readonly onProgress: (p: LoadProgress) => void;
  readonly signal: AbortSignal;
}

/** Loads a model from files picked on disk (a folder, or its files): matched to the manifest by name. */
export async function loadFromPicked(load: PickedLoad): Promise<LoadReport> {
  const { signal, sink } = load;
  const manifestFile = findManifest(load.picked);
  const manifestBytes = new Uint8Array(await manifestFile.file.arrayBuffer());
  const manifest = parseManifest(new TextDecoder().decode(manifestBytes));
  const names = await sink.begin(manifestBytes);
  throwIfAborted(signal);
  const files = filesToLoad(manifest, names);
  const matched = matchPicked(manifestFile.path, names, load.picked);
  const report = new Reporter(new ProgressTracker(files), load.onProgress);
  for (const file of files) {
    const blob = matched.get(file.name)?.file;
    if (!blob) throw new Error(`the picked model lacks ${file.name}`);
    if (blob.size > file.bytes) throw new Error(`${file.name}: ${blob.size} bytes on disk, ${file.bytes} in the manifest (a different or damaged file)`);
    const bytes = await readBody(blob.stream(), file.name, file.bytes, (n) => report.bytes(file.name, n), signal);
    sink.add(file.name, bytes);
    report.done(file.name);
    throwIfAborted(signal);
  }
  return { manifest, files: files.length, bytes: report.tracker.total, fromCache: 0, cached: false, notes: report.notes };
}
