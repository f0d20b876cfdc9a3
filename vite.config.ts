// Vite builds the browser side (web/): the demo page and, later, the SDK and
// the <go-live> element. `npm run dev` serves it with hot reload.
import { defineConfig } from "vite";
import { fileURLToPath } from "node:url";

export default defineConfig({
  root: fileURLToPath(new URL("./web", import.meta.url)),
  base: "./",
  build: {
    outDir: fileURLToPath(new URL("./dist/web", import.meta.url)),
    emptyOutDir: true,
    target: "es2022",
  },
  server: {
    host: "127.0.0.1",
    fs: { allow: [fileURLToPath(new URL(".", import.meta.url))] },
  },
});
