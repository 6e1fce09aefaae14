import { describe, expect, it } from "vitest";
import { CLIP } from "../src/clip-panel";
import { cacheClearedText, CLIP_NEEDS_WEBGPU, loadingWhat, loadRefusal, modelLostText, modelRefusal, modelText, progressShown, resolveModelUrl, resolveUrl, sizeFor, sizeOptions } from "../src/model-panel";
import type { ModelSummary } from "../src/protocol";

const MODEL: ModelSummary = {
  name: "segmind/SSD-1B",
  licence: "apache-2.0",
  dtype: "q8",
  sizes: [512, 768, 1024],
  size: 1024,
  seed42Sizes: [1024],
  channels: 1280,
  weightBytes: 400_000_000,
  totalBytes: 412_000_000,
  files: 12,
  fromCache: 0,
  cached: true,
  notes: [],
  ms: 1234,
};

describe("the model panel's texts", () => {
  it("resolves the URL field against the page, and falls back to the configured model", () => {
    const page = "https://example.org/app/index.html";
    expect(resolveModelUrl(" ./m/manifest.json ", "", page)).toBe("https://example.org/app/m/manifest.json");
    expect(resolveModelUrl("", "", page)).toBe("https://example.org/app/models/ssd-1b-q8/manifest.json");
    expect(resolveModelUrl("", "?model=https://h.example/x/manifest.json", page)).toBe("https://h.example/x/manifest.json");
    expect(resolveModelUrl("http://[bad", "", page)).toBe("http://[bad");
  });

  it("names what loads", () => {
    expect(loadingWhat({ kind: "url", url: "https://x/manifest.json" })).toBe("https://x/manifest.json");
    expect(loadingWhat({ kind: "files", files: [] })).toBe("0 picked files");
  });

  it("refuses without WebGPU, and a host the page may not fetch from", () => {
    const here = "https://example.org";
    expect(modelRefusal({ kind: "url", url: `${here}/m/manifest.json` }, true, here, [])).toBeNull();
    expect(modelRefusal({ kind: "url", url: `${here}/m/manifest.json` }, false, here, [])).toContain("Diffusion features need WebGPU");
    const refused = modelRefusal({ kind: "url", url: "https://models.example.net/m/manifest.json" }, true, here, ["https://cdn.example.com"]);
    expect(refused).toContain("Cannot load a model from https://models.example.net: this page may fetch models from this site, https://cdn.example.com only");
    expect(refused).toContain("VITE_MODEL_HOSTS=https://models.example.net");
    // Files from disk need no host.
    expect(modelRefusal({ kind: "files", files: [] }, true, here, [])).toBeNull();
  });

  it("shows progress with a known size, and indeterminate without", () => {
    expect(progressShown({ loaded: 500, total: 1000, file: "weights-00000.safetensors" })).toEqual({
      bar: { value: 500, max: 1000 },
      text: "500 B of 1.0 KB (50 %)",
      status: "Loading the diffusion model: 500 B of 1.0 KB (50 %), weights-00000.safetensors…",
    });
    expect(progressShown({ loaded: 2500, total: null, file: null })).toEqual({ bar: null, text: "2.5 KB", status: "Loading the diffusion model: 2.5 KB…" });
    // The bar never runs past its end, and an empty total still has a bar.
    expect(progressShown({ loaded: 12, total: 10, file: null }).bar).toEqual({ value: 10, max: 10 });
    expect(progressShown({ loaded: 0, total: 0, file: null }).bar).toEqual({ value: 0, max: 1 });
  });

  it("says what was loaded and from where", () => {
    expect(modelText(MODEL)).toBe("segmind/SSD-1B (q8, 412 MB, now cached, licence apache-2.0).");
    expect(modelText({ ...MODEL, fromCache: 12 })).toContain("from the browser's cache");
    expect(modelText({ ...MODEL, fromCache: 2 })).toContain("2 of 12 files from the browser's cache");
    expect(modelText({ ...MODEL, cached: false, name: null, licence: null, notes: ["downloaded without caching"] })).toBe(
      "Model (q8, 412 MB, not cached). Note: downloaded without caching.",
    );
  });

  it("reports a cleared cache", () => {
    expect(cacheClearedText(0, 0)).toBe("The browser's cache holds no model files.");
    expect(cacheClearedText(1, 1500)).toBe("Removed 1 cached model file (1.5 KB) from the browser's cache.");
    expect(cacheClearedText(3, 822841)).toBe("Removed 3 cached model files (823 KB) from the browser's cache.");
  });

  it("offers the model's sizes, marking those without seed-42 noise, and keeps a size it has", () => {
    expect(sizeOptions(MODEL).map((o) => o.label)).toEqual(["512 × 512 (no noise)", "768 × 768 (no noise)", "1024 × 1024"]);
    expect(sizeOptions(MODEL)[2]?.title).toBe("with DiffCut's seed-42 noise");
    expect(sizeFor(MODEL, 768)).toBe(768);
    expect(sizeFor(MODEL, 256)).toBe(1024);
    expect(sizeFor(MODEL, Number.NaN)).toBe(1024);
  });
});

describe("modelLostText", () => {
  it("says the model is gone, why, and how to get it back", () => {
    const text = modelLostText("the segmenter stopped with an internal error (RuntimeError: unreachable)");
    expect(text).toBe(
      "The diffusion model is no longer loaded: the segmenter stopped with an internal error (RuntimeError: unreachable). Choose the diffusion mode (or Load) to load it again; the files come from the browser's cache where they are.",
    );
  });
});

describe("the CLIP panel's loading texts (the same panel, another folder)", () => {
  it("resolves CLIP's URL field against the page, and falls back to ?clip= or the default folder", () => {
    const page = "https://example.org/app/index.html";
    expect(resolveUrl("", "", page, CLIP.param, CLIP.fallbackUrl)).toBe("https://example.org/app/models/clip-q8/manifest.json");
    expect(resolveUrl("", "?clip=./models/tiny/manifest.json&model=x", page, CLIP.param, CLIP.fallbackUrl)).toBe("https://example.org/app/models/tiny/manifest.json");
    expect(resolveUrl(" https://h.example/c/manifest.json", "?clip=x", page, CLIP.param, CLIP.fallbackUrl)).toBe("https://h.example/c/manifest.json");
  });

  it("names CLIP in its progress, and refuses without WebGPU in its own words", () => {
    expect(progressShown({ loaded: 1, total: 2, file: "text-00000.safetensors" }, CLIP.noun).status).toBe("Loading CLIP: 1 B of 2 B (50 %), text-00000.safetensors…");
    const here = "https://example.org";
    const noGpu = loadRefusal({ kind: "url", url: `${here}/c/manifest.json` }, false, here, [], CLIP_NEEDS_WEBGPU);
    expect(noGpu).toContain("Naming segments needs WebGPU");
    expect(noGpu).toContain("Try a recent Chrome");
    expect(loadRefusal({ kind: "url", url: "https://elsewhere.example/c/manifest.json" }, true, here, [], CLIP_NEEDS_WEBGPU)).toContain("Cannot load a model from https://elsewhere.example");
    expect(loadRefusal({ kind: "files", files: [] }, true, here, [], CLIP_NEEDS_WEBGPU)).toBeNull();
  });
});
