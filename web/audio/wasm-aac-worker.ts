/**
 * The wasm AAC-LC encoder's worker: PCM blocks in, each AAC frame posted
 * back the moment it is encoded (half a frame of lookahead: a frame leaves
 * once the input 512 samples past the end of its block is in). Off the page's thread,
 * so a busy page delays neither the encoding nor, by it, the audio clock.
 */
import { AacWasmEncoder, type AacEncodeConfig } from "../../wasm/host/aac-encoder-core.js";
import type { WasmAacIn, WasmAacOut } from "./wasm-aac-messages.js";

let encoder: AacWasmEncoder | undefined;
let module: WebAssembly.Module | undefined;
let config: AacEncodeConfig | undefined;
/** Timestamp of the first sample of the current timeline, µs. */
let originUs: number | undefined;
let framesOut = 0;

function post(msg: WasmAacOut, transfer: Transferable[] = []): void {
  (self as unknown as Worker).postMessage(msg, transfer);
}

function fail(err: unknown): void {
  const e = err as { code?: unknown; message?: unknown };
  post({ type: "error", code: typeof e.code === "string" ? e.code : "AAC_WASM_TRAP", message: String(e.message ?? err) });
  encoder = undefined;
}

/** Frame k of a timeline decodes to the input from sample (k - 1) * 1024. */
function stamp(frames: Uint8Array[]): void {
  if (frames.length === 0 || !encoder || originUs === undefined) return;
  const rate = encoder.sampleRate;
  const out = frames.map((data) => {
    const k = framesOut++;
    return { data, timestampUs: originUs! + Math.round(((k - 1) * 1024 * 1e6) / rate) };
  });
  post({ type: "frames", frames: out }, out.map((f) => f.data.buffer));
}

/** Encodes what is buffered (if a timeline has started) and starts a new timeline with a fresh encoder. */
function restart(): void {
  if (!encoder || !module || !config || originUs === undefined) return;
  stamp(encoder.flush());
  encoder = new AacWasmEncoder(module, config);
  originUs = undefined;
  framesOut = 0;
}

self.onmessage = async (event: MessageEvent<WasmAacIn>) => {
  const msg = event.data;
  try {
    switch (msg.type) {
      case "init": {
        const response = await fetch(msg.url);
        if (!response.ok) throw Object.assign(new Error(`could not load the AAC encoder from ${msg.url}: HTTP ${response.status}`), { code: "AAC_WASM_LOAD" });
        module = await WebAssembly.compile(await response.arrayBuffer());
        config = msg.config;
        encoder = new AacWasmEncoder(module, config);
        post({ type: "ready" });
        break;
      }
      case "pcm": {
        if (!encoder) return;
        if (msg.restart) restart();
        originUs ??= msg.timestampUs;
        stamp(encoder.encode(msg.planes));
        break;
      }
      case "flush": {
        restart();
        post({ type: "flushed", id: msg.id });
        break;
      }
    }
  } catch (err) {
    fail(err);
  }
};
