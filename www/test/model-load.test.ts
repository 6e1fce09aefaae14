import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import {
  cacheDecision,
  configuredClipUrl,
  configuredModelUrl,
  DEFAULT_MODEL_URL,
  fileUrl,
  filesToLoad,
  findManifest,
  formatBytes,
  isSafeFileName,
  ManifestError,
  matchPicked,
  modelUrlAllowed,
  parseManifest,
  progressText,
  ProgressTracker,
} from "../src/model-load";

/** The converted test model the Rust tests use (tests/fixtures/model/ssd-tiny/q8). */
const TINY = readFileSync("../tests/fixtures/model/ssd-tiny/q8/manifest.json", "utf8");

describe("parseManifest", () => {
  it("reads the converter's manifest", () => {
    const m = parseManifest(TINY);
    expect(m.dtype).toBe("q8");
    expect(m.name).toContain("ssd-tiny");
    expect(m.licence).toBe("MIT");
    expect(m.files.map((f) => f.name)).toEqual(["config.json", "weights-00000.safetensors", "noise/ddim_noise_seed42_256.npy"]);
    expect(m.files.map((f) => f.kind)).toEqual(["config", "weights", "noise"]);
    expect(m.totalBytes).toBe(m.files.reduce((s, f) => s + f.bytes, 0));
    expect(filesToLoad(m, ["config.json", "noise/ddim_noise_seed42_256.npy"]).map((f) => f.bytes)).toEqual([1225, 16512]);
    expect(() => filesToLoad(m, ["other.bin"])).toThrow("other.bin is not in the manifest");
  });

  it("names the first problem", () => {
    const base = JSON.parse(TINY) as Record<string, unknown> & { files: Record<string, unknown>[] };
    const bad = (mutate: (m: typeof base) => void): string => {
      const m = JSON.parse(JSON.stringify(base)) as typeof base;
      mutate(m);
      return JSON.stringify(m);
    };
    const cases: [string, string][] = [
      ["{", "not JSON"],
      ["[]", "not a JSON object"],
      [bad((m) => (m["format"] = "gguf")), 'format is "gguf"'],
      [bad((m) => (m["format_version"] = 2)), "format_version 2 is not supported"],
      [bad((m) => delete m["dtype"]), "dtype"],
      [bad((m) => (m.files = [])), "non-empty"],
      [bad((m) => (m.files[1] = { ...m.files[1], name: "../../etc/passwd" })), "not a relative path"],
      [bad((m) => (m.files[1] = { ...m.files[1], name: "https://evil.example/x" })), "not a relative path"],
      [bad((m) => (m.files[2] = { ...m.files[2], name: "config.json" })), "listed twice"],
      [bad((m) => (m.files[1] = { ...m.files[1], bytes: -1 })), "weights-00000.safetensors: bytes"],
      [bad((m) => (m.files[1] = { ...m.files[1], sha256: "abc" })), "sha256 must be 64 hex digits"],
      [bad((m) => delete m["total_bytes"]), "total_bytes"],
    ];
    for (const [text, message] of cases) {
      expect(() => parseManifest(text), message).toThrow(ManifestError);
      expect(() => parseManifest(text)).toThrow(message);
    }
  });

  it("accepts only names inside the model's folder", () => {
    for (const ok of ["config.json", "noise/ddim_noise_seed42_256.npy", "a/b/c.bin", "weights-00001.safetensors"]) expect(isSafeFileName(ok), ok).toBe(true);
    for (const bad of ["", "/abs", "../x", "a/../x", "a/./x", "a//x", "a\\x", "c:x", "x?y", "x#y", "%2e%2e/x", "http://h/x"]) expect(isSafeFileName(bad), bad).toBe(false);
  });
});

describe("model URLs", () => {
  it("takes ?model= (absolute or relative to the page), else the default next to the page", () => {
    const page = "https://example.org/diffcut/index.html?sample=coffee";
    expect(configuredModelUrl("?sample=coffee", page)).toBe(new URL(DEFAULT_MODEL_URL, page).href);
    expect(configuredModelUrl("", page)).toBe("https://example.org/diffcut/models/ssd-1b-q8/manifest.json");
    expect(configuredModelUrl("?model=./models/ssd-tiny-q8/manifest.json", page)).toBe("https://example.org/diffcut/models/ssd-tiny-q8/manifest.json");
    expect(configuredModelUrl("?model=https%3A%2F%2Fcdn.example.net%2Fm%2Fmanifest.json", page)).toBe("https://cdn.example.net/m/manifest.json");
    expect(configuredModelUrl("?model=", page)).toBe("https://example.org/diffcut/models/ssd-1b-q8/manifest.json");
    // CLIP's folder: ?clip=, else the default next to the page; ?model= does not move it.
    expect(configuredClipUrl("?model=./m/manifest.json", page)).toBe("https://example.org/diffcut/models/clip-q8/manifest.json");
    expect(configuredClipUrl("?clip=./models/clip-tiny-q8/manifest.json", page)).toBe("https://example.org/diffcut/models/clip-tiny-q8/manifest.json");
  });

  it("resolves file names against the manifest's folder, never outside it", () => {
    const m = "https://example.org/models/ssd-1b-q8/manifest.json?v=3#x";
    expect(fileUrl(m, "config.json")).toBe("https://example.org/models/ssd-1b-q8/config.json");
    expect(fileUrl(m, "noise/ddim_noise_seed42_1024.npy")).toBe("https://example.org/models/ssd-1b-q8/noise/ddim_noise_seed42_1024.npy");
    expect(fileUrl("http://127.0.0.1:8080/manifest.json", "w.safetensors")).toBe("http://127.0.0.1:8080/w.safetensors");
    expect(() => fileUrl(m, "../other/config.json")).toThrow(ManifestError);
    expect(() => fileUrl(m, "//evil.example/x")).toThrow(ManifestError);
  });

  it("allows the page's own origin and the configured model hosts only", () => {
    const self = "http://127.0.0.1:8080";
    expect(modelUrlAllowed("http://127.0.0.1:8080/models/m/manifest.json", self, [])).toBe(true);
    expect(modelUrlAllowed("http://127.0.0.1:8081/models/m/manifest.json", self, [])).toBe(false);
    expect(modelUrlAllowed("https://huggingface.co/x/manifest.json", self, [])).toBe(false);
    const hosts = ["https://models.example.org", "https://*.cdn.example.net", "http://localhost:9000"];
    expect(modelUrlAllowed("https://models.example.org/ssd/manifest.json", self, hosts)).toBe(true);
    expect(modelUrlAllowed("https://models.example.org:443/ssd/manifest.json", self, hosts)).toBe(true);
    expect(modelUrlAllowed("http://models.example.org/ssd/manifest.json", self, hosts)).toBe(false);
    expect(modelUrlAllowed("https://models.example.org.evil.com/m.json", self, hosts)).toBe(false);
    expect(modelUrlAllowed("https://eu.cdn.example.net/m.json", self, hosts)).toBe(true);
    expect(modelUrlAllowed("https://cdn.example.net/m.json", self, hosts)).toBe(false);
    expect(modelUrlAllowed("http://localhost:9000/m.json", self, hosts)).toBe(true);
    expect(modelUrlAllowed("http://localhost:9001/m.json", self, hosts)).toBe(false);
    expect(modelUrlAllowed("not a url", self, hosts)).toBe(false);
  });

  it("allows http(s) only, even where the page's origin is null (opened from a file)", () => {
    for (const url of ["data:application/json,{}", "blob:null/0d1c", "javascript:void 0", "file:///m/manifest.json"]) {
      expect(modelUrlAllowed(url, "null", []), url).toBe(false);
    }
  });
});

describe("cacheDecision", () => {
  const MB = 1_000_000;
  it("caches when the files fit with headroom", () => {
    expect(cacheDecision({ quota: 2000 * MB, usage: 100 * MB }, 400 * MB, true)).toEqual({ cache: true, note: null });
    expect(cacheDecision({ quota: 1000 * MB }, 900 * MB, true)).toEqual({ cache: true, note: null });
  });

  it("downloads without caching, and says why, when they do not fit", () => {
    const d = cacheDecision({ quota: 500 * MB, usage: 150 * MB }, 400 * MB, true);
    expect(d.cache).toBe(false);
    expect(d.note).toContain("the model (400 MB)");
    expect(d.note).toContain("(350 MB free)");
    expect(d.note).toContain("without caching");
    // Fits exactly but not with the 10 % headroom.
    expect(cacheDecision({ quota: 400 * MB, usage: 0 }, 400 * MB, true).cache).toBe(false);
    // Usage above the quota (it happens) is no free space, not negative space.
    expect(cacheDecision({ quota: 100, usage: 200 }, 1, true).note).toContain("0 B free");
  });

  it("does not cache without Cache Storage or an estimate; nothing to add always fits", () => {
    expect(cacheDecision({ quota: 1e12 }, 10, false)).toMatchObject({ cache: false });
    expect(cacheDecision(null, 10, true)).toMatchObject({ cache: false });
    expect(cacheDecision({ usage: 5 }, 10, true)).toMatchObject({ cache: false });
    expect(cacheDecision(null, 0, true)).toEqual({ cache: true, note: null });
  });
});

describe("progress", () => {
  it("formats sizes in decimal units", () => {
    expect(formatBytes(0)).toBe("0 B");
    expect(formatBytes(999)).toBe("999 B");
    expect(formatBytes(1536)).toBe("1.5 KB");
    expect(formatBytes(822841)).toBe("823 KB"); // the tiny test model
    expect(formatBytes(12_345_678)).toBe("12.3 MB");
    expect(formatBytes(398_000_000)).toBe("398 MB");
    expect(formatBytes(2.5e9)).toBe("2.5 GB");
    expect(formatBytes(Number.NaN)).toBe("?");
  });

  it("sums the files' bytes, each capped at its size, restarting a file that is read again", () => {
    const p = new ProgressTracker([
      { name: "a", bytes: 100 },
      { name: "b", bytes: 300 },
    ]);
    expect(p.total).toBe(400);
    expect(p.loaded).toBe(0);
    p.set("a", 60);
    expect(p.loaded).toBe(60);
    p.set("a", 250); // longer than the manifest says: counted as complete, never past 100 %
    expect(p.loaded).toBe(100);
    p.set("b", 150);
    expect(p.fraction).toBeCloseTo(0.625);
    p.set("b", 0); // read again (from the network after a stale cache entry)
    expect(p.loaded).toBe(100);
    p.done("b");
    expect(p.fraction).toBe(1);
    p.set("unknown", 5);
    expect(p.loaded).toBe(400);
    expect(new ProgressTracker([]).fraction).toBe(1);
  });

  it("says bytes of total with a whole percentage", () => {
    expect(progressText(0, 822841)).toBe("0 B of 823 KB (0 %)");
    expect(progressText(411_420, 822_841)).toBe("411 KB of 823 KB (49 %)");
    expect(progressText(822841, 822841)).toBe("823 KB of 823 KB (100 %)");
    expect(progressText(0, 0)).toBe("0 B of 0 B (100 %)");
  });
});

describe("files picked from disk", () => {
  const names = ["config.json", "weights-00000.safetensors", "noise/ddim_noise_seed42_256.npy"];
  const paths = (...ps: string[]): { path: string }[] => ps.map((path) => ({ path }));

  it("matches a picked folder by path relative to the manifest", () => {
    const picked = paths("q8/manifest.json", "q8/config.json", "q8/weights-00000.safetensors", "q8/noise/ddim_noise_seed42_256.npy", "q8/README.md");
    const manifest = findManifest(picked);
    expect(manifest.path).toBe("q8/manifest.json");
    const m = matchPicked(manifest.path, names, picked);
    expect([...m.entries()].map(([n, p]) => [n, p.path])).toEqual([
      ["config.json", "q8/config.json"],
      ["weights-00000.safetensors", "q8/weights-00000.safetensors"],
      ["noise/ddim_noise_seed42_256.npy", "q8/noise/ddim_noise_seed42_256.npy"],
    ]);
  });

  it("takes the shallowest manifest of a folder that holds a model folder", () => {
    const picked = paths("models/ssd/manifest.json", "models/ssd/config.json", "models/ssd/old/manifest.json");
    expect(findManifest(picked).path).toBe("models/ssd/manifest.json");
    expect(() => findManifest(paths("m/a/manifest.json", "m/b/manifest.json"))).toThrow("several models");
    expect(() => findManifest(paths("m/config.json"))).toThrow("no manifest.json");
  });

  it("matches files picked one by one by their names", () => {
    const picked = paths("manifest.json", "config.json", "weights-00000.safetensors", "ddim_noise_seed42_256.npy");
    const m = matchPicked("manifest.json", names, picked);
    expect(m.get("noise/ddim_noise_seed42_256.npy")?.path).toBe("ddim_noise_seed42_256.npy");
  });

  it("names what is missing or ambiguous", () => {
    expect(() => matchPicked("manifest.json", names, paths("manifest.json", "config.json"))).toThrow(
      "lacks weights-00000.safetensors, noise/ddim_noise_seed42_256.npy",
    );
    const twice = paths("m/manifest.json", "m/config.json", "m/weights-00000.safetensors", "m/a/ddim_noise_seed42_256.npy", "m/b/ddim_noise_seed42_256.npy");
    expect(() => matchPicked("m/manifest.json", names, twice)).toThrow("several picked files could be noise/ddim_noise_seed42_256.npy");
  });
});
