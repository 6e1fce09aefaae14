import { defineConfig } from "vitest/config";

export default defineConfig({
  // Relative URLs: dist/ works from any path (`./build.sh serve`, a sub-folder of a static host).
  base: "./",
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
});
