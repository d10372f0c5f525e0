import { defineConfig } from "vite";

// The build goes into the Python package, which serves it (src/matsight/analytics/server.py).
export default defineConfig({
  base: "./",
  build: { outDir: "../src/matsight/analytics/static", emptyOutDir: true, chunkSizeWarningLimit: 2000 },
  test: { environment: "node" },
} as any);
