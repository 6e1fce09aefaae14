import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { FILE_REJECTION, fetchWithProgress, isAbort, isFileRejection, loadFromPicked, loadFromUrl, readBody, SHA_HEADER, type CacheLike, type LoadProgress, type ModelSink, type UrlLoad } from "../src/model-fetch";

const sha = (b: Uint8Array): string => createHash("sha256").update(b).digest("hex");
const bytesOf = (n: number, seed: number): Uint8Array<ArrayBuffer> => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff);

/** A small model: three files and their manifest, served from https://models.test/m/. */
function model() {
  const files: Record<string, Uint8Array<ArrayBuffer>> = {
    "config.json": new TextEncoder().encode('{"kind":"sdxl-encoder-slice"}'),
    "weights-00000.safetensors": bytesOf(5000, 1),
    "noise/ddim_noise_seed42_256.npy": bytesOf(700, 2),
  };
  const entries = Object.entries(files).map(([name, b]) => ({ name, bytes: b.length, sha256: sha(b), kind: name.startsWith("noise") ? "noise" : name === "config.json" ? "config" : "weights" }));
  const manifest = new TextEncoder().encode(
    JSON.stringify({ format: "diffcut-model", format_version: 1, dtype: "q8", source: { name: "test/tiny", licence: "MIT" }, config: "config.json", files: entries, total_bytes: entries.reduce((s, e) => s + e.bytes, 0) }),
  );
  return { files, entries, manifest, url: "https://models.test/m/manifest.json" };
}

/** A body that arrives in chunks of `chunk` bytes. */
function chunked(bytes: Uint8Array, chunk = 1024): ReadableStream<Uint8Array> {
  let at = 0;
  return new ReadableStream({
    pull(c) {
      if (at >= bytes.length) c.close();
      else {
        c.enqueue(bytes.slice(at, at + chunk));
        at += chunk;
      }
    },
  });
}

/** A fake network: serves the model's files, records the URLs asked for; `override` changes a file. */
function network(m: ReturnType<typeof model>, override: Record<string, Uint8Array | number> = {}) {
  const asked: string[] = [];
  const fetch = async (url: string, init: RequestInit): Promise<Response> => {
    asked.push(url);
    if (init.signal?.aborted) throw new DOMException("aborted", "AbortError");
    if (url === m.url) return new Response(m.manifest);
    const name = url.replace("https://models.test/m/", "");
    const o = override[name];
    if (typeof o === "number") return new Response("nope", { status: o, statusText: "Not Found" });
    const b = o ?? m.files[name];
    if (!b) return new Response("nope", { status: 404 });
    return new Response(chunked(b));
  };
  return { fetch, asked };
}

/** A fake Cache Storage bucket (copies the bytes: a Response body reads once). */
class FakeCache implements CacheLike {
  readonly entries = new Map<string, { bytes: Uint8Array; headers: Headers }>();
  async match(key: string): Promise<Response | undefined> {
    const e = this.entries.get(key);
    return e ? new Response(e.bytes.slice(), { headers: e.headers }) : undefined;
  }
  async put(key: string, r: Response): Promise<void> {
    this.entries.set(key, { bytes: new Uint8Array(await r.arrayBuffer()), headers: new Headers(r.headers) });
  }
  async delete(key: string): Promise<boolean> {
    return this.entries.delete(key);
  }
}

/** The wasm module's error for a file whose bytes are wrong (its `name` says so). */
function fileRejection(message: string): Error {
  const e = new Error(message);
  e.name = FILE_REJECTION;
  return e;
}

/** A fake wasm loader: checks bytes and sha256 like the Rust side, naming the file. */
function sink(m: ReturnType<typeof model>, order = m.entries.map((e) => e.name)) {
  const added: string[] = [];
  const s: ModelSink = {
    begin: async (manifest) => {
      expect(new TextDecoder().decode(manifest)).toBe(new TextDecoder().decode(m.manifest));
      return order;
    },
    add: (name, bytes) => {
      const e = m.entries.find((x) => x.name === name);
      if (!e) throw new Error(`${name}: not in the manifest`);
      if (bytes.length !== e.bytes || sha(bytes) !== e.sha256) throw fileRejection(`${name}: ${bytes.length} bytes, sha256 mismatch (the manifest says ${e.bytes} bytes)`);
      added.push(name);
    },
  };
  return { sink: s, added };
}

function urlLoad(m: ReturnType<typeof model>, parts: Partial<UrlLoad> & Pick<UrlLoad, "fetch" | "sink">): { load: UrlLoad; events: LoadProgress[] } {
  const events: LoadProgress[] = [];
  const load: UrlLoad = {
    manifestUrl: m.url,
    openCache: null,
    estimate: async () => ({ quota: 1e9, usage: 0 }),
    onProgress: (p) => events.push(p),
    signal: new AbortController().signal,
    ...parts,
  };
  return { load, events };
}

describe("readBody", () => {
  const never = new AbortController().signal;
  it("reads a chunked body with running counts", async () => {
    const b = bytesOf(2500, 3);
    const seen: number[] = [];
    const out = await readBody(chunked(b), "w", b.length, (n) => seen.push(n), never);
    expect(out).toEqual(b);
    expect(seen).toEqual([1024, 2048, 2500]);
  });

  it("returns a short body short, refuses a long one by name", async () => {
    const b = bytesOf(2500, 3);
    expect((await readBody(chunked(b), "w", 3000, () => {}, never)).length).toBe(2500);
    await expect(readBody(chunked(b), "weights-00000.safetensors", 2000, () => {}, never)).rejects.toThrow("weights-00000.safetensors: more than the 2000 bytes");
    expect((await readBody(null, "w", 10, () => {}, never)).length).toBe(0);
  });

  it("stops when aborted", async () => {
    const ac = new AbortController();
    const b = bytesOf(5000, 3);
    const p = readBody(chunked(b), "w", b.length, (n) => n >= 2048 && ac.abort(), ac.signal);
    await expect(p).rejects.toSatisfy(isAbort);
  });
});

describe("loadFromUrl", () => {
  it("downloads every file, reports progress to 100 %, and caches them after the check", async () => {
    const m = model();
    const net = network(m);
    const cache = new FakeCache();
    const { sink: s, added } = sink(m);
    const { load, events } = urlLoad(m, { fetch: net.fetch, sink: s, openCache: async () => cache });
    const report = await loadFromUrl(load);
    expect(added).toEqual(m.entries.map((e) => e.name));
    expect(report).toMatchObject({ files: 3, fromCache: 0, cached: true, notes: [] });
    expect(report.bytes).toBe(m.entries.reduce((s, e) => s + e.bytes, 0));
    const last = events[events.length - 1];
    expect(last).toMatchObject({ loaded: report.bytes, total: report.bytes, force: true });
    const loaded = events.map((e) => e.loaded);
    expect(loaded.every((v, i) => i === 0 || v >= (loaded[i - 1] ?? 0))).toBe(true);
    expect([...cache.entries.keys()].sort()).toEqual(m.entries.map((e) => `https://models.test/m/${e.name}`).sort());
    expect(cache.entries.get("https://models.test/m/config.json")?.headers.get(SHA_HEADER)).toBe(m.entries[0]?.sha256);

    // Again: every file from the cache, only the manifest from the network.
    const again = network(m);
    const second = await loadFromUrl(urlLoad(m, { fetch: again.fetch, sink: sink(m).sink, openCache: async () => cache }).load);
    expect(again.asked).toEqual([m.url]);
    expect(second).toMatchObject({ fromCache: 3, cached: true });
  });

  it("downloads without caching when the files do not fit, and says so", async () => {
    const m = model();
    const cache = new FakeCache();
    const { load, events } = urlLoad(m, { fetch: network(m).fetch, sink: sink(m).sink, openCache: async () => cache, estimate: async () => ({ quota: 3000, usage: 0 }) });
    const report = await loadFromUrl(load);
    expect(report.cached).toBe(false);
    expect(report.notes[0]).toContain("does not fit");
    expect(events.some((e) => e.note?.includes("does not fit"))).toBe(true);
    expect(cache.entries.size).toBe(0);
  });

  it("says when there is no Cache Storage", async () => {
    const m = model();
    const report = await loadFromUrl(urlLoad(m, { fetch: network(m).fetch, sink: sink(m).sink }).load);
    expect(report).toMatchObject({ cached: false, fromCache: 0 });
    expect(report.notes[0]).toContain("no Cache Storage");
  });

  it("removes a damaged cached copy and says so", async () => {
    const m = model();
    const cache = new FakeCache();
    await loadFromUrl(urlLoad(m, { fetch: network(m).fetch, sink: sink(m).sink, openCache: async () => cache }).load);
    const key = "https://models.test/m/weights-00000.safetensors";
    const entry = cache.entries.get(key);
    if (!entry) throw new Error("not cached");
    entry.bytes = entry.bytes.slice();
    entry.bytes[100] = (entry.bytes[100] ?? 0) ^ 0xff; // the disk flipped a bit; the sha header still matches the manifest
    await expect(loadFromUrl(urlLoad(m, { fetch: network(m).fetch, sink: sink(m).sink, openCache: async () => cache }).load)).rejects.toThrow(
      /weights-00000\.safetensors: .*sha256 mismatch.*copy in the browser's cache; it has been removed/,
    );
    expect(cache.entries.has(key)).toBe(false);
    // The next load downloads it afresh.
    const net = network(m);
    const report = await loadFromUrl(urlLoad(m, { fetch: net.fetch, sink: sink(m).sink, openCache: async () => cache }).load);
    expect(net.asked).toEqual([m.url, key]);
    expect(report).toMatchObject({ fromCache: 2, cached: true });
  });

  it("keeps a good cached copy when adding it traps (or fails for any reason but its bytes)", async () => {
    const m = model();
    const cache = new FakeCache();
    await loadFromUrl(urlLoad(m, { fetch: network(m).fetch, sink: sink(m).sink, openCache: async () => cache }).load);
    const key = "https://models.test/m/weights-00000.safetensors";
    const before = cache.entries.get(key)?.bytes.slice();
    for (const thrown of [new WebAssembly.RuntimeError("unreachable"), new Error("model: cannot build the UNet"), Object.assign(new WebAssembly.RuntimeError("unreachable"), { name: FILE_REJECTION })]) {
      const trapping: ModelSink = {
        ...sink(m).sink,
        add: (name) => {
          if (name === "weights-00000.safetensors") throw thrown;
        },
      };
      const err: unknown = await loadFromUrl(urlLoad(m, { fetch: network(m).fetch, sink: trapping, openCache: async () => cache }).load).then(
        () => null,
        (e: unknown) => e,
      );
      // The error is the sink's own, unwrapped (a trap stays a RuntimeError, for the worker to see).
      expect(err).toBe(thrown);
      expect(cache.entries.get(key)?.bytes).toEqual(before);
    }
    expect(isFileRejection(fileRejection("x"))).toBe(true);
    expect(isFileRejection(new Error("model file x: sha256 is ..."))).toBe(false);
    expect(isFileRejection("ModelFileError")).toBe(false);
  });

  it("ignores a cached copy of another version of the file", async () => {
    const m = model();
    const cache = new FakeCache();
    const key = "https://models.test/m/config.json";
    cache.entries.set(key, { bytes: new TextEncoder().encode("{}"), headers: new Headers({ [SHA_HEADER]: "0".repeat(64) }) });
    const net = network(m);
    await loadFromUrl(urlLoad(m, { fetch: net.fetch, sink: sink(m).sink, openCache: async () => cache }).load);
    expect(net.asked).toContain(key);
    expect(cache.entries.get(key)?.headers.get(SHA_HEADER)).toBe(m.entries[0]?.sha256);
  });

  it("names the file of a truncated download or an HTTP error, and caches nothing of it", async () => {
    const m = model();
    const cache = new FakeCache();
    const short = m.files["weights-00000.safetensors"]?.slice(0, 1234) ?? new Uint8Array();
    const load = urlLoad(m, { fetch: network(m, { "weights-00000.safetensors": short }).fetch, sink: sink(m).sink, openCache: async () => cache }).load;
    await expect(loadFromUrl(load)).rejects.toThrow("weights-00000.safetensors: 1234 bytes");
    expect(cache.entries.has("https://models.test/m/weights-00000.safetensors")).toBe(false);
    const missing = urlLoad(m, { fetch: network(m, { "noise/ddim_noise_seed42_256.npy": 404 }).fetch, sink: sink(m).sink }).load;
    await expect(loadFromUrl(missing)).rejects.toThrow("cannot fetch noise/ddim_noise_seed42_256.npy from https://models.test/m/noise/ddim_noise_seed42_256.npy: HTTP 404");
  });

  it("explains a manifest that cannot be fetched", async () => {
    const m = model();
    const fetch = async (): Promise<Response> => {
      throw new TypeError("Failed to fetch");
    };
    await expect(loadFromUrl(urlLoad(m, { fetch, sink: sink(m).sink }).load)).rejects.toThrow(/cannot fetch the model manifest from https:\/\/models\.test\/m\/manifest\.json \(Failed to fetch\).*Content-Security-Policy/);
  });

  it("stops with an AbortError when cancelled, keeping what was cached", async () => {
    const m = model();
    const cache = new FakeCache();
    const ac = new AbortController();
    const { load } = urlLoad(m, {
      fetch: network(m).fetch,
      sink: sink(m).sink,
      openCache: async () => cache,
      signal: ac.signal,
      onProgress: (p) => {
        if (p.file === "weights-00000.safetensors" && p.loaded > 3000) ac.abort();
      },
    });
    await expect(loadFromUrl(load)).rejects.toSatisfy(isAbort);
    expect([...cache.entries.keys()]).toEqual(["https://models.test/m/config.json"]);
  });
});

describe("loadFromPicked", () => {
  it("loads a picked folder, matched by name", async () => {
    const m = model();
    const picked = [
      { path: "q8/manifest.json", file: new Blob([m.manifest]) },
      ...Object.entries(m.files).map(([name, b]) => ({ path: `q8/${name}`, file: new Blob([b]) })),
    ];
    const { sink: s, added } = sink(m);
    const events: LoadProgress[] = [];
    const report = await loadFromPicked({ picked, sink: s, onProgress: (p) => events.push(p), signal: new AbortController().signal });
    expect(added).toEqual(m.entries.map((e) => e.name));
    expect(report).toMatchObject({ files: 3, fromCache: 0, cached: false });
    expect(events[events.length - 1]?.loaded).toBe(report.bytes);
  });

  it("refuses a file larger than the manifest says, by name", async () => {
    const m = model();
    const picked = [
      { path: "manifest.json", file: new Blob([m.manifest]) },
      { path: "config.json", file: new Blob([m.files["config.json"] ?? new Uint8Array(), "more"]) },
    ];
    await expect(loadFromPicked({ picked, sink: sink(m).sink, onProgress: () => {}, signal: new AbortController().signal })).rejects.toThrow("lacks weights-00000.safetensors");
    const all = [...picked, ...Object.entries(m.files).slice(1).map(([name, b]) => ({ path: name.split("/").pop() ?? name, file: new Blob([b]) }))];
    await expect(loadFromPicked({ picked: all, sink: sink(m).sink, onProgress: () => {}, signal: new AbortController().signal })).rejects.toThrow(/config\.json: \d+ bytes on disk/);
  });
});

describe("fetchWithProgress (the diffusion module's download)", () => {
  const wasm = bytesOf(10_000, 7);
  const url = "https://site.test/assets/diffcut_bg.wasm";
  const serve =
    (body: Uint8Array, headers: Record<string, string>, status = 200) =>
    async (): Promise<Response> =>
      new Response(status === 200 ? chunked(body, 3000) : "gone", { status, headers });

  it("returns the bytes and reports them against the Content-Length", async () => {
    const seen: [number, number | null][] = [];
    const got = await fetchWithProgress(serve(wasm, { "content-length": "10000" }), url, "the module", (l, t) => seen.push([l, t]), new AbortController().signal);
    expect(sha(got)).toBe(sha(wasm));
    expect(seen).toEqual([
      [0, 10000],
      [3000, 10000],
      [6000, 10000],
      [9000, 10000],
      [10000, 10000],
    ]);
  });

  it("reports no total for a compressed body (its length counts other bytes)", async () => {
    const seen: (number | null)[] = [];
    const got = await fetchWithProgress(serve(wasm, { "content-length": "2500", "content-encoding": "gzip" }), url, "the module", (_, t) => seen.push(t), new AbortController().signal);
    expect(got.length).toBe(10_000);
    expect(new Set(seen)).toEqual(new Set([null]));
  });

  it("names a short download, an HTTP error and a network failure", async () => {
    const signal = new AbortController().signal;
    await expect(fetchWithProgress(serve(wasm.subarray(0, 4000), { "content-length": "10000" }), url, "the module", () => {}, signal)).rejects.toThrow(
      "the module from https://site.test/assets/diffcut_bg.wasm: the download stopped after 4000 of 10000 bytes",
    );
    await expect(fetchWithProgress(serve(wasm, {}, 404), url, "the module", () => {}, signal)).rejects.toThrow(`cannot fetch the module from ${url}: HTTP 404`);
    const down = async (): Promise<Response> => Promise.reject(new TypeError("Failed to fetch"));
    await expect(fetchWithProgress(down, url, "the module", () => {}, signal)).rejects.toThrow(`cannot fetch the module from ${url} (Failed to fetch)`);
  });

  it("stops when cancelled, with an AbortError", async () => {
    const ctl = new AbortController();
    const onBytes = (loaded: number): void => {
      if (loaded >= 3000) ctl.abort();
    };
    const err: unknown = await fetchWithProgress(serve(wasm, { "content-length": "10000" }), url, "the module", onBytes, ctl.signal).catch((e: unknown) => e);
    expect(isAbort(err)).toBe(true);
  });
});
