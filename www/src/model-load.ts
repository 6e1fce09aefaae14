/**
 * The pure parts of loading a converted diffusion model (models/FORMAT.md): reading its
 * `manifest.json`, where each file lives, which model hosts the page may fetch from, whether the
 * files fit in the browser's storage, download progress, and matching files picked from disk to
 * the manifest's names. No DOM, no network: the page and the worker both use these, and the unit
 * tests cover them.
 *
 * The wasm module checks every file again (bytes and sha256) before it uses it: what is checked
 * here is what the page itself relies on (names that stay inside the model's folder, sizes for the
 * progress bar and the storage check).
 */

/** The model the page loads when none is configured: a folder next to the page. */
export const DEFAULT_MODEL_URL = "./models/ssd-1b-q8/manifest.json";

/** One file of a converted model, as its manifest lists it. */
export interface ManifestFile {
  /** Relative to the manifest's folder; `/`-separated; never `..` or absolute. */
  readonly name: string;
  readonly bytes: number;
  /** Lower-case hex. */
  readonly sha256: string;
  /** `config`, `weights`, `noise` (others are allowed and fetched like the rest). */
  readonly kind: string;
}

/** The parts of `manifest.json` the page uses. */
export interface Manifest {
  readonly dtype: string;
  /** `source.name`, e.g. `segmind/SSD-1B`, when the manifest names it. */
  readonly name: string | null;
  readonly licence: string | null;
  readonly files: readonly ManifestFile[];
  readonly totalBytes: number;
}

/** A `manifest.json` the page cannot use. */
export class ManifestError extends Error {
  constructor(message: string) {
    super(`invalid model manifest: ${message}`);
    this.name = "ManifestError";
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const isSize = (v: unknown): v is number => typeof v === "number" && Number.isSafeInteger(v) && v >= 0;

/**
 * True for a file name that stays inside the model's folder: relative, `/`-separated, no `.` or
 * `..` segment, no scheme, no backslash, no query or fragment.
 */
export function isSafeFileName(name: string): boolean {
  if (name === "" || name.length > 512 || name.startsWith("/") || /[\\?#%:\u0000-\u001f]/.test(name)) return false;
  return name.split("/").every((part) => part !== "" && part !== "." && part !== "..");
}

/**
 * Parses and checks `manifest.json`: the format and version, and for every file a safe name, its
 * size and its sha256.
 *
 * @throws {ManifestError} naming the first problem (a syntax error is one too).
 */
export function parseManifest(text: string): Manifest {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new ManifestError(`not JSON (${e instanceof Error ? e.message : String(e)})`);
  }
  if (!isObject(raw)) throw new ManifestError("not a JSON object");
  if (raw["format"] !== "diffcut-model") throw new ManifestError(`format is ${JSON.stringify(raw["format"])}, not "diffcut-model"`);
  if (raw["format_version"] !== 1) throw new ManifestError(`format_version ${JSON.stringify(raw["format_version"])} is not supported (this page reads version 1)`);
  const dtype = raw["dtype"];
  if (typeof dtype !== "string") throw new ManifestError("dtype must be a string");
  const files = raw["files"];
  if (!Array.isArray(files) || files.length === 0) throw new ManifestError("files must be a non-empty array");
  const seen = new Set<string>();
  const parsed = files.map((f: unknown, i): ManifestFile => {
    if (!isObject(f)) throw new ManifestError(`files[${i}] is not an object`);
    const { name, bytes, sha256, kind } = f;
    if (typeof name !== "string" || !isSafeFileName(name)) throw new ManifestError(`files[${i}].name ${JSON.stringify(name)} is not a relative path inside the model's folder`);
    if (seen.has(name)) throw new ManifestError(`${name} is listed twice`);
    seen.add(name);
    if (!isSize(bytes)) throw new ManifestError(`${name}: bytes must be a non-negative integer`);
    if (typeof sha256 !== "string" || !/^[0-9a-fA-F]{64}$/.test(sha256)) throw new ManifestError(`${name}: sha256 must be 64 hex digits`);
    if (typeof kind !== "string") throw new ManifestError(`${name}: kind must be a string`);
    return { name, bytes, sha256: sha256.toLowerCase(), kind };
  });
  const totalBytes = raw["total_bytes"];
  if (!isSize(totalBytes)) throw new ManifestError("total_bytes must be a non-negative integer");
  const source = isObject(raw["source"]) ? raw["source"] : {};
  const text_ = (v: unknown): string | null => (typeof v === "string" && v !== "" ? v : null);
  return { dtype, name: text_(source["name"]), licence: text_(source["licence"]), files: parsed, totalBytes };
}

/** The files named in `names` (in that order), with their manifest entries. */
export function filesToLoad(manifest: Manifest, names: readonly string[]): ManifestFile[] {
  return names.map((name) => {
    const f = manifest.files.find((m) => m.name === name);
    if (!f) throw new ManifestError(`${name} is not in the manifest`);
    return f;
  });
}

/** Total bytes of `files`. */
export function sumBytes(files: readonly { readonly bytes: number }[]): number {
  return files.reduce((s, f) => s + f.bytes, 0);
}

// --- URLs -----------------------------------------------------------------------------------------

/**
 * The manifest URL the page starts with: the `?model=` parameter (absolute, or relative to the
 * page), else {@link DEFAULT_MODEL_URL} next to the page. Always absolute.
 */
export function configuredModelUrl(search: string, pageUrl: string): string {
  return configuredUrl(search, pageUrl, "model", DEFAULT_MODEL_URL);
}

/** The CLIP folder the page names segments with when none is configured: a folder next to the page. */
export const DEFAULT_CLIP_URL = "./models/clip-q8/manifest.json";

/** The CLIP manifest URL the page starts with: `?clip=`, else {@link DEFAULT_CLIP_URL}. Always absolute. */
export function configuredClipUrl(search: string, pageUrl: string): string {
  return configuredUrl(search, pageUrl, "clip", DEFAULT_CLIP_URL);
}

/** The query parameter `param` (absolute, or relative to the page), else `fallback` next to the page. */
export function configuredUrl(search: string, pageUrl: string, param: string, fallback: string): string {
  const wanted = new URLSearchParams(search).get(param)?.trim();
  return new URL(wanted || fallback, pageUrl).href;
}

/**
 * The URL of a manifest's file: `name` resolved against the manifest's folder. Refuses anything
 * that would leave that folder (which {@link isSafeFileName} already rules out; this is the
 * belt to its braces).
 */
export function fileUrl(manifestUrl: string, name: string): string {
  if (!isSafeFileName(name)) throw new ManifestError(`${JSON.stringify(name)} is not a relative path inside the model's folder`);
  const base = new URL(manifestUrl);
  base.search = "";
  base.hash = "";
  const folder = new URL("./", base);
  const url = new URL(name, folder);
  if (url.origin !== folder.origin || !url.pathname.startsWith(folder.pathname)) {
    throw new ManifestError(`${name} resolves outside the model's folder`);
  }
  return url.href;
}

/**
 * Whether the page may fetch `url`: from its own origin, or from one of `hosts` (CSP host
 * sources as in `VITE_MODEL_HOSTS`: `https://models.example.org`, `https://*.example.org`, with an
 * optional port). The Content-Security-Policy enforces the same; checking first gives a clear
 * message instead of a failed fetch.
 */
export function modelUrlAllowed(url: string, pageOrigin: string, hosts: readonly string[]): boolean {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return false;
  }
  // Only http(s): a data: or blob: URL has the origin "null", which a page opened from a file has too.
  if (u.protocol !== "https:" && u.protocol !== "http:") return false;
  if (u.origin === pageOrigin) return true;
  return hosts.some((h) => {
    const m = /^(https?):\/\/(\*\.)?([^/:]+)(?::(\d+))?\/?$/i.exec(h);
    if (!m) return false;
    const [, scheme = "", wildcard, host = "", port] = m;
    if (u.protocol !== `${scheme.toLowerCase()}:`) return false;
    const defaultPort = scheme.toLowerCase() === "https" ? "443" : "80";
    if ((u.port || defaultPort) !== (port ?? defaultPort)) return false;
    const hostname = u.hostname.toLowerCase();
    return wildcard ? hostname.endsWith(`.${host.toLowerCase()}`) : hostname === host.toLowerCase();
  });
}

// --- storage ----------------------------------------------------------------------------------------

/** What `navigator.storage.estimate()` returns (either may be missing). */
export interface StorageEstimateLike {
  readonly quota?: number;
  readonly usage?: number;
}

/** Whether to keep the downloaded files in Cache Storage, and what to tell the user. */
export interface CacheDecision {
  readonly cache: boolean;
  readonly note: string | null;
}

/** Room kept free beyond the model itself (the browser's own bookkeeping, other sites' data). */
export const STORAGE_HEADROOM = 0.1;

/**
 * Decides whether `neededBytes` more (the model's files that are not cached yet) fit in the
 * origin's storage with {@link STORAGE_HEADROOM} to spare. Without Cache Storage, or without an
 * estimate, the files are downloaded without caching.
 */
export function cacheDecision(estimate: StorageEstimateLike | null, neededBytes: number, cacheAvailable: boolean): CacheDecision {
  if (!cacheAvailable) return { cache: false, note: "this browser offers no Cache Storage here: the model is downloaded without caching" };
  if (neededBytes === 0) return { cache: true, note: null };
  if (estimate === null || estimate.quota === undefined) {
    return { cache: false, note: "the browser does not say how much storage is free: the model is downloaded without caching" };
  }
  const free = Math.max(0, estimate.quota - (estimate.usage ?? 0));
  if (neededBytes * (1 + STORAGE_HEADROOM) > free) {
    return {
      cache: false,
      note: `the model (${formatBytes(neededBytes)}) does not fit in this browser's storage (${formatBytes(free)} free): downloading without caching, so it will be downloaded again next time`,
    };
  }
  return { cache: true, note: null };
}

// --- progress -----------------------------------------------------------------------------------------

/** `1536` → `1.5 KB`; decimal units, as download sizes are usually shown. */
export function formatBytes(n: number): string {
  if (!Number.isFinite(n) || n < 0) return "?";
  if (n < 1000) return `${Math.round(n)} B`;
  const units = ["KB", "MB", "GB", "TB"];
  let v = n;
  let unit = "B";
  for (const u of units) {
    if (v < 1000) break;
    v /= 1000;
    unit = u;
  }
  return `${v < 100 ? v.toFixed(1) : v.toFixed(0)} ${unit}`;
}

/**
 * Bytes received over a set of files, for the progress bar. Each file counts at most its
 * manifest size (a longer download is an error caught elsewhere), so the total never runs past
 * 100 %; a file that failed and is read again starts from zero.
 */
export class ProgressTracker {
  private readonly sizes = new Map<string, number>();
  private readonly received = new Map<string, number>();
  readonly total: number;

  constructor(files: readonly { readonly name: string; readonly bytes: number }[]) {
    for (const f of files) this.sizes.set(f.name, f.bytes);
    this.total = sumBytes(files);
  }

  /** Records that `loaded` bytes of `name` have arrived (absolute, not an increment). */
  set(name: string, loaded: number): void {
    const size = this.sizes.get(name);
    if (size === undefined) return;
    this.received.set(name, Math.min(size, Math.max(0, loaded)));
  }

  /** Marks `name` as complete. */
  done(name: string): void {
    const size = this.sizes.get(name);
    if (size !== undefined) this.received.set(name, size);
  }

  get loaded(): number {
    let s = 0;
    for (const v of this.received.values()) s += v;
    return s;
  }

  /** In [0, 1]; 1 for an empty model. */
  get fraction(): number {
    return this.total === 0 ? 1 : Math.min(1, this.loaded / this.total);
  }
}

/** `12.3 MB of 400 MB (3 %)`. */
export function progressText(loaded: number, total: number): string {
  const pct = total === 0 ? 100 : Math.floor((100 * Math.min(loaded, total)) / total);
  return `${formatBytes(loaded)} of ${formatBytes(total)} (${pct} %)`;
}

// --- files picked from disk -------------------------------------------------------------------------

/** A file picked from disk with its path in the picked folder (`webkitRelativePath`) or its name. */
export interface PickedPath {
  readonly path: string;
}

const dirOf = (path: string): string => (path.includes("/") ? path.slice(0, path.lastIndexOf("/") + 1) : "");
const baseOf = (path: string): string => path.slice(path.lastIndexOf("/") + 1);

/**
 * The `manifest.json` among picked files: the shallowest one (a picked folder may hold a model
 * folder inside).
 *
 * @throws {Error} when there is none, or two at the same depth (two models picked at once).
 */
export function findManifest<T extends PickedPath>(picked: readonly T[]): T {
  const manifests = picked.filter((p) => baseOf(p.path) === "manifest.json");
  if (manifests.length === 0) throw new Error("the picked files hold no manifest.json: pick the converted model's folder (or all of its files)");
  const depth = (p: PickedPath): number => p.path.split("/").length;
  const shallowest = Math.min(...manifests.map(depth));
  const top = manifests.filter((p) => depth(p) === shallowest);
  if (top.length > 1) throw new Error(`the picked files hold several models (${top.map((p) => p.path).join(", ")}): pick one model's folder`);
  const [manifest] = top;
  if (!manifest) throw new Error("no manifest.json");
  return manifest;
}

/**
 * Matches the manifest's file names to picked files: by path relative to the manifest's folder
 * (a picked folder), else by the file's own name when exactly one picked file has it (files picked
 * one by one lose their folders: `noise/x.npy` is then just `x.npy`).
 *
 * @throws {Error} naming the files that are missing or ambiguous.
 */
export function matchPicked<T extends PickedPath>(manifestPath: string, names: readonly string[], picked: readonly T[]): Map<string, T> {
  const folder = dirOf(manifestPath);
  const byPath = new Map(picked.map((p) => [p.path, p]));
  const out = new Map<string, T>();
  const missing: string[] = [];
  const ambiguous: string[] = [];
  for (const name of names) {
    const exact = byPath.get(folder + name);
    if (exact) {
      out.set(name, exact);
      continue;
    }
    const same = picked.filter((p) => baseOf(p.path) === baseOf(name));
    const [only] = same;
    if (same.length === 1 && only) out.set(name, only);
    else if (same.length > 1) ambiguous.push(name);
    else missing.push(name);
  }
  if (missing.length > 0) throw new Error(`the picked model lacks ${missing.join(", ")} (named in its manifest.json)`);
  if (ambiguous.length > 0) throw new Error(`several picked files could be ${ambiguous.join(", ")}: pick the model's folder instead`);
  return out;
}
