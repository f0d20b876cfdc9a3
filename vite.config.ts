// Vite builds the browser side (web/): the demo page served at / and
// golive.js (the SDK + <go-live>, for one <script type="module"> tag).
// `npm run dev` serves it with hot reload and proxies /ingest to a bridge
// running on GOLIVE_BRIDGE (default http://127.0.0.1:8080).
import { defineConfig } from "vite";
import { fileURLToPath } from "node:url";

const bridge = process.env.GOLIVE_BRIDGE ?? "http://127.0.0.1:8080";

export default defineConfig({
  root: fileURLToPath(new URL("./web", import.meta.url)),
  base: "./",
  build: {
    outDir: fileURLToPath(new URL("./dist/web", import.meta.url)),
    emptyOutDir: true,
    target: "es2022",
    rollupOptions: {
      input: {
        index: fileURLToPath(new URL("./web/index.html", import.meta.url)),
        golive: fileURLToPath(new URL("./web/golive.ts", import.meta.url)),
      },
      // Apps embed /golive.js by that name; everything else is hashed.
      output: { entryFileNames: (chunk) => (chunk.name === "golive" ? "golive.js" : "assets/[name]-[hash].js") },
      preserveEntrySignatures: "exports-only",
    },
  },
  worker: { format: "es" },
  optimizeDeps: { exclude: ["@ffmpeg/ffmpeg"] },
  server: {
    host: "127.0.0.1",
    fs: { allow: [fileURLToPath(new URL(".", import.meta.url))] },
    proxy: { "/ingest": { target: bridge, ws: true } },
  },
});
