#!/usr/bin/env node
// A small static file server for dist/ (no dependencies): the right MIME types (application/wasm
// for streaming compilation), the page's Content-Security-Policy as a header too (workers take
// their CSP from headers, not from the page's meta tag; it is read from ROOT/index.html, so it
// lists the model hosts the page was built with), no caching, and nothing outside the root.
//
//   node scripts/serve.mjs [ROOT=dist]     PORT (default 8080) and HOST (default 127.0.0.1) override
import { createReadStream, readFileSync } from "node:fs";
import { stat } from "node:fs/promises";
import { createServer } from "node:http";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { contentSecurityPolicy, cspOfHtml } from "./csp.mjs";

export const MIME = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json",
  ".wasm": "application/wasm",
  ".png": "image/png",
  ".jpg": "image/jpeg",
  ".jpeg": "image/jpeg",
  ".svg": "image/svg+xml",
  ".ico": "image/x-icon",
  ".txt": "text/plain; charset=utf-8",
  ".md": "text/markdown; charset=utf-8",
  ".safetensors": "application/octet-stream",
  ".npy": "application/octet-stream",
};

/** The policy without model hosts (what a page built without VITE_MODEL_HOSTS has). */
export const CSP = contentSecurityPolicy();

/** The policy of `root/index.html`'s meta tag, else {@link CSP}. */
function cspOfRoot(root) {
  try {
    return cspOfHtml(readFileSync(path.join(root, "index.html"), "utf8")) ?? CSP;
  } catch {
    return CSP;
  }
}

/**
 * Serves `root` on `host:port` (port 0 picks a free one). `mounts` serves more folders under URL
 * prefixes, e.g. `{ "/models/ssd-tiny-q8/": "../tests/fixtures/model/ssd-tiny/q8" }` (the
 * end-to-end test's model).
 * @param {{ root: string, port?: number, host?: string, mounts?: Record<string, string> }} options
 * @returns {Promise<{ url: string, close: () => Promise<void> }>}
 */
export function serve({ root, port = 8080, host = "127.0.0.1", mounts = {} }) {
  const csp = cspOfRoot(root);
  const folders = Object.entries(mounts)
    .map(([prefix, dir]) => {
      if (!prefix.startsWith("/") || !prefix.endsWith("/")) throw new Error(`mount ${prefix}: a URL prefix starts and ends with /`);
      return { prefix, dir: path.resolve(dir) };
    })
    .sort((a, b) => b.prefix.length - a.prefix.length);
  const server = createServer(async (req, res) => {
    try {
      if (req.method !== "GET" && req.method !== "HEAD") {
        res.writeHead(405, { Allow: "GET, HEAD" }).end();
        return;
      }
      const url = new URL(req.url ?? "/", "http://localhost");
      const pathname = decodeURIComponent(url.pathname);
      const mount = folders.find((m) => pathname.startsWith(m.prefix));
      const base = mount ? mount.dir : path.resolve(root);
      let file = path.resolve(base, "." + (mount ? pathname.slice(mount.prefix.length - 1) : pathname));
      if (file !== base && !file.startsWith(base + path.sep)) {
        res.writeHead(403).end("forbidden");
        return;
      }
      let info = await stat(file).catch(() => null);
      if (info?.isDirectory()) {
        file = path.join(file, "index.html");
        info = await stat(file).catch(() => null);
      }
      if (!info?.isFile()) {
        res.writeHead(404, { "Content-Type": "text/plain; charset=utf-8" }).end(`not found: ${url.pathname}`);
        return;
      }
      res.writeHead(200, {
        "Content-Type": MIME[path.extname(file).toLowerCase()] ?? "application/octet-stream",
        "Content-Length": info.size,
        "Cache-Control": "no-cache",
        "Content-Security-Policy": csp,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
      });
      if (req.method === "HEAD") res.end();
      else createReadStream(file).pipe(res);
    } catch (e) {
      res.writeHead(500).end(String(e));
    }
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      const addr = server.address();
      const actual = typeof addr === "object" && addr ? addr.port : port;
      resolve({
        url: `http://${host}:${actual}/`,
        close: () => new Promise((done) => server.close(() => done())),
      });
    });
  });
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const root = process.argv[2] ?? "dist";
  const { url } = await serve({ root, port: Number(process.env.PORT ?? 8080), host: process.env.HOST ?? "127.0.0.1" });
  console.log(`serving ${path.resolve(root)} on ${url} (Ctrl-C to stop)`);
}
