/**
 * End to end: the built site (dist/) served on 127.0.0.1, driven in headless Chromium
 * (playwright-core, /usr/bin/chromium, WebGPU on SwiftShader with the flags of
 * wasm-tests/webdriver.json). Run `./build.sh` first; `./build.sh test` does both.
 *
 * Writes screenshots and timings.json to test-results/.
 *
 * Diffusion mode uses the tiny converted model of the Rust tests (tests/fixtures/model/ssd-tiny/q8,
 * random weights, sizes 128 and 256), served under /models/ssd-tiny-q8/, and a copy of it with
 * one byte flipped under /models/ssd-tiny-q8-corrupt/. Naming segments uses the tiny CLIP of the
 * Rust tests (tests/fixtures/clip/tiny-q8, random weights: its names are meaningless but
 * deterministic), served under /models/clip-tiny-q8/.
 */
import { cpSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { serve } from "../scripts/serve.mjs";
import { fitSize, MAX_PIXELS } from "../src/image-input";
import { formatBytes } from "../src/model-load";

const OUT = "test-results";
const TINY = "../tests/fixtures/model/ssd-tiny/q8";
const TINY_URL = "./models/ssd-tiny-q8/manifest.json";
const CORRUPT_URL = "./models/ssd-tiny-q8-corrupt/manifest.json";
const TINY_CLIP = "../tests/fixtures/clip/tiny-q8";
const TINY_CLIP_URL = "./models/clip-tiny-q8/manifest.json";
/** Errors the tests provoke on purpose (the page logs what it shows). */
const EXPECTED_ERRORS = ["cannot decode image", "weights-00000.safetensors", "debugTrap", "RuntimeError: unreachable"];
const CHROMIUM = process.env["CHROMIUM"] ?? "/usr/bin/chromium";
/** The browser flags, shared with the wasm-bindgen browser tests. */
const FLAGS: string[] = (JSON.parse(readFileSync("../wasm-tests/webdriver.json", "utf8")) as { "goog:chromeOptions": { args: string[] } })["goog:chromeOptions"].args;

let server: { url: string; close: () => Promise<void> };
let browser: Browser;
let context: BrowserContext;
let page: Page;
const requests: string[] = [];
const consoleErrors: string[] = [];
const timings: Record<string, number | number[] | string> = {};

/** A little-endian float32 `.npy` (format 1.0 or 2.0, C order): its shape and values. */
function readNpyF32(path: string): { shape: number[]; data: Float32Array } {
  const b = readFileSync(path);
  const major = b[6];
  const headerLen = major === 1 ? b.readUInt16LE(8) : b.readUInt32LE(8);
  const start = major === 1 ? 10 : 12;
  const header = b.subarray(start, start + headerLen).toString("latin1");
  if (!header.includes("'descr': '<f4'") || header.includes("'fortran_order': True")) throw new Error(`${path}: not a C-order <f4 array: ${header}`);
  const shape = (/'shape': \(([^)]*)\)/.exec(header)?.[1] ?? "").split(",").map((v) => v.trim()).filter((v) => v !== "").map(Number);
  const bytes = b.subarray(start + headerLen);
  const data = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length));
  if (data.length !== shape.reduce((a, v) => a * v, 1)) throw new Error(`${path}: ${data.length} values for shape ${shape.join("×")}`);
  return { shape, data };
}

/** Waits until the status is `ready` (or fails with the page's error message). */
async function waitReady(p: Page = page, timeout = 120_000): Promise<void> {
  await p.waitForFunction(() => ["ready", "error"].includes(document.querySelector<HTMLElement>("[data-testid=status]")?.dataset["state"] ?? ""), null, { timeout });
  const state = await p.getAttribute("[data-testid=status]", "data-state");
  if (state !== "ready") throw new Error(`status is ${state}: ${await p.textContent("[data-testid=status]")}`);
}

async function waitError(p: Page = page, timeout = 60_000): Promise<string> {
  await p.waitForFunction(() => document.querySelector<HTMLElement>("[data-testid=status]")?.dataset["state"] === "error", null, { timeout });
  return (await p.textContent("[data-testid=status]")) ?? "";
}

/** A page of its own, whose errors are recorded too. */
async function newPage(url: string): Promise<Page> {
  const p = await context.newPage();
  p.on("console", (m) => {
    if (m.type() === "error") consoleErrors.push(m.text());
    if (m.type() === "info") console.log(`[page] ${m.text()}`);
  });
  p.on("pageerror", (e) => consoleErrors.push(`pageerror: ${e.message}`));
  await p.goto(url);
  return p;
}

/** Sets a range input as a user would: `input` events while dragging, `change` on release. */
async function setRange(testid: string, value: number, release = true, p: Page = page): Promise<void> {
  await p.$eval(
    `[data-testid=${testid}]`,
    (el, [v, r]) => {
      const input = el as HTMLInputElement;
      input.value = String(v);
      input.dispatchEvent(new Event("input", { bubbles: true }));
      if (r) input.dispatchEvent(new Event("change", { bubbles: true }));
    },
    [value, release] as const,
  );
}

async function segmentCount(p: Page = page): Promise<number> {
  return Number(await p.textContent("[data-testid=segment-count]"));
}

/** An uncompressed RGB TIFF of `width`×`height` (a gradient with a disc), which Chrome cannot decode. */
function tiff(width: number, height: number): Buffer {
  const entries: [tag: number, type: number, count: number, value: number][] = [];
  const pixels = width * height * 3;
  const ifdAt = 8;
  const ifdSize = 2 + 10 * 12 + 4;
  const bitsAt = ifdAt + ifdSize;
  const dataAt = bitsAt + 6;
  entries.push([256, 4, 1, width], [257, 4, 1, height], [258, 3, 3, bitsAt], [259, 3, 1, 1], [262, 3, 1, 2], [273, 4, 1, dataAt], [277, 3, 1, 3], [278, 4, 1, height], [279, 4, 1, pixels], [284, 3, 1, 1]);
  const out = Buffer.alloc(dataAt + pixels);
  out.write("II", 0, "latin1");
  out.writeUInt16LE(42, 2);
  out.writeUInt32LE(ifdAt, 4);
  out.writeUInt16LE(entries.length, ifdAt);
  entries.forEach(([tag, type, count, value], i) => {
    const at = ifdAt + 2 + i * 12;
    out.writeUInt16LE(tag, at);
    out.writeUInt16LE(type, at + 2);
    out.writeUInt32LE(count, at + 4);
    if (type === 3 && count === 1) out.writeUInt16LE(value, at + 8);
    else out.writeUInt32LE(value, at + 8);
  });
  out.writeUInt32LE(0, ifdAt + 2 + entries.length * 12);
  for (let k = 0; k < 3; k++) out.writeUInt16LE(8, bitsAt + 2 * k);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const at = dataAt + (y * width + x) * 3;
      const inDisc = (x - width / 2) ** 2 + (y - height / 2) ** 2 < (height / 3) ** 2;
      out[at] = inDisc ? 200 : Math.round((255 * x) / width);
      out[at + 1] = inDisc ? 40 : 90;
      out[at + 2] = inDisc ? 40 : Math.round((255 * y) / height);
    }
  }
  return out;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;

beforeAll(async () => {
  mkdirSync(OUT, { recursive: true });
  // The tiny model with one byte of its weights flipped (its manifest unchanged).
  const corrupt = `${OUT}/model-corrupt`;
  cpSync(TINY, corrupt, { recursive: true });
  const weights = readFileSync(`${corrupt}/weights-00000.safetensors`);
  weights[weights.length - 100] = (weights[weights.length - 100] ?? 0) ^ 0x01;
  writeFileSync(`${corrupt}/weights-00000.safetensors`, weights);
  server = await serve({ root: "dist", port: 0, mounts: { "/models/ssd-tiny-q8/": TINY, "/models/ssd-tiny-q8-corrupt/": corrupt, "/models/clip-tiny-q8/": TINY_CLIP, "/e2e-files/": OUT } });
  // Chromium's fake camera (a moving test pattern) stands in for a webcam, allowed without a prompt.
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: [...FLAGS, "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"] });
  context = await browser.newContext({ viewport: { width: 1280, height: 900 }, acceptDownloads: true });
  context.on("request", (r) => requests.push(r.url()));
  page = await context.newPage();
  page.on("console", (m) => {
    if (m.type() === "error") consoleErrors.push(m.text());
    if (m.type() === "info") console.log(`[page] ${m.text()}`);
  });
  page.on("pageerror", (e) => consoleErrors.push(`pageerror: ${e.message}`));
});

afterAll(async () => {
  writeFileSync(`${OUT}/timings.json`, JSON.stringify(timings, null, 2) + "\n");
  console.log("timings:", JSON.stringify(timings));
  await context?.close();
  await browser?.close();
  await server?.close();
});

describe("the DiffCut page", () => {
  it("segments the bundled sample on load and reaches ready", async () => {
    // Before any image the status is idle (`?sample=none` opens the page without a sample).
    const empty = await context.newPage();
    await empty.goto(`${server.url}?sample=none`);
    await empty.waitForTimeout(500);
    expect(await empty.getAttribute("[data-testid=status]", "data-state")).toBe("idle");
    expect(await empty.textContent("[data-testid=segment-count]")).toBe("0");
    await empty.close();

    const t0 = performance.now();
    await page.goto(server.url);
    await waitReady();
    timings["navigationToReadyMs"] = Math.round(performance.now() - t0);
    timings["backend"] = (await page.textContent("#facts")) ?? "";
    expect(await segmentCount()).toBeGreaterThan(1);
    expect(await page.getAttribute("[data-testid=overlay]", "data-labels")).toBe("exact");
    // PAMR's refinement replaces the exact view shortly after, with the same segments.
    const before = await segmentCount();
    const t1 = performance.now();
    await page.waitForSelector("[data-testid=overlay][data-refined=true]", { timeout: 30_000 });
    timings["readyToRefinedMs"] = Math.round(performance.now() - t1);
    expect(await segmentCount()).toBe(before);
    // The overlay holds a picture: many distinct colours, not a blank canvas.
    const colours = await page.$eval("[data-testid=overlay]", (c) => {
      const canvas = c as HTMLCanvasElement;
      const data = canvas.getContext("2d")?.getImageData(0, 0, canvas.width, canvas.height).data ?? new Uint8ClampedArray();
      const seen = new Set<number>();
      for (let i = 0; i < data.length; i += 4 * 97) seen.add(((data[i] ?? 0) << 16) | ((data[i + 1] ?? 0) << 8) | (data[i + 2] ?? 0));
      return seen.size;
    });
    expect(colours).toBeGreaterThan(50);
    await page.screenshot({ path: `${OUT}/app.png`, fullPage: true });
  });

  it("offers colour and diffusion features, and loads only the light module at start-up", async () => {
    const options = await page.$$eval("[data-testid=mode] option", (os) => os.map((o) => ({ value: (o as HTMLOptionElement).value, disabled: (o as HTMLOptionElement).disabled })));
    expect(options).toEqual([
      { value: "color", disabled: false },
      { value: "diffusion", disabled: false },
    ]);
    expect(await page.inputValue("[data-testid=mode]")).toBe("color");
    // The τ slider is the colour features' (the library's defaults, through the worker).
    expect(await page.getAttribute("[data-testid=tau]", "max")).toBe("0.8");
    expect(await page.inputValue("[data-testid=tau]")).toBe("0.5");
    expect(await page.textContent("[data-testid=tau-hint]")).toContain("Colour and texture features");
    // The default model URL is next to the page; nothing of it is fetched before diffusion is chosen.
    expect(await page.inputValue("[data-testid=model-url]")).toBe(`${server.url}models/ssd-1b-q8/manifest.json`);
    // One module: the light one (the Gram helper worker instantiates the same file).
    expect(new Set(requests.filter((u) => u.endsWith(".wasm"))).size).toBe(1);
    expect(requests.filter((u) => u.includes("/models/"))).toEqual([]);
    expect(await page.isHidden("[data-testid=model-progress]")).toBe(true);
    expect(await page.isDisabled("[data-testid=model-size]")).toBe(true);
  });

  it("re-cuts as τ moves, with more segments at larger τ", async () => {
    const counts: number[] = [];
    for (const tau of [0.1, 0.2, 0.35, 0.5, 0.65, 0.8, 0.9]) {
      await setRange("tau", tau);
      await waitReady();
      counts.push(await segmentCount());
    }
    timings["segmentsByTau"] = counts;
    counts.slice(1).forEach((c, i) => expect(c).toBeGreaterThanOrEqual(counts[i] ?? 0));
    expect(counts[counts.length - 1]).toBeGreaterThan(counts[0] ?? 0);

    // The live view while dragging: the count follows every input event, before any release.
    await setRange("tau", 0.1, false);
    expect(await segmentCount()).toBe(counts[0]);
    expect(await page.getAttribute("[data-testid=overlay]", "data-labels")).toBe("live");

    // Re-cut + draw time of the live view (32×32 grid), over a sweep of input events.
    const ms = await page.$eval("[data-testid=tau]", (el) => {
      const input = el as HTMLInputElement;
      const out: number[] = [];
      for (let i = 0; i <= 40; i++) {
        input.value = (0.1 + (0.8 * i) / 40).toFixed(2);
        input.dispatchEvent(new Event("input", { bubbles: true }));
        out.push(Number(document.querySelector<HTMLElement>("[data-testid=recut-ms]")?.dataset["ms"]));
      }
      return out;
    });
    timings["recutDrawMedianMs"] = Number(median(ms).toFixed(2));
    timings["recutDrawMaxMs"] = Number(Math.max(...ms).toFixed(2));
    expect(ms.every((v) => Number.isFinite(v))).toBe(true);

    // The τ plot: segments against τ from the tree; a click on it sets τ, and the count it
    // shows for that τ is the count on screen.
    expect(await page.$$eval("[data-testid=tau-plot] path.curve", (ps) => ps.length)).toBe(1);
    const plot = await page.locator("[data-testid=tau-plot]").boundingBox();
    if (!plot) throw new Error("no τ plot");
    await page.locator("[data-testid=tau-plot]").click({ position: { x: plot.width * 0.55, y: plot.height / 2 } });
    await waitReady();
    const picked = Number(await page.inputValue("[data-testid=tau]"));
    expect(picked).toBeGreaterThan(0.05);
    expect(picked).toBeLessThan(0.8);
    const label = (await page.textContent("[data-testid=tau-plot] .tau-line text")) ?? "";
    expect(label).toBe(`${await segmentCount()} at τ = ${picked.toFixed(2)}`);

    await setRange("tau", 0.5);
    await waitReady();
  });

  it("is usable from the keyboard", async () => {
    await page.focus("[data-testid=tau]");
    await page.keyboard.press("ArrowRight");
    await waitReady();
    expect(Number(await page.inputValue("[data-testid=tau]"))).toBeCloseTo(0.51, 5);
    await page.keyboard.press("ArrowLeft");
    await waitReady();
    // A tree node is reachable with Tab and opens with Enter.
    await page.focus("#tree-view circle.node");
    await page.keyboard.press("Enter");
    await page.waitForSelector("#node-detail:not([hidden])");
    expect(await page.$$eval("#curve path.curve", (ps) => ps.length)).toBe(1);
    await page.screenshot({ path: `${OUT}/app-fiedler.png`, fullPage: true });
    await page.keyboard.press("Escape");
    await page.waitForSelector("#node-detail[hidden]", { state: "attached" });
  });

  it("explains itself with this image's numbers", async () => {
    const how = page.locator("[data-testid=how-it-works]");
    await how.locator("summary").click();
    expect(await how.getAttribute("open")).not.toBeNull();
    const text = async (key: string): Promise<string> => (await how.locator(`[data-how=${key}]`).textContent()) ?? "";
    const grid = Number(await page.inputValue("#grid"));
    expect(await text("grid")).toBe(`${grid} × ${grid}`);
    expect(await text("cells")).toBe((grid * grid).toLocaleString("en-US"));
    expect(await text("alpha")).toBe(await page.inputValue("[data-testid=alpha]"));
    expect(await text("tau")).toBe(Number(await page.inputValue("[data-testid=tau]")).toFixed(2));
    expect(await text("segments")).toBe(`${await segmentCount()} segments`);
    // Moving τ re-cuts the tree: the panel follows.
    await setRange("tau", 0.3);
    await waitReady();
    expect(await text("tau")).toBe("0.30");
    expect(await text("segments")).toMatch(new RegExp(`^${await segmentCount()} segments?$`));
    await how.scrollIntoViewIfNeeded();
    await page.screenshot({ path: `${OUT}/app-how-it-works.png`, fullPage: true });
    await how.locator("summary").click();
    await setRange("tau", 0.5);
    await waitReady();
  });

  it("steps through the recursion: every decision once, in order, ending at the segments on screen", async () => {
    const text = page.locator("[data-testid=step-text]");
    const data = async (key: string): Promise<string> => (await text.getAttribute(`data-${key}`)) ?? "";
    const seen: { node: number; decision: string; segments: number }[] = [];
    const drawMs: number[] = [];
    for (let k = 0; k < 500; k++) {
      await page.click("[data-testid=step-next]");
      if ((await data("step")) === "done") break;
      expect(Number(await data("step"))).toBe(k);
      const node = Number(await data("node"));
      seen.push({ node, decision: await data("decision"), segments: Number(await data("segments")) });
      // The step's region is drawn: its Fiedler vector over the image, its sweep, the verdict.
      await page.waitForFunction((n) => document.querySelector<HTMLElement>("[data-testid=step-text]")?.dataset["shownNode"] === String(n), node);
      drawMs.push(Number(await data("draw-ms")));
      if (k === 1) {
        await page.locator("[data-testid=steps]").scrollIntoViewIfNeeded();
        await page.screenshot({ path: `${OUT}/app-step-through.png`, fullPage: true });
      }
    }
    expect(await data("step")).toBe("done");
    expect(seen.length).toBe(Number(await data("total")));
    expect(seen.length).toBeGreaterThan(1);
    // Pre-order: the tree's node indices, each once, increasing.
    expect(seen.every((s, k) => k === 0 || s.node > (seen[k - 1]?.node ?? Infinity))).toBe(true);
    expect(seen[0]?.node).toBe(0);
    const splits = seen.filter((s) => s.decision === "split").length;
    expect(seen.every((s) => s.decision === "split" || s.decision === "stop")).toBe(true);
    // One segment to start with, one more per kept cut: the segmentation on screen.
    const count = await segmentCount();
    expect(1 + splits).toBe(count);
    expect(Number(await data("segments"))).toBe(count);
    expect(seen.at(-1)?.segments).toBe(count);
    expect(await page.isHidden("#node-detail")).toBe(true);
    timings["stepThroughSteps"] = seen.length;
    timings["stepDrawMedianMs"] = Number(median(drawMs).toFixed(2));
    timings["stepDrawMaxMs"] = Number(Math.max(...drawMs).toFixed(2));
    // Back from the end re-selects the last region.
    await page.click("[data-testid=step-back]");
    expect(Number(await data("step"))).toBe(seen.length - 1);
    expect(Number(await data("node"))).toBe(seen.at(-1)?.node);
    await page.click("#show-segments");
  });

  it("sets AutoSC beside the recursive cut, with its eigengap", async () => {
    const panel = page.locator("[data-testid=autosc]");
    await panel.locator("summary").click();
    await page.click("[data-testid=autosc-run]");
    const text = page.locator("[data-testid=autosc-text]");
    await page.waitForFunction(() => document.querySelector<HTMLElement>("[data-testid=autosc-text]")?.dataset["clusters"] !== undefined, null, { timeout: 120_000 });
    const clusters = Number(await text.getAttribute("data-clusters"));
    const segments = Number(await text.getAttribute("data-segments"));
    expect(clusters).toBeGreaterThanOrEqual(1);
    expect(segments).toBeGreaterThanOrEqual(1);
    expect(segments).toBeLessThanOrEqual(clusters);
    expect([1, 5, 10, 15]).toContain(Number(await text.getAttribute("data-alpha")));
    expect(Number(await text.getAttribute("data-ncut-segments"))).toBe(await segmentCount());
    // Four eigengap lines, the chosen k marked.
    expect(await page.locator("#eigengap .gap-line").count()).toBe(4);
    expect(await page.locator("#eigengap .gap-mark text").textContent()).toBe(`k = ${clusters}`);
    // Both pictures are drawn at the image's size.
    const size = await page.evaluate(() => {
      const a = document.querySelector<HTMLCanvasElement>("[data-testid=autosc-result]");
      const o = document.querySelector<HTMLCanvasElement>("#overlay");
      return [a?.width, a?.height, o?.width, o?.height];
    });
    expect(size[0]).toBe(size[2]);
    expect(size[1]).toBe(size[3]);
    timings["autoscMs"] = Number(await text.getAttribute("data-ms"));
    timings["autoscClusters"] = clusters;
    await panel.scrollIntoViewIfNeeded();
    await page.screenshot({ path: `${OUT}/app-autosc.png`, fullPage: true });
    await panel.locator("summary").click();
  });

  it("counts segments against α on demand, keeps the tree on screen, and sets α from the plot", async () => {
    const before = await segmentCount();
    const facts = await page.textContent("#facts");
    await page.click("[data-testid=alpha-sweep]");
    const text = page.locator("[data-testid=alpha-sweep-text]");
    await page.waitForFunction(() => document.querySelector<HTMLElement>("[data-testid=alpha-sweep-text]")?.dataset["state"] === "done", null, { timeout: 120_000 });
    const points = JSON.parse((await text.getAttribute("data-points")) ?? "[]") as { alpha: number; segments: number }[];
    // The fixed α plus the tree's own (the colour features' 9).
    expect(points.map((p) => p.alpha)).toEqual([1, 2, 3, 5, 7, 9, 10, 13, 16, 20]);
    // The sweep's tree at the current α is the tree on screen.
    const alpha = Number(await page.inputValue("[data-testid=alpha]"));
    expect(points.find((p) => p.alpha === alpha)?.segments).toBe(before);
    expect(points.every((p) => p.segments >= 1)).toBe(true);
    expect(await segmentCount()).toBe(before);
    expect(await page.textContent("#facts")).toBe(facts);
    expect(await page.locator("#alpha-plot .alpha-points circle").count()).toBe(points.length);
    await page.locator("[data-testid=alpha-plot]").scrollIntoViewIfNeeded();
    await page.screenshot({ path: `${OUT}/app-alpha-sweep.png`, fullPage: true });
    // Stop between trees: a second sweep stopped at once keeps fewer points.
    await page.click("[data-testid=alpha-sweep]");
    await page.click("[data-testid=alpha-sweep]");
    await page.waitForFunction(() => document.querySelector<HTMLElement>("[data-testid=alpha-sweep-text]")?.dataset["state"] === "stopped", null, { timeout: 60_000 });
    expect(await text.textContent()).toMatch(/^Stopped after \d of 10 trees\.$/);
    // A click on the plot's leftmost point sets α = 1 and segments again.
    await page.click("[data-testid=alpha-sweep]");
    await page.waitForFunction(() => document.querySelector<HTMLElement>("[data-testid=alpha-sweep-text]")?.dataset["state"] === "done", null, { timeout: 120_000 });
    const box = await page.locator("[data-testid=alpha-plot]").boundingBox();
    if (!box) throw new Error("no α plot");
    await page.mouse.click(box.x + 2, box.y + box.height / 2);
    expect(await page.inputValue("[data-testid=alpha]")).toBe("1");
    await waitReady();
    expect(await segmentCount()).toBe(points[0]?.segments);
    await setRange("alpha", 10);
    await waitReady();
  });

  it("recomputes when α changes", async () => {
    const before = await page.textContent("#facts");
    await setRange("alpha", 5);
    expect(await page.getAttribute("[data-testid=status]", "data-state")).toBe("busy");
    await waitReady();
    expect(await segmentCount()).toBeGreaterThanOrEqual(1);
    expect(await page.textContent("#facts")).not.toBe(before);
    await setRange("alpha", 10);
    await waitReady();
  });

  it("exports the mask as a PNG and the tree as JSON", async () => {
    const [mask] = await Promise.all([page.waitForEvent("download"), page.click("[data-testid=download-mask]")]);
    expect(mask.suggestedFilename()).toMatch(/\.mask\.png$/);
    const path = await mask.path();
    const png = readFileSync(path);
    writeFileSync(`${OUT}/mask.png`, png);
    expect(png.subarray(0, 8).toString("hex")).toBe("89504e470d0a1a0a");
    const [w, h] = [png.readUInt32BE(16), png.readUInt32BE(20)];
    const size = await page.$eval("[data-testid=overlay]", (c) => [(c as HTMLCanvasElement).width, (c as HTMLCanvasElement).height]);
    expect([w, h]).toEqual(size);
    expect(png[24]).toBe(8); // 8-bit grey: ≤ 256 segments
    expect(png[25]).toBe(0);

    const [tree] = await Promise.all([page.waitForEvent("download"), page.click("#download-tree")]);
    const json = JSON.parse(readFileSync(await tree.path(), "utf8")) as { grid: number[]; tau_max: number; nodes: unknown[] };
    expect(json.grid).toEqual([32, 32]);
    // Grown to the top of the colour features' τ range (the library's FeatureKind::defaults).
    expect(json.tau_max).toBeCloseTo(0.8);
    expect(json.nodes.length).toBeGreaterThan(1);
  });

  // tests/fixtures/scenes/ball.png: an orange ball on grass against sky (tests/reference/make_ball_scene.py),
  // with the disk it was drawn in as ground truth.
  it("picks the ball with a click, walks coarser and finer, and cuts it out", async () => {
    await page.setInputFiles("[data-testid=image-input]", "../tests/fixtures/scenes/ball.png");
    await waitReady();
    const [w, h] = await page.$eval("[data-testid=overlay]", (c) => [(c as HTMLCanvasElement).width, (c as HTMLCanvasElement).height]);
    expect([w, h]).toEqual([480, 360]);
    // The earlier tests leave the page scrolled down (the Fiedler view): bring the image back.
    await page.locator("[data-testid=overlay]").scrollIntoViewIfNeeded();
    const box = await page.locator("[data-testid=overlay]").boundingBox();
    if (!box || w === undefined || h === undefined) throw new Error("no overlay");
    const at = (x: number, y: number): [number, number] => [box.x + ((x + 0.5) * box.width) / w, box.y + ((y + 0.5) * box.height) / h];
    const selection = async (): Promise<{ node: number; pixels: number }> => ({
      node: Number(await page.getAttribute("[data-testid=selection]", "data-node")),
      pixels: Number(await page.getAttribute("[data-testid=selection]", "data-pixels")),
    });
    const changed = async (from: { node: number; pixels: number }): Promise<{ node: number; pixels: number }> => {
      await page.waitForFunction(
        ([n, px]) => {
          const el = document.querySelector("[data-testid=selection]");
          return el !== null && (el.getAttribute("data-node") !== String(n) || el.getAttribute("data-pixels") !== String(px));
        },
        [from.node, from.pixels] as const,
        { timeout: 60_000 },
      );
      return selection();
    };
    expect(await selection()).toEqual({ node: 0, pixels: 0 });
    expect(await page.isDisabled("[data-testid=download-cutout]")).toBe(true);

    await page.mouse.click(...at(250, 215));
    const ball = await changed({ node: 0, pixels: 0 });
    expect(ball.pixels).toBeGreaterThan(0);
    expect(await page.textContent("[data-testid=selection]")).toContain(`Tree node ${ball.node}`);
    await page.screenshot({ path: `${OUT}/app-picked.png`, fullPage: true });

    // Coarser holds more; finer (the `]` key) walks back down to the region under the click.
    await page.click("[data-testid=select-coarser]");
    const up = await changed(ball);
    expect(up.pixels).toBeGreaterThan(ball.pixels);
    await page.keyboard.press("]");
    expect(await changed(up)).toEqual(ball);

    // The cut-out: the photo's pixels on the ball, transparent elsewhere; IoU with the drawn disk.
    const [cut] = await Promise.all([page.waitForEvent("download"), page.click("[data-testid=download-cutout]")]);
    expect(cut.suggestedFilename()).toBe("ball.cutout.png");
    const cutPng = readFileSync(await cut.path());
    writeFileSync(`${OUT}/ball.cutout.png`, cutPng);
    const score = await page.evaluate(
      async ([cutB64, gtB64, photoB64]) => {
        const pixels = async (b64: string): Promise<{ w: number; h: number; d: Uint8ClampedArray }> => {
          const img = new Image();
          img.src = `data:image/png;base64,${b64}`;
          await img.decode();
          const c = document.createElement("canvas");
          [c.width, c.height] = [img.width, img.height];
          const ctx = c.getContext("2d");
          if (!ctx) throw new Error("no 2d context");
          ctx.drawImage(img, 0, 0);
          return { w: img.width, h: img.height, d: ctx.getImageData(0, 0, img.width, img.height).data };
        };
        const [cutImg, gt, photo] = await Promise.all([pixels(cutB64), pixels(gtB64), pixels(photoB64)]);
        let inter = 0;
        let union = 0;
        let colourOff = 0;
        let partial = 0;
        for (let i = 0; i < gt.w * gt.h; i++) {
          const a = cutImg.d[4 * i + 3] ?? 0;
          if (a !== 0 && a !== 255) partial++;
          const on = a === 255;
          const truth = (gt.d[4 * i] ?? 0) > 127;
          if (on && truth) inter++;
          if (on || truth) union++;
          if (on) for (let k = 0; k < 3; k++) colourOff = Math.max(colourOff, Math.abs((cutImg.d[4 * i + k] ?? 0) - (photo.d[4 * i + k] ?? 0)));
        }
        return { w: cutImg.w, h: cutImg.h, iou: inter / Math.max(1, union), colourOff, partial };
      },
      [cutPng.toString("base64"), readFileSync("../tests/fixtures/scenes/ball.gt.png").toString("base64"), readFileSync("../tests/fixtures/scenes/ball.png").toString("base64")] as const,
    );
    timings["ballCutoutIoU"] = Number(score.iou.toFixed(3));
    expect([score.w, score.h]).toEqual([480, 360]);
    expect(score.iou).toBeGreaterThanOrEqual(0.9);
    expect(score.colourOff).toBeLessThanOrEqual(1);
    expect(score.partial).toBe(0);

    // Cropped to the selection: smaller than the photo, the ball's size.
    await page.check("[data-testid=cutout-crop]");
    const [cropped] = await Promise.all([page.waitForEvent("download"), page.click("[data-testid=download-cutout]")]);
    const cropPng = readFileSync(await cropped.path());
    const [cw, ch] = [cropPng.readUInt32BE(16), cropPng.readUInt32BE(20)];
    expect(cw).toBeGreaterThan(120);
    expect(cw).toBeLessThan(160);
    expect(ch).toBeGreaterThan(120);
    expect(ch).toBeLessThan(160);
    await page.uncheck("[data-testid=cutout-crop]");

    // Shift-click adds the sky; Shift-click on it again removes it; the selection survives a new τ.
    await page.keyboard.down("Shift");
    await page.mouse.click(...at(40, 30));
    const both = await changed(ball);
    expect(both.pixels).toBeGreaterThan(ball.pixels + 10_000);
    await page.mouse.click(...at(40, 30));
    await page.keyboard.up("Shift");
    expect(await changed(both)).toEqual(ball);
    await setRange("tau", 0.45);
    await waitReady();
    expect((await selection()).node).toBe(ball.node);
    await setRange("tau", 0.5);
    await waitReady();
  });

  it("segments the camera live, follows a click on it, and stops", async () => {
    const cam = await context.newPage();
    cam.on("pageerror", (e) => consoleErrors.push(`pageerror: ${e.message}`));
    await cam.goto(`${server.url}?sample=coffee`);
    await waitReady(cam);
    expect(await cam.getAttribute("[data-testid=camera]", "aria-pressed")).toBe("false");
    await cam.click("[data-testid=camera]");
    await cam.waitForFunction(() => document.querySelector("[data-testid=camera]")?.getAttribute("aria-pressed") === "true" || document.querySelector("[data-testid=status]")?.getAttribute("data-state") === "error", null, { timeout: 30_000 });
    expect(await cam.textContent("[data-testid=status]")).not.toContain("could not");
    expect(await cam.getAttribute("[data-testid=camera]", "aria-pressed")).toBe("true");
    // Frames per second appear once a few frames were segmented and shown.
    await cam.waitForFunction(() => Number(document.querySelector<HTMLElement>("[data-testid=fps]")?.dataset["fps"]) > 0, null, { timeout: 60_000 });
    const fps = Number(await cam.getAttribute("[data-testid=fps]", "data-fps"));
    timings["cameraFps"] = fps;
    expect(await cam.textContent("[data-testid=fps]")).toMatch(/frames\/s/);
    expect(await cam.textContent("[data-testid=status]")).toContain("Camera:");
    expect(Number(await cam.textContent("[data-testid=segment-count]"))).toBeGreaterThanOrEqual(1);
    const [w, h] = await cam.$eval("[data-testid=overlay]", (c) => [(c as HTMLCanvasElement).width, (c as HTMLCanvasElement).height]);
    expect(Math.max(w ?? 0, h ?? 0)).toBe(256);

    // A click selects the segment under it, and the selection stays on as frames go by.
    await cam.locator("[data-testid=overlay]").scrollIntoViewIfNeeded();
    const box = await cam.locator("[data-testid=overlay]").boundingBox();
    if (!box) throw new Error("no overlay");
    await cam.mouse.click(box.x + box.width / 2, box.y + box.height / 2);
    await cam.waitForFunction(() => Number(document.querySelector("[data-testid=selection]")?.getAttribute("data-pixels")) > 0, null, { timeout: 30_000 });
    const before = Number(await cam.getAttribute("[data-testid=fps]", "data-fps"));
    await cam.waitForFunction((f) => Number(document.querySelector<HTMLElement>("[data-testid=fps]")?.dataset["fps"]) !== f, before, { timeout: 30_000 });
    expect(Number(await cam.getAttribute("[data-testid=selection]", "data-pixels"))).toBeGreaterThan(0);
    await cam.screenshot({ path: `${OUT}/app-camera.png`, fullPage: true });

    // Pressed again: the stream stops (every track ended) and the page says so.
    await cam.click("[data-testid=camera]");
    expect(await cam.getAttribute("[data-testid=camera]", "aria-pressed")).toBe("false");
    expect(await cam.textContent("[data-testid=fps]")).toBe("");
    expect(await cam.textContent("[data-testid=status]")).toContain("Camera stopped");
    await cam.close();
  });

  it("shows an error for a broken file, then recovers with a sample", async () => {
    await page.setInputFiles("[data-testid=image-input]", { name: "broken.jpg", mimeType: "image/jpeg", buffer: Buffer.from("this is not an image at all") });
    const message = await waitError();
    expect(message).toContain("cannot decode image");
    await page.click("button[data-sample=coffee]");
    await waitReady();
    expect(await segmentCount()).toBeGreaterThan(1);
  });

  // A real trap: `?trap=segment` makes the first worker call the module's `debugTrap`, a Rust
  // panic inside an async export's future (a wasm `unreachable`), in place of its first
  // segmentation. That promise never settles; only the worker's uncaught error says what happened.
  it("survives a trap inside an async export: says so, replaces the worker and segments again", async () => {
    const p = await newPage(`${server.url}?trap=segment&sample=coffee`);
    await waitReady(p, 120_000);
    const status = (await p.textContent("[data-testid=status]")) ?? "";
    console.log(`[e2e] after a trap: ${status}`);
    expect(status).toContain("The segmenter stopped with an internal error (RuntimeError: unreachable)");
    expect(status).toContain("segmented the image again with the colour features");
    expect(status).toContain("Ready: coffee");
    expect(await segmentCount(p)).toBeGreaterThan(1);
    await p.screenshot({ path: `${OUT}/app-after-trap.png`, fullPage: true });
    // The new worker answers: exact labels at another τ, the teaching view, a new α.
    await setRange("tau", 0.3, true, p);
    await waitReady(p);
    expect(await p.getAttribute("[data-testid=overlay]", "data-labels")).toBe("exact");
    await p.click("#tree-view circle.node");
    await p.waitForSelector("#node-detail:not([hidden])");
    await setRange("alpha", 8, true, p);
    await waitReady(p);
    // A new segmentation drops the notice.
    expect(await p.textContent("[data-testid=status]")).toMatch(/^Ready: coffee/);
    await p.close();
  });

  it("stops a segmentation in progress with Stop, and stays usable", async () => {
    // The CPU path at the largest grid: long enough to press Stop while it runs.
    const p = await newPage(`${server.url}?sample=coffee&grid=64&device=cpu`);
    await p.waitForSelector("[data-testid=stop]:not([hidden])", { timeout: 60_000 });
    await p.click("[data-testid=stop]");
    expect(await p.getAttribute("[data-testid=status]", "data-state")).toBe("idle");
    expect(await p.textContent("[data-testid=status]")).toContain("Stopped segmenting coffee.jpg");
    expect(await p.isHidden("[data-testid=stop]")).toBe(true);
    expect(await segmentCount(p)).toBe(0);
    expect(await p.isDisabled("[data-testid=download-mask]")).toBe(true);
    // Nothing of the stopped run arrives later.
    await p.waitForTimeout(1500);
    expect(await p.getAttribute("[data-testid=status]", "data-state")).toBe("idle");
    // A new worker segments the next image.
    await p.selectOption("#grid", "16");
    await waitReady(p);
    expect(await segmentCount(p)).toBeGreaterThan(1);
    await p.close();
  });

  it("takes a dropped image (downscaled when large) and a pasted one", async () => {
    // A 2400×1600 picture made in the page, dropped on the page as a file.
    await page.evaluate(async () => {
      const canvas = new OffscreenCanvas(2400, 1600);
      const ctx = canvas.getContext("2d");
      if (!ctx) throw new Error("no 2D context");
      const g = ctx.createLinearGradient(0, 0, 2400, 0);
      g.addColorStop(0, "#1d4e89");
      g.addColorStop(1, "#f2c14e");
      ctx.fillStyle = g;
      ctx.fillRect(0, 0, 2400, 1600);
      ctx.fillStyle = "#c0392b";
      ctx.beginPath();
      ctx.arc(1200, 800, 500, 0, 2 * Math.PI);
      ctx.fill();
      const file = new File([await canvas.convertToBlob({ type: "image/png" })], "big.png", { type: "image/png" });
      const dt = new DataTransfer();
      dt.items.add(file);
      document.querySelector("[data-testid=overlay]")?.dispatchEvent(new DragEvent("drop", { dataTransfer: dt, bubbles: true, cancelable: true }));
    });
    await waitReady();
    // Fitted into the page's budget of pixels (1 MP), the aspect ratio kept.
    expect(await page.textContent("#facts")).toContain("downscaled from 2400×1600 to 1254×836");
    expect(await page.$eval("[data-testid=overlay]", (c) => [(c as HTMLCanvasElement).width, (c as HTMLCanvasElement).height])).toEqual([1254, 836]);
    expect(await segmentCount()).toBeGreaterThan(1);

    // Pasting an image (here the chelsea sample's bytes) segments it.
    await page.evaluate(async () => {
      const url = document.querySelector<HTMLImageElement>("button[data-sample=chelsea] img")?.src ?? "";
      const blob = await (await fetch(url)).blob();
      const dt = new DataTransfer();
      dt.items.add(new File([blob], "pasted.jpg", { type: "image/jpeg" }));
      document.dispatchEvent(new ClipboardEvent("paste", { clipboardData: dt, bubbles: true, cancelable: true }));
    });
    await waitReady();
    expect(await page.textContent("[data-testid=status]")).toContain("pasted");
    expect(await page.$eval("[data-testid=overlay]", (c) => (c as HTMLCanvasElement).width)).toBe(451);
  });

  // Chrome cannot decode TIFF, so the page sends the file as it is; the wasm module decodes it and
  // fits it into the same budget of pixels before anything is computed at its size.
  it("fits an image only the wasm module can decode (TIFF) into the page's budget of pixels", async () => {
    const [w, h] = [1600, 900];
    writeFileSync(`${OUT}/big.tiff`, tiff(w, h));
    const fit = fitSize(w, h);
    expect(fit.width * fit.height).toBeLessThanOrEqual(MAX_PIXELS);
    await page.evaluate(async (url) => {
      const file = new File([await (await fetch(url)).blob()], "big.tiff", { type: "image/tiff" });
      const dt = new DataTransfer();
      dt.items.add(file);
      document.querySelector("[data-testid=overlay]")?.dispatchEvent(new DragEvent("drop", { dataTransfer: dt, bubbles: true, cancelable: true }));
    }, `${server.url}e2e-files/big.tiff`);
    await waitReady();
    expect(await page.textContent("[data-testid=status]")).toContain(`big, ${fit.width}×${fit.height}`);
    expect(await page.textContent("#facts")).toContain(`downscaled from ${w}×${h} to ${fit.width}×${fit.height} after decoding`);
    expect(await page.$eval("[data-testid=overlay]", (c) => [(c as HTMLCanvasElement).width, (c as HTMLCanvasElement).height])).toEqual([fit.width, fit.height]);
    expect(await segmentCount()).toBeGreaterThan(1);
  });

  it("works in a narrow window", async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    await page.waitForTimeout(100);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    expect(overflow).toBeLessThanOrEqual(0);
    await page.screenshot({ path: `${OUT}/app-narrow.png`, fullPage: true });
    await page.setViewportSize({ width: 1280, height: 900 });
  });

  it("runs the segment tree on WebGPU when asked (SwiftShader here: a small grid)", async () => {
    // SwiftShader runs the WGSL on the CPU, orders of magnitude slower than the wasm CPU path
    // (which `Auto` therefore picks here); 16×16 keeps this to seconds.
    const gpu = await context.newPage();
    gpu.on("pageerror", (e) => consoleErrors.push(`pageerror: ${e.message}`));
    const t0 = performance.now();
    await gpu.goto(`${server.url}?device=webgpu&grid=16`);
    await waitReady(gpu, 200_000);
    timings["webgpuGrid16NavigationToReadyMs"] = Math.round(performance.now() - t0);
    expect(await gpu.textContent("#facts")).toContain("WebGPU");
    expect(Number(await gpu.textContent("[data-testid=segment-count]"))).toBeGreaterThan(1);
    await gpu.close();
  });

  it("shares the CPU path's Gram matrix with a second worker: the same tree as on one worker", async () => {
    // One page after the other, so that each has both cores.
    const run = async (query: string): Promise<{ facts: string; overlay: number[] }> => {
      const p = await newPage(`${server.url}?device=cpu&grid=48${query}`);
      await waitReady(p, 180_000);
      await p.waitForSelector("[data-testid=overlay][data-refined=true]", { timeout: 60_000 });
      const facts = (await p.textContent("#facts")) ?? "";
      const overlay = await p.$eval("[data-testid=overlay]", (c) => {
        const canvas = c as HTMLCanvasElement;
        return Array.from(canvas.getContext("2d")?.getImageData(0, 0, canvas.width, canvas.height).data ?? []);
      });
      await p.close();
      return { facts, overlay };
    };
    const one = await run("&workers=1");
    const two = await run("");
    expect(two.facts).toContain("CPU (WebAssembly, 2 workers)");
    expect(one.facts).not.toContain("workers");
    const tree = (facts: string): string => /\d+ nodes, \d+ segments/.exec(facts)?.[0] ?? "no tree";
    expect(tree(two.facts)).toBe(tree(one.facts));
    expect(tree(one.facts)).not.toBe("no tree");
    expect(two.overlay.length).toBeGreaterThan(0);
    expect(two.overlay).toEqual(one.overlay);
    const treeMs = (facts: string): number => Number(/tree (\d+) ms/.exec(facts)?.[1] ?? Number.NaN);
    timings["cpuGrid48TreeOneWorkerMs"] = treeMs(one.facts);
    timings["cpuGrid48TreeTwoWorkersMs"] = treeMs(two.facts);
  });

  describe("diffusion mode (the tiny test model, burn on WebGPU/SwiftShader)", () => {
    let d: Page;
    const statusText = async (p: Page = d): Promise<string> => (await p.textContent("[data-testid=status]")) ?? "";
    const modelNote = async (p: Page = d): Promise<string> => (await p.textContent("[data-testid=model-note]")) ?? "";
    const tinyFile = (name: string): string => `${server.url}models/ssd-tiny-q8/${name}`;

    it("loads the model of ?model= when diffusion is chosen, with its progress, and segments with it", async () => {
      d = await newPage(`${server.url}?model=${TINY_URL}&sample=coffee`);
      await waitReady(d);
      expect(await d.inputValue("[data-testid=model-url]")).toBe(tinyFile("manifest.json"));
      const n0 = requests.length;
      const t0 = performance.now();
      await d.selectOption("[data-testid=mode]", "diffusion");
      expect(await d.getAttribute("[data-testid=status]", "data-state")).toBe("busy");
      expect(await statusText()).toContain("Loading the diffusion model");
      await d.waitForFunction(() => document.querySelector("[data-testid=status]")?.textContent?.includes("diffusion features") === true, null, { timeout: 240_000 });
      await waitReady(d, 240_000);
      timings["diffusionChooseToReadyMs"] = Math.round(performance.now() - t0);
      const fetched = requests.slice(n0);
      // The diffusion module (its own wasm) and every file of the model, from this server.
      expect(fetched.filter((u) => u.endsWith(".wasm"))).toHaveLength(1);
      for (const f of ["manifest.json", "config.json", "weights-00000.safetensors", "noise/ddim_noise_seed42_256.npy"]) expect(fetched).toContain(tinyFile(f));
      expect(await statusText()).toMatch(/diffusion features at 256 px, grid \d+×\d+/);
      expect(await d.textContent("#facts")).toContain("diffusion (diffcut-rs/ssd-tiny (random weights), q8");
      expect(await segmentCount(d)).toBeGreaterThanOrEqual(1);
      expect(await d.inputValue("[data-testid=mode]")).toBe("diffusion");
      expect(await d.isDisabled("#grid")).toBe(true);
      // The sizes of the model, its nearest to 1024 chosen.
      expect(await d.$$eval("[data-testid=model-size] option", (os) => os.map((o) => (o as HTMLOptionElement).value))).toEqual(["128", "256"]);
      expect(await d.inputValue("[data-testid=model-size]")).toBe("256");
      // The progress bar reached the model's size, then went away.
      expect(await d.getAttribute("[data-testid=model-progress]", "data-loaded")).toBe("822841");
      expect(await d.getAttribute("[data-testid=model-progress]", "data-total")).toBe("822841");
      expect(await d.isHidden("[data-testid=model-progress]")).toBe(true);
      expect(await modelNote()).toContain("now cached");
      // The τ slider now offers the diffusion features' range and says what τ means for them.
      expect(await d.getAttribute("[data-testid=tau]", "max")).toBe("0.9");
      expect(await d.textContent("[data-testid=tau-hint]")).toContain("Diffusion features: 0.5 is the paper's value");
      await d.screenshot({ path: `${OUT}/app-diffusion.png`, fullPage: true });
    });

    it("re-cuts with τ, exports the mask, shows the tree, recomputes with α and another size", async () => {
      await setRange("tau", 0.2, true, d);
      await waitReady(d);
      const low = await segmentCount(d);
      await setRange("tau", 0.9, true, d);
      await waitReady(d);
      expect(await segmentCount(d)).toBeGreaterThanOrEqual(low);
      await d.screenshot({ path: `${OUT}/app-diffusion.png`, fullPage: true });
      const [mask] = await Promise.all([d.waitForEvent("download"), d.click("[data-testid=download-mask]")]);
      expect(mask.suggestedFilename()).toBe("coffee.tau0.90.mask.png");
      const png = readFileSync(await mask.path());
      writeFileSync(`${OUT}/mask-diffusion.png`, png);
      expect(png.subarray(0, 8).toString("hex")).toBe("89504e470d0a1a0a");
      const size = await d.$eval("[data-testid=overlay]", (c) => [(c as HTMLCanvasElement).width, (c as HTMLCanvasElement).height]);
      expect([png.readUInt32BE(16), png.readUInt32BE(20)]).toEqual(size);
      // The teaching view works on the diffusion tree too.
      await d.click("#tree-view circle.node");
      await d.waitForSelector("#node-detail:not([hidden])");
      await d.keyboard.press("Escape");
      await setRange("alpha", 6, true, d);
      expect(await d.getAttribute("[data-testid=status]", "data-state")).toBe("busy");
      await waitReady(d, 120_000);
      expect(await statusText()).toContain("diffusion features at 256 px");
      // A smaller input (and grid); the rest of these tests use it (faster on SwiftShader).
      await d.selectOption("[data-testid=model-size]", "128");
      await waitReady(d, 120_000);
      expect(await statusText()).toContain("diffusion features at 128 px");
      await setRange("tau", 0.5, true, d);
      await waitReady(d);
    });

    it("takes the model from the browser's cache the next time", async () => {
      const n0 = requests.length;
      await d.click("[data-testid=model-load]");
      expect(await d.getAttribute("[data-testid=status]", "data-state")).toBe("busy");
      await d.waitForFunction(() => document.querySelector("[data-testid=model-note]")?.textContent?.includes("from the browser's cache") === true, null, { timeout: 120_000 });
      await waitReady(d, 120_000);
      const fetched = requests.slice(n0);
      expect(fetched).toContain(tinyFile("manifest.json"));
      expect(fetched).not.toContain(tinyFile("weights-00000.safetensors"));
      expect(await statusText()).toContain("diffusion features at 128 px");
    });

    // A real trap while a cached file goes into the model (`?trap=model-file`: `debugTrap` in
    // place of the first file's check): the worker is replaced and the cached files stay.
    it("survives a trap while loading a cached file, keeps the cache, and loads again from it", async () => {
      const names = ["manifest.json", "config.json", "weights-00000.safetensors", "noise/ddim_noise_seed42_256.npy"].slice(1);
      const cachedKeys = async (p: Page): Promise<string[]> => p.evaluate(async () => (await (await caches.open("diffcut-models-v1")).keys()).map((r) => r.url).sort());
      const p = await newPage(`${server.url}?model=${TINY_URL}&sample=coffee&trap=model-file`);
      await waitReady(p);
      const before = await cachedKeys(p);
      expect(before).toEqual(names.map(tinyFile).sort());
      await p.selectOption("[data-testid=mode]", "diffusion");
      await p.waitForFunction(() => document.querySelector("[data-testid=status]")?.textContent?.includes("internal error") === true, null, { timeout: 120_000 });
      await waitReady(p, 120_000);
      const status = (await p.textContent("[data-testid=status]")) ?? "";
      console.log(`[e2e] a trap while loading a cached file: ${status} | ${await modelNote(p)}`);
      expect(status).toContain("RuntimeError: unreachable");
      expect(status).toContain("load the diffusion model again");
      expect(await modelNote(p)).toContain("The diffusion model is no longer loaded");
      expect(await p.inputValue("[data-testid=mode]")).toBe("color");
      expect(await segmentCount(p)).toBeGreaterThan(1);
      // Nothing was removed from the cache: it was not the files' fault.
      expect(await cachedKeys(p)).toEqual(before);
      await p.screenshot({ path: `${OUT}/app-after-model-trap.png`, fullPage: true });
      // Chosen again, the model loads from the cache into the new worker.
      const n0 = requests.length;
      await p.selectOption("[data-testid=mode]", "diffusion");
      await p.waitForFunction(() => document.querySelector("[data-testid=model-note]")?.textContent?.includes("from the browser's cache") === true, null, { timeout: 120_000 });
      await waitReady(p, 240_000);
      expect(await p.textContent("[data-testid=status]")).toContain("diffusion features");
      expect(requests.slice(n0)).not.toContain(tinyFile("weights-00000.safetensors"));
      await p.close();
    });

    it("removes a damaged cached copy, says so, and downloads it afresh next time", async () => {
      const key = tinyFile("weights-00000.safetensors");
      await d.evaluate(async (url) => {
        const cache = await caches.open("diffcut-models-v1");
        const hit = await cache.match(url);
        if (!hit) throw new Error("not cached");
        const bytes = new Uint8Array(await hit.arrayBuffer());
        bytes[500] = (bytes[500] ?? 0) ^ 0xff;
        await cache.put(url, new Response(bytes, { headers: hit.headers }));
      }, key);
      await d.click("[data-testid=model-load]");
      const message = await waitError(d, 120_000);
      console.log(`[e2e] a damaged cached copy: ${message}`);
      expect(message).toContain("weights-00000.safetensors");
      expect(message).toContain("it has been removed");
      expect(await d.evaluate(async (url) => (await (await caches.open("diffcut-models-v1")).match(url)) === undefined, key)).toBe(true);
      // The model loaded before is still there: τ works, diffusion mode stays.
      expect(await d.inputValue("[data-testid=mode]")).toBe("diffusion");
      await setRange("tau", 0.45, true, d);
      await waitReady(d);
      const n0 = requests.length;
      await d.click("[data-testid=model-load]");
      await d.waitForFunction(() => document.querySelector("[data-testid=model-note]")?.textContent?.includes("2 of 3 files from the browser's cache") === true, null, { timeout: 120_000 });
      await waitReady(d, 120_000);
      expect(requests.slice(n0)).toContain(key);
    });

    it("clears the model cache", async () => {
      await d.click("[data-testid=clear-model-cache]");
      await d.waitForFunction(() => document.querySelector("[data-testid=model-note]")?.textContent?.startsWith("Removed") === true);
      expect(await modelNote()).toContain("Removed 3 cached model files");
      expect(await d.evaluate(async () => (await caches.keys()).includes("diffcut-models-v1"))).toBe(false);
    });

    it("reports a truncated download by the file's name and keeps the model it had", async () => {
      await d.route("**/models/ssd-tiny-q8/weights-00000.safetensors", async (route) => {
        const body = readFileSync(`${TINY}/weights-00000.safetensors`).subarray(0, 100_000);
        await route.fulfill({ status: 200, contentType: "application/octet-stream", body });
      });
      await d.click("[data-testid=model-load]");
      const message = await waitError(d, 120_000);
      console.log(`[e2e] a truncated download: ${message}`);
      expect(message).toContain("weights-00000.safetensors");
      await d.unroute("**/models/ssd-tiny-q8/weights-00000.safetensors");
      expect(await d.evaluate(async () => (await caches.open("diffcut-models-v1")).keys().then((k) => k.map((r) => r.url)))).not.toContain(tinyFile("weights-00000.safetensors"));
      expect(await d.inputValue("[data-testid=mode]")).toBe("diffusion");
      await setRange("tau", 0.5, true, d);
      await waitReady(d);
    });

    it("cancels a download; the page keeps the model and segmentation it had", async () => {
      let release: () => void = () => {};
      const held = new Promise<void>((r) => (release = r));
      await d.route("**/models/ssd-tiny-q8/weights-00000.safetensors", async (route) => {
        await held;
        await route.continue().catch(() => undefined); // cancelled by then
      });
      await d.click("[data-testid=model-load]");
      await d.waitForSelector("[data-testid=model-progress]", { state: "visible" });
      expect(await d.getAttribute("[data-testid=status]", "data-state")).toBe("busy");
      await d.screenshot({ path: `${OUT}/app-model-loading.png` });
      // τ still works during a download (the page stays busy with the download meanwhile).
      const before = await segmentCount(d);
      await setRange("tau", 0.6, false, d);
      expect(await segmentCount(d)).toBeGreaterThanOrEqual(before);
      await setRange("tau", 0.5, false, d);
      await d.click("[data-testid=model-cancel]");
      await waitReady(d, 60_000);
      release();
      await d.unroute("**/models/ssd-tiny-q8/weights-00000.safetensors");
      expect(await modelNote()).toContain("Model download cancelled. Still loaded");
      expect(await d.isHidden("[data-testid=model-progress]")).toBe(true);
      expect(await d.inputValue("[data-testid=mode]")).toBe("diffusion");
      expect(await statusText()).toContain("diffusion features at 128 px");
    });

    it("switches back to colour features", async () => {
      await d.selectOption("[data-testid=mode]", "color");
      await waitReady(d);
      expect(await d.textContent("#facts")).toContain("colour + texture");
      expect(await d.isDisabled("#grid")).toBe(false);
      expect(await segmentCount(d)).toBeGreaterThan(1);
      await d.close();
    });

    it("shows a corrupted model's error and still segments with colour features", async () => {
      const p = await newPage(`${server.url}?model=${CORRUPT_URL}&sample=chelsea`);
      await waitReady(p);
      await p.selectOption("[data-testid=mode]", "diffusion");
      const message = await waitError(p, 120_000);
      console.log(`[e2e] a corrupted model: ${message}`);
      expect(message).toContain("weights-00000.safetensors");
      expect(await p.inputValue("[data-testid=mode]")).toBe("color");
      expect(await modelNote(p)).toContain("Loading the model failed");
      await p.click("button[data-sample=coffee]");
      await waitReady(p);
      expect(await p.textContent("#facts")).toContain("colour + texture");
      expect(Number(await p.textContent("[data-testid=segment-count]"))).toBeGreaterThan(1);
      await p.close();
    });

    it("says that diffusion needs WebGPU where the browser has none, and stays with colour", async () => {
      const p = await context.newPage();
      await p.addInitScript(() => Object.defineProperty(Navigator.prototype, "gpu", { get: () => undefined, configurable: true }));
      await p.goto(`${server.url}?model=${TINY_URL}&sample=coffee`);
      await waitReady(p);
      await p.selectOption("[data-testid=mode]", "diffusion");
      expect(await waitError(p)).toContain("Diffusion features need WebGPU");
      expect(await p.inputValue("[data-testid=mode]")).toBe("color");
      await p.click("button[data-sample=chelsea]");
      await waitReady(p);
      await p.close();
    });

    it("refuses a model from a host the page may not fetch from, without fetching", async () => {
      const p = await newPage(`${server.url}?model=https://models.example.org/ssd-1b-q8/manifest.json&sample=coffee`);
      await waitReady(p);
      await p.selectOption("[data-testid=mode]", "diffusion");
      const message = await waitError(p);
      expect(message).toContain("Cannot load a model from https://models.example.org");
      expect(message).toContain("Pick the model folder from disk");
      expect(await p.inputValue("[data-testid=mode]")).toBe("color");
      await p.close();
    });

    /** Records every text the status line shows, from now on (read it with `statusLog`). */
    const recordStatus = (p: Page): Promise<void> =>
      p.evaluate(() => {
        const el = document.querySelector("[data-testid=status]");
        const log: string[] = [];
        (window as unknown as { statusLog: string[] }).statusLog = log;
        if (el) new MutationObserver(() => log.push(el.textContent ?? "")).observe(el, { childList: true, characterData: true, subtree: true });
      });
    const statusLog = (p: Page): Promise<string[]> => p.evaluate(() => (window as unknown as { statusLog: string[] }).statusLog);
    /** The diffusion module's wasm as this page gets it (the dist copy of www/pkg-model's). */
    const MODULE_WASM = /\/assets\/diffcut_bg-[^/]*\.wasm$/;
    const moduleBytes = (): string => formatBytes(statSync("pkg-model/diffcut_bg.wasm").size);

    it("cancels while the diffusion module itself downloads, and stays with colour", async () => {
      const p = await newPage(`${server.url}?model=${TINY_URL}&sample=coffee`);
      await waitReady(p);
      let release: () => void = () => {};
      const held = new Promise<void>((r) => (release = r));
      await p.route(MODULE_WASM, async (route) => {
        await held;
        await route.continue().catch(() => undefined); // cancelled by then
      });
      const n0 = requests.length;
      await p.selectOption("[data-testid=mode]", "diffusion");
      await p.waitForSelector("[data-testid=model-progress]", { state: "visible" });
      await p.click("[data-testid=model-cancel]");
      await waitReady(p, 60_000);
      release();
      await p.unroute(MODULE_WASM);
      expect(await modelNote(p)).toContain("Model download cancelled.");
      expect(await p.inputValue("[data-testid=mode]")).toBe("color");
      expect(requests.slice(n0).filter((u) => u.includes("/models/"))).toEqual([]); // nothing of the model yet
      await p.click("button[data-sample=chelsea]");
      await waitReady(p);
      expect(await p.textContent("#facts")).toContain("colour + texture");
      await p.close();
    });

    it("loads a model folder picked from disk", async () => {
      // No image: the model loads, and the page waits for one in diffusion mode.
      const p = await newPage(`${server.url}?sample=none`);
      await recordStatus(p);
      const n0 = requests.length;
      // A folder as <input webkitdirectory> gives it: each file with its path in the folder.
      await p.evaluate(async (files) => {
        const dt = new DataTransfer();
        for (const [path, b64] of files) {
          const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
          const file = new File([bytes], path.split("/").pop() ?? path);
          Object.defineProperty(file, "webkitRelativePath", { value: path });
          dt.items.add(file);
        }
        const input = document.querySelector<HTMLInputElement>("[data-testid=model-folder]");
        if (!input) throw new Error("no folder input");
        Object.defineProperty(input, "files", { value: dt.files, configurable: true });
        input.dispatchEvent(new Event("change", { bubbles: true }));
      }, ["manifest.json", "config.json", "weights-00000.safetensors", "noise/ddim_noise_seed42_256.npy"].map((f) => [`q8/${f}`, readFileSync(`${TINY}/${f}`).toString("base64")] as const));
      await p.waitForFunction(() => document.querySelector("[data-testid=status]")?.textContent?.startsWith("Model loaded") === true, null, { timeout: 120_000 });
      expect(await p.getAttribute("[data-testid=status]", "data-state")).toBe("idle");
      expect(await p.inputValue("[data-testid=mode]")).toBe("diffusion");
      expect(await modelNote(p)).toContain("not cached");
      expect(requests.slice(n0).filter((u) => u.includes("/models/"))).toEqual([]);
      // The diffusion module's own download was shown byte by byte, before the model's files.
      const log = await statusLog(p);
      const size = moduleBytes();
      const first = log.indexOf(`Loading the diffusion model: 0 B of ${size} (0 %), the diffusion module (wasm)…`);
      const last = log.indexOf(`Loading the diffusion model: ${size} of ${size} (100 %), the diffusion module (wasm)…`);
      expect(first, log.join("\n")).toBeGreaterThanOrEqual(0);
      expect(last).toBeGreaterThan(first);
      expect(log.findIndex((t) => t.includes("weights-00000.safetensors"))).toBeGreaterThan(last);
      await p.close();
    });

    // The numbers themselves: the diffusion module's own API, on the Rust tests' fixture image at
    // S = 128 (no official noise at that size, so none is added), against what diffusers computes
    // from the same q8-rounded weights (tests/fixtures/model/ssd-tiny/expected/features_zero_q8.npy,
    // made by models/make_tiny.py). Every convolution and product runs on WebGPU here, in our
    // GEMM's WGSL (gpu/gemm) as Chrome compiles it; the same bound as the native wgpu test's.
    it("computes the features diffusers computes, through the module's diffusionFeatures", async () => {
      const assets = readdirSync("dist/assets");
      const js = assets.filter((f) => /^diffcut-.*\.js$/.test(f)).find((f) => readFileSync(`dist/assets/${f}`, "utf8").includes("modelBegin"));
      const wasm = assets.filter((f) => /^diffcut_bg-.*\.wasm$/.test(f)).sort((a, b) => statSync(`dist/assets/${b}`).size - statSync(`dist/assets/${a}`).size)[0];
      expect(js, assets.join(", ")).toBeDefined();
      // (An empty icon: else the browser asks for /favicon.ico, a 404 the last test would count.)
      writeFileSync(`${OUT}/blank.html`, '<!doctype html><title>module</title><link rel="icon" href="data:,">');
      const p = await newPage(`${server.url}e2e-files/blank.html`);
      const fixture = "../tests/fixtures/model/ssd-tiny";
      const got = await p.evaluate(
        async ([js, wasm, dir, png]) => {
          type Features = { h: number; w: number; c: number; data: Float32Array };
          type Api = {
            default: (o: { module_or_path: string }) => Promise<unknown>;
            debugKernelLaunches: () => string;
            DiffCut: {
              create: (preferGpu?: boolean) => Promise<{
                modelBegin: (m: Uint8Array) => Promise<string[]>;
                modelAddFile: (name: string, bytes: Uint8Array) => void;
                modelFinish: () => unknown;
                diffusionFeatures: (bytes: Uint8Array, size: number) => Promise<Features>;
              }>;
            };
          };
          // (Spelled out of vitest's reach: it rewrites `import()` in the test's own code.)
          const load = new Function("url", "return import(url);") as (url: string) => Promise<Api>;
          const mod = await load(js);
          await mod.default({ module_or_path: wasm });
          const dc = await mod.DiffCut.create(true);
          const bytes = async (name: string): Promise<Uint8Array> => new Uint8Array(await (await fetch(dir + name)).arrayBuffer());
          for (const name of await dc.modelBegin(await bytes("manifest.json"))) dc.modelAddFile(name, await bytes(name));
          dc.modelFinish();
          const image = Uint8Array.from(atob(png), (ch) => ch.charCodeAt(0));
          const f = await dc.diffusionFeatures(image, 128);
          const launches = JSON.parse(mod.debugKernelLaunches()) as Record<string, number>;
          return { h: f.h, w: f.w, c: f.c, data: Array.from(f.data), launches };
        },
        [`/assets/${js}`, `/assets/${wasm}`, `${server.url}models/ssd-tiny-q8/`, readFileSync(`${fixture}/image.png`).toString("base64")] as const,
      );
      // Our kernels ran (a kernel that declines launches nothing, and burn's ops stand in).
      console.log(`[e2e] kernel launches for one image: ${JSON.stringify(got.launches)}`);
      for (const k of ["ImplicitGemm", "WinogradWeight", "WinogradInput", "WinogradOutput", "GroupSums<true>", "GroupSumsFinish", "GroupNormApply<true>", "ScaledSoftmax"]) expect(got.launches[k] ?? 0, k).toBeGreaterThan(0);
      const want = readNpyF32(`${fixture}/expected/features_zero_q8.npy`);
      expect([got.h, got.w, got.c]).toEqual(want.shape);
      // max |got − want| / max |want|, as the Rust tests' rel_err (tests/common).
      let diff = 0;
      let norm = 0;
      want.data.forEach((v, i) => {
        diff = Math.max(diff, Math.abs(got.data[i]! - v));
        norm = Math.max(norm, Math.abs(v));
      });
      const relErr = diff / norm;
      console.log(`[e2e] diffusionFeatures vs diffusers (q8, S = 128): rel err ${relErr.toExponential(2)}`);
      timings["tinyFeaturesRelErrVsDiffusers"] = relErr;
      expect(norm).toBeGreaterThan(0);
      expect(relErr).toBeLessThan(2e-4);
      await p.close();
    });

    // The features above reach only the variants the tiny model needs; Chrome's compiler (Tint)
    // is stricter than the native one the Rust tests use (it refused the GEMM twice). Every
    // kernel the module launches on burn's device is compiled here, each variant once.
    it("compiles every WGSL kernel of the diffusion module in Chrome's WebGPU", async () => {
      const assets = readdirSync("dist/assets");
      const js = assets.filter((f) => /^diffcut-.*\.js$/.test(f)).find((f) => readFileSync(`dist/assets/${f}`, "utf8").includes("modelBegin"));
      const wasm = assets.filter((f) => /^diffcut_bg-.*\.wasm$/.test(f)).sort((a, b) => statSync(`dist/assets/${b}`).size - statSync(`dist/assets/${a}`).size)[0];
      expect(js, assets.join(", ")).toBeDefined();
      const p = await newPage(`${server.url}e2e-files/blank.html`);
      const report = await p.evaluate(
        async ([js, wasm]) => {
          type Api = { default: (o: { module_or_path: string }) => Promise<unknown>; debugKernelSources: () => string };
          const load = new Function("url", "return import(url);") as (url: string) => Promise<Api>;
          const mod = await load(js);
          await mod.default({ module_or_path: wasm });
          const kernels = JSON.parse(mod.debugKernelSources()) as { name: string; entry: string; source: string }[];
          // The few WebGPU calls used here (the project does not depend on WebGPU's type package).
          type Module = { getCompilationInfo: () => Promise<{ messages: { type: string; lineNum: number; linePos: number; message: string }[] }> };
          type Device = {
            pushErrorScope: (filter: "validation") => void;
            popErrorScope: () => Promise<{ message: string } | null>;
            createShaderModule: (d: { code: string }) => Module;
            createComputePipeline: (d: { layout: "auto"; compute: { module: Module; entryPoint: string } }) => unknown;
          };
          const gpu = (navigator as unknown as { gpu?: { requestAdapter: () => Promise<{ requestDevice: () => Promise<Device> } | null> } }).gpu;
          const adapter = await gpu?.requestAdapter();
          if (!adapter) throw new Error("no WebGPU adapter");
          const device = await adapter.requestDevice();
          const out: string[] = [];
          for (const k of kernels) {
            device.pushErrorScope("validation");
            const module = device.createShaderModule({ code: k.source });
            const messages = (await module.getCompilationInfo()).messages.filter((m) => m.type === "error").map((m) => `${m.lineNum}:${m.linePos} ${m.message}`);
            device.createComputePipeline({ layout: "auto", compute: { module, entryPoint: k.entry } });
            const error = await device.popErrorScope();
            out.push(`${k.name} (${k.entry}): ${messages.length === 0 && !error ? "ok" : [...messages, error?.message].join("; ")}`);
          }
          return out;
        },
        [`/assets/${js}`, `/assets/${wasm}`] as const,
      );
      console.log(`[e2e] kernels compiled in Chrome: ${report.join(", ")}`);
      expect(report.length).toBeGreaterThanOrEqual(6);
      expect(report.filter((r) => !r.endsWith(": ok"))).toEqual([]);
      await p.close();
    });
  });

  // A browser context of its own: its Cache Storage is CLIP's alone (the diffusion tests count
  // their cached files), and its requests go into the same log for the check below.
  describe("naming segments with CLIP (the tiny test CLIP, burn on WebGPU/SwiftShader)", () => {
    let clipContext: BrowserContext;
    let n: Page;
    /** This context's requests, in order. */
    const clipRequests: string[] = [];
    const clipFile = (name: string): string => `${server.url}models/clip-tiny-q8/${name}`;
    /** The first synonym of each class of the tiny CLIP's VOC set: the names a segment may get. */
    const vocNames = (JSON.parse(readFileSync(`${TINY_CLIP}/labels/voc.json`, "utf8")) as { classes: string[][] }).classes.map((c) => c[0] ?? "");
    const drawnNames = async (): Promise<string[]> => JSON.parse((await n.getAttribute("[data-testid=overlay]", "data-names")) ?? "null") as string[];
    const namesText = async (): Promise<string> => (await n.textContent("[data-testid=names-text]")) ?? "";
    /** Waits until the names of the labels at τ = `tau` are shown (or fails with the naming's error). */
    const waitNamed = async (tau: string, timeout = 240_000): Promise<void> => {
      // The state is read where it is waited for: a later naming (the refined labels arriving)
      // may already have replaced it by the time a second read is made.
      const seen = await n.waitForFunction(
        (t) => {
          const el = document.querySelector<HTMLElement>("[data-testid=names-text]");
          if (el?.dataset["state"] === "error") return `error: ${el.textContent ?? ""}`;
          return el?.dataset["state"] === "named" && el.dataset["tau"] === t ? "named" : false;
        },
        tau,
        { timeout },
      );
      const state = (await seen.jsonValue()) as string;
      if (state !== "named") throw new Error(`naming failed: ${state}`);
    };
    /** The hover line over the overlay's pixel (x, y) of the image. */
    const hoverAt = async (x: number, y: number): Promise<string> => {
      await n.locator("[data-testid=overlay]").scrollIntoViewIfNeeded();
      const box = await n.locator("[data-testid=overlay]").boundingBox();
      const [w, h] = await n.$eval("[data-testid=overlay]", (c) => [(c as HTMLCanvasElement).width, (c as HTMLCanvasElement).height]);
      if (!box || !w || !h) throw new Error("no overlay");
      await n.mouse.move(box.x + ((x + 0.5) * box.width) / w, box.y + ((y + 0.5) * box.height) / h);
      await n.waitForFunction(() => (document.querySelector("#hover-info")?.textContent ?? "") !== "");
      return (await n.textContent("#hover-info")) ?? "";
    };
    const hoveredName = (text: string): string => /^segment \d+ of \d+ · (.+) \(tree node \d+\)/.exec(text)?.[1] ?? "";

    beforeAll(async () => {
      clipContext = await browser.newContext({ viewport: { width: 1280, height: 900 } });
      clipContext.on("request", (r) => {
        requests.push(r.url());
        clipRequests.push(r.url());
      });
    });

    afterAll(async () => {
      await clipContext?.close();
    });

    it("names the bundled photo's segments with a label set of ?clip=, fetching CLIP's image part only", async () => {
      n = await clipContext.newPage();
      n.on("console", (m) => {
        if (m.type() === "error") consoleErrors.push(m.text());
        if (m.type() === "info") console.log(`[page] ${m.text()}`);
      });
      n.on("pageerror", (e) => consoleErrors.push(`pageerror: ${e.message}`));
      await n.goto(`${server.url}?clip=${TINY_CLIP_URL}&model=${TINY_URL}`);
      await waitReady(n);
      expect(await n.inputValue("[data-testid=clip-url]")).toBe(clipFile("manifest.json"));
      expect(clipRequests.filter((u) => new URL(u).pathname.startsWith("/models/"))).toEqual([]);
      expect(await n.$$eval("[data-testid=clip-labels] option", (os) => os.map((o) => (o as HTMLOptionElement).value))).toEqual(["voc", "context", "coco-object", "ade", "cityscapes", "words"]);
      await n.selectOption("[data-testid=clip-labels]", "voc");
      const t0 = performance.now();
      await n.click("[data-testid=name-segments]");
      const tau = Number(await n.inputValue("[data-testid=tau]")).toFixed(2);
      await waitNamed(tau);
      timings["clipNameFirstMs"] = Math.round(performance.now() - t0);
      console.log(`[e2e] named: ${await namesText()} | ${await n.textContent("[data-testid=clip-note]")}`);
      expect(await namesText()).toContain("named with PASCAL VOC (21 classes), CLIP at 512 px");
      // Names drawn on the image, each a VOC class; the legend lists them.
      const drawn = await drawnNames();
      expect(drawn.length).toBeGreaterThan(0);
      for (const name of drawn) expect(vocNames).toContain(name);
      const legend = await n.$$eval("[data-testid=names-list] li .name", (els) => els.map((e) => e.textContent ?? ""));
      expect(legend.length).toBeGreaterThan(0);
      for (const name of drawn) expect(legend).toContain(name);
      // The hover line and the selection's text name the segment.
      const [w, h] = await n.$eval("[data-testid=overlay]", (c) => [(c as HTMLCanvasElement).width, (c as HTMLCanvasElement).height]);
      const hovered = await hoverAt(Math.floor((w ?? 2) / 2), Math.floor((h ?? 2) / 2));
      expect(vocNames, hovered).toContain(hoveredName(hovered));
      await n.mouse.down();
      await n.mouse.up();
      await n.waitForFunction(() => Number(document.querySelector("[data-testid=selection]")?.getAttribute("data-pixels")) > 0, null, { timeout: 60_000 });
      const selection = (await n.textContent("[data-testid=selection]")) ?? "";
      // The region picked (edges refined as cut-outs are) may be another segment than the one hovered.
      const picked = /^Selected: Tree node \d+ \(depth \d+\) · (.+), [\d,]+ pixels/.exec(selection)?.[1]?.split(", ") ?? [];
      expect(picked.length, selection).toBeGreaterThan(0);
      for (const name of picked) expect(vocNames).toContain(name);
      // Only the image part came: the config, the image tower, the label sets; no text part.
      const fetched = clipRequests.filter((u) => u.includes("/models/clip-tiny-q8/"));
      for (const f of ["manifest.json", "config.json", "image-00000.safetensors", "labels/voc.json", "labels/voc.npy", "labels/ade.npy"]) expect(fetched).toContain(clipFile(f));
      expect(fetched.filter((u) => u.includes("text-") || u.includes("bpe_simple_vocab"))).toEqual([]);
      expect(await n.textContent("[data-testid=clip-note]")).toContain("loads when you use your own words");
      expect(await n.isHidden("[data-testid=clip-progress]")).toBe(true);
      await n.locator("[data-testid=overlay]").scrollIntoViewIfNeeded();
      await n.screenshot({ path: `${OUT}/app-named.png`, fullPage: true });
    });

    it("names them again at another CLIP size, and when τ moves", async () => {
      // 256 from here on: quicker on SwiftShader.
      await n.selectOption("[data-testid=clip-size]", "256");
      await n.waitForFunction(() => document.querySelector("[data-testid=names-text]")?.textContent?.includes("CLIP at 256 px") === true, null, { timeout: 240_000 });
      await setRange("tau", 0.3, true, n);
      await waitReady(n);
      await waitNamed("0.30");
      expect(await namesText()).toContain("CLIP at 256 px");
      const drawn = await drawnNames();
      expect(drawn.length).toBeGreaterThan(0);
      for (const name of drawn) expect(vocNames).toContain(name);
      await setRange("tau", 0.5, true, n);
      await waitReady(n);
      await waitNamed("0.50");
    });

    it("names with typed words, fetching CLIP's text part only then", async () => {
      const before = clipRequests.length;
      expect(clipRequests.some((u) => u.includes("text-00000.safetensors"))).toBe(false);
      await n.selectOption("[data-testid=clip-labels]", "words");
      expect(await n.isVisible("[data-testid=clip-words]")).toBe(true);
      await n.fill("[data-testid=clip-words]", "cat; dog; grass");
      await n.click("[data-testid=name-segments]");
      await n.waitForFunction(() => document.querySelector("[data-testid=names-text]")?.textContent?.includes('"cat; dog; grass"') === true, null, { timeout: 240_000 });
      await waitNamed("0.50");
      console.log(`[e2e] named with words: ${await namesText()} | ${await n.textContent("[data-testid=clip-note]")}`);
      const drawn = await drawnNames();
      expect(drawn.length).toBeGreaterThan(0);
      for (const name of drawn) expect(["cat", "dog", "grass"]).toContain(name);
      const hovered = await hoverAt(3, 3);
      expect(["cat", "dog", "grass"], hovered).toContain(hoveredName(hovered));
      // The text part came now, once; the image part's files came from the browser's cache.
      const fetched = clipRequests.slice(before);
      expect(fetched.filter((u) => u === clipFile("text-00000.safetensors"))).toHaveLength(1);
      expect(fetched).toContain(clipFile("bpe_simple_vocab_16e6.txt.gz"));
      expect(fetched).not.toContain(clipFile("image-00000.safetensors"));
      expect(await n.textContent("[data-testid=clip-note]")).toContain("text part 3.2 MB loaded");
      await n.locator("[data-testid=overlay]").scrollIntoViewIfNeeded();
      await n.screenshot({ path: `${OUT}/app-named-words.png`, fullPage: true });
    });

    it("names segments cut by the diffusion features too, and hides the names", async () => {
      await n.selectOption("[data-testid=mode]", "diffusion");
      await n.waitForFunction(() => document.querySelector("[data-testid=status]")?.textContent?.includes("diffusion features") === true, null, { timeout: 240_000 });
      await waitReady(n, 240_000);
      // The new segmentation is named on its own (naming stays on).
      await n.waitForFunction(() => {
        const names = document.querySelector("[data-testid=overlay]")?.getAttribute("data-names");
        return document.querySelector<HTMLElement>("[data-testid=names-text]")?.dataset["state"] === "named" && names !== null && names !== undefined;
      }, null, { timeout: 240_000 });
      expect(await n.textContent("#facts")).toContain("diffusion");
      for (const name of await drawnNames()) expect(["cat", "dog", "grass"]).toContain(name);
      await n.screenshot({ path: `${OUT}/app-named-diffusion.png`, fullPage: true });
      await n.click("[data-testid=names-hide]");
      expect(await n.getAttribute("[data-testid=overlay]", "data-names")).toBeNull();
      expect(await n.$$eval("[data-testid=names-list] li", (els) => els.length)).toBe(0);
      expect(hoveredName(await hoverAt(2, 2))).toBe("");
      // Colour features are untouched by all this.
      await n.selectOption("[data-testid=mode]", "color");
      await waitReady(n);
      expect(await segmentCount(n)).toBeGreaterThan(1);
      await n.close();
    });
  });

  it("talks to 127.0.0.1 only and logs no unexpected errors", () => {
    const origin = new URL(server.url).origin;
    const outside = requests.filter((u) => !u.startsWith(origin + "/") && !u.startsWith("data:") && !u.startsWith("blob:"));
    expect(outside).toEqual([]);
    expect(requests.some((u) => u.endsWith(".wasm"))).toBe(true); // the worker's requests are seen too
    expect(consoleErrors.filter((e) => !EXPECTED_ERRORS.some((x) => e.includes(x)))).toEqual([]);
  });
});
