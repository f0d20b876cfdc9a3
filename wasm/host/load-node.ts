/**
 * Node loader for the core: reads wasm/build/golive.wasm (built by
 * `npm run build:wasm`), compiles it once per process, and instantiates it.
 */
import { readFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { GoliveError } from "../../protocol/errors.js";
import { cachedCompile, instantiate, type Core } from "./core.js";

/** Finds golive.wasm from the source tree (wasm/host) or the build (dist/wasm/host). */
export function coreWasmPath(): string {
  const candidates = [
    new URL("../build/golive.wasm", import.meta.url),
    new URL("../../../wasm/build/golive.wasm", import.meta.url),
  ];
  for (const url of candidates) {
    const path = fileURLToPath(url);
    if (existsSync(path)) return path;
  }
  throw new GoliveError(
    "WASM_NOT_BUILT",
    "wasm/build/golive.wasm is missing: run `npm run build:wasm` (npm start and npm test do it for you)",
  );
}

/** Loads (once) and instantiates the core in Node. */
export async function loadCoreNode(): Promise<Core> {
  const module = await cachedCompile(() => readFile(coreWasmPath()));
  return instantiate(module);
}
