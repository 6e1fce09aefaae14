/**
 * End to end: the built site (dist/) served on 127.0.0.1, driven in headless Chromium
 * (playwright-core, /usr/bin/chromium, WebGPU on SwiftShader with the flags of
 * wasm-tests/webdriver.json). Run `./build.sh` first; `./build.sh test` does both.
 *
 * Writes screenshots and timings.json to test-results/.
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { serve } from "../scripts/serve.mjs";

const OUT = "test-results";
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

/** Waits until the status is `ready` (or fails with the page's error message). */
async function waitReady(p: Page = page, timeout = 120_000): Promise<void> {
  await p.waitForFunction(() => ["ready", "error"].includes(document.querySelector<HTMLElement>("[data-testid=status]")?.dataset["state"] ?? ""), null, { timeout });
  const state = await p.getAttribute("[data-testid=status]", "data-state");
  if (state !== "ready") throw new Error(`status is ${state}: ${await p.textContent("[data-testid=status]")}`);
}

async function waitError(): Promise<string> {
  await page.waitForFunction(() => document.querySelector<HTMLElement>("[data-testid=status]")?.dataset["state"] === "error", null, { timeout: 60_000 });
  return (await page.textContent("[data-testid=status]")) ?? "";
}

/** Sets a range input as a user would: `input` events while dragging, `change` on release. */
async function setRange(testid: string, value: number, release = true): Promise<void> {
  await page.$eval(
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

async function segmentCount(): Promise<number> {
  return Number(await page.textContent("[data-testid=segment-count]"));
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;

beforeAll(async () => {
  mkdirSync(OUT, { recursive: true });
  server = await serve({ root: "dist", port: 0 });
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: FLAGS });
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

  it("offers colour features and a diffusion mode that says no model is loaded", async () => {
    const options = await page.$$eval("[data-testid=mode] option", (os) => os.map((o) => ({ value: (o as HTMLOptionElement).value, disabled: (o as HTMLOptionElement).disabled, text: o.textContent ?? "" })));
    expect(options.map((o) => o.value)).toEqual(["color", "diffusion"]);
    expect(await page.inputValue("[data-testid=mode]")).toBe("color");
    const diffusion = options.find((o) => o.value === "diffusion");
    expect(diffusion?.disabled).toBe(true);
    expect(diffusion?.text).toContain("no model loaded yet");
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
    expect(json.tau_max).toBeCloseTo(0.9);
    expect(json.nodes.length).toBeGreaterThan(1);
  });

  it("shows an error for a broken file, then recovers with a sample", async () => {
    await page.setInputFiles("[data-testid=image-input]", { name: "broken.jpg", mimeType: "image/jpeg", buffer: Buffer.from("this is not an image at all") });
    const message = await waitError();
    expect(message).toContain("cannot decode image");
    await page.click("button[data-sample=coffee]");
    await waitReady();
    expect(await segmentCount()).toBeGreaterThan(1);
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
    expect(await page.textContent("#facts")).toContain("downscaled from 2400×1600 to 1024×683");
    expect(await page.$eval("[data-testid=overlay]", (c) => [(c as HTMLCanvasElement).width, (c as HTMLCanvasElement).height])).toEqual([1024, 683]);
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

  it("talks to 127.0.0.1 only and logs no unexpected errors", () => {
    const origin = new URL(server.url).origin;
    const outside = requests.filter((u) => !u.startsWith(origin + "/") && !u.startsWith("data:") && !u.startsWith("blob:"));
    expect(outside).toEqual([]);
    expect(requests.some((u) => u.endsWith(".wasm"))).toBe(true); // the worker's requests are seen too
    expect(consoleErrors.filter((e) => !e.includes("cannot decode image"))).toEqual([]);
  });
});
