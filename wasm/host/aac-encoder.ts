/**
 * The wasm AAC-LC encoder in Node: loads wasm/build/aac.wasm (built by
 * `npm run build:wasm`) once per process. Browsers use aac-encoder-core.ts
 * with a module they fetched (web/audio/wasm-aac.ts).
 */
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { AacWasmEncoder, AacWasmError, AacWasmErrorCode, type AacEncodeConfig } from "./aac-encoder-core.js";

export * from "./aac-encoder-core.js";

/** Finds aac.wasm from the source tree (wasm/host) or the build (dist/wasm/host). */
export function aacWasmPath(): string {
  for (const url of [new URL("../build/aac.wasm", import.meta.url), new URL("../../../wasm/build/aac.wasm", import.meta.url)]) {
    const path = fileURLToPath(url);
    if (existsSync(path)) return path;
  }
  throw new AacWasmError(AacWasmErrorCode.Load, "wasm/build/aac.wasm is missing: run `npm run build:wasm`");
}

let compiled: Promise<WebAssembly.Module> | undefined;

/** The compiled module (compiled once per process). */
export function aacWasmModule(): Promise<WebAssembly.Module> {
  compiled ??= readFile(aacWasmPath()).then((bytes) => WebAssembly.compile(bytes));
  return compiled;
}

/** A new encoder (Node). */
export async function createAacWasmEncoder(config: AacEncodeConfig): Promise<AacWasmEncoder> {
  return new AacWasmEncoder(await aacWasmModule(), config);
}
