/**
 * Browser loader for the core. Bundlers (Vite) turn the `new URL(...,
 * import.meta.url)` below into an emitted asset URL; pass your own URL to
 * serve golive.wasm from elsewhere.
 */
import { loadCore, type Core } from "./core.js";

/** Fetches, compiles and instantiates the core in a browser or worker. */
export async function loadCoreBrowser(url: string | URL = new URL("../build/golive.wasm", import.meta.url)): Promise<Core> {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`could not load the golive WebAssembly core from ${String(url)}: HTTP ${response.status}`);
  return loadCore(response);
}
