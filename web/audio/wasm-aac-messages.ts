/** Messages between WasmAacEncoder (page) and its worker (wasm-aac-worker.ts). */
import type { AacEncodeConfig } from "../../wasm/host/aac-encoder-core.js";

export type WasmAacIn =
  /** Compile the module at `url` and create the encoder. */
  | { type: "init"; url: string; config: AacEncodeConfig }
  /** PCM whose first sample is at `timestampUs`; `restart`: a new timeline starts here (the old one is flushed first). */
  | { type: "pcm"; planes: Float32Array[]; timestampUs: number; restart: boolean }
  /** Encode what is buffered (padded with silence); answered by "flushed" with the same id. */
  | { type: "flush"; id: number };

export type WasmAacOut =
  | { type: "ready" }
  /** Frames as they are encoded: raw AAC, stamped with their first decoded sample. */
  | { type: "frames"; frames: Array<{ data: Uint8Array; timestampUs: number }> }
  | { type: "flushed"; id: number }
  | { type: "error"; code: string; message: string };
