import { defineConfig } from "vitest/config";

// The end-to-end test: serves dist/ and drives headless Chromium (WebGPU on SwiftShader).
export default defineConfig({
  test: {
    include: ["e2e/**/*.e2e.ts"],
    environment: "node",
    testTimeout: 240_000,
    hookTimeout: 120_000,
    fileParallelism: false,
  },
});
