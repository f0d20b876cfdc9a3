/**
 * Where golive's built browser files are, for a bridge to serve: the demo
 * page, golive.js and its hashed assets (dist/web, built by `npm run build`),
 * and ffmpeg.wasm's core when the optional @ffmpeg/core package is installed.
 */
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

function findWebRoot(): string | undefined {
  // dist/server/web-root.js -> dist/web; server/web-root.ts (tests, tsx) -> dist/web.
  for (const rel of ["../web", "../dist/web"]) {
    const dir = fileURLToPath(new URL(rel, new URL(".", import.meta.url)));
    if (existsSync(join(dir, "index.html")) && existsSync(join(dir, "golive.js"))) return dir;
  }
  return undefined;
}

/**
 * golive's built browser files (the demo page, golive.js, assets/), or
 * undefined when they are not built. Give it to `staticDir` to serve them.
 */
export const webRoot: string | undefined = findWebRoot();

/**
 * The ESM build of ffmpeg.wasm's core (ffmpeg-core.js and ffmpeg-core.wasm,
 * 31 MB, GPL-2.0-or-later) from the optional @ffmpeg/core package, or
 * undefined when it is not installed. Only `audioEncoder: "ffmpeg"` uses it.
 */
export function ffmpegCoreDir(): string | undefined {
  try {
    // The package's "require" entry is dist/umd/ffmpeg-core.js; the ESM build sits next to it.
    const umd = createRequire(import.meta.url).resolve("@ffmpeg/core");
    const esm = join(dirname(umd), "..", "esm");
    return existsSync(join(esm, "ffmpeg-core.wasm")) ? esm : undefined;
  } catch {
    return undefined;
  }
}
