import { loadEnv, type Plugin } from "vite";
import { defineConfig } from "vitest/config";
import { contentSecurityPolicy, cspOfHtml, parseModelHosts, withCsp } from "./scripts/csp.mjs";

/**
 * Writes the Content-Security-Policy into index.html with the model hosts of VITE_MODEL_HOSTS
 * (scripts/csp.mjs). The policy in index.html must be the one without hosts, so the two never drift.
 */
function cspPlugin(hosts: readonly string[]): Plugin {
  return {
    name: "diffcut-csp",
    transformIndexHtml(html) {
      const written = cspOfHtml(html);
      if (written !== contentSecurityPolicy()) {
        throw new Error(`index.html's Content-Security-Policy differs from scripts/csp.mjs:\n  ${written}\n  ${contentSecurityPolicy()}`);
      }
      return withCsp(html, contentSecurityPolicy(hosts));
    },
  };
}

export default defineConfig(({ mode }) => {
  const hosts = parseModelHosts(loadEnv(mode, process.cwd(), "VITE_")["VITE_MODEL_HOSTS"]);
  return {
    // Relative URLs: dist/ works from any path (`./build.sh serve`, a sub-folder of a static host).
    base: "./",
    plugins: [cspPlugin(hosts)],
    build: {
      target: "es2022",
      outDir: "dist",
      emptyOutDir: true,
      // Never inline assets as data: URLs: the CSP allows fetching from 'self' only.
      assetsInlineLimit: 0,
      reportCompressedSize: false,
    },
    worker: { format: "es" },
    // The sample photos live in ../samples (outside this folder).
    server: { host: "127.0.0.1", fs: { allow: [".."] } },
    test: { include: ["test/**/*.test.ts"], environment: "node" },
  };
});
