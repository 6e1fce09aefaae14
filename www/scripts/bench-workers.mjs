/**
 * The page's CPU tree on one worker and on two (the CPU helper), colour features, grid 48: the
 * built site (dist/, `./build.sh web`) in headless Chromium, one page per setting, two rounds;
 * each page's first segmentation, then two more after moving α (a new tree each). Prints the
 * facts' tree times. `node scripts/bench-workers.mjs` (CHROMIUM overrides /usr/bin/chromium).
 */
import { readFileSync } from "node:fs";
import { chromium } from "playwright-core";
import { serve } from "./serve.mjs";
const FLAGS = JSON.parse(readFileSync("../wasm-tests/webdriver.json", "utf8"))["goog:chromeOptions"].args;
const server = await serve({ root: "dist", port: 0 });
const browser = await chromium.launch({ executablePath: process.env["CHROMIUM"] ?? "/usr/bin/chromium", headless: true, args: FLAGS });
const ctx = await browser.newContext();
const treeMs = async (p) => Number(/tree (\d+) ms/.exec((await p.textContent("#facts")) ?? "")?.[1]);
const waitReady = (p) => p.waitForFunction(() => document.querySelector("[data-testid=status]")?.dataset["state"] === "ready", null, { timeout: 120000 });
for (const round of [1, 2]) {
  for (const q of ["&workers=1", ""]) {
    const p = await ctx.newPage();
    await p.goto(`${server.url}?device=cpu&grid=48${q}`);
    await waitReady(p);
    const ms = [await treeMs(p)];
    for (const alpha of [8, 9]) {
      await p.$eval("[data-testid=alpha]", (el, v) => { el.value = String(v); el.dispatchEvent(new Event("input", { bubbles: true })); el.dispatchEvent(new Event("change", { bubbles: true })); }, alpha);
      await p.waitForTimeout(200);
      await waitReady(p);
      ms.push(await treeMs(p));
    }
    console.log(`round ${round} ${q || "two workers"}: tree ms ${ms.join(" ")}`);
    await p.close();
  }
}
await browser.close();
await server.close();
