/**
 * AAC-LC from golive's own encoder (AssemblyScript, wasm/assembly/aac),
 * run in a worker: the default wherever WebCodecs has no AAC (Linux
 * Chromium, Firefox). About 40 KB to download, against ffmpeg.wasm's 32 MB,
 * and each frame goes out as soon as it is encoded (ffmpeg.wasm works on
 * 0.5 s segments).
 */
import { audioSpecificConfig } from "./aac-config.js";
import { AacEncoderError, AacErrorCode } from "./errors.js";
import { readPlanarF32, type AudioDataLike } from "./pcm.js";
import type { AacChunk } from "./segmented-encoder.js";
import { checkAacWasmConfig } from "../../wasm/host/aac-encoder-core.js";
import type { WasmAacIn, WasmAacOut } from "./wasm-aac-messages.js";

/** Where aac.wasm is served: by default the copy the bundler emitted beside this module. */
export function defaultAacWasmUrl(): string {
  return new URL("../../wasm/build/aac.wasm", import.meta.url).href;
}

export interface WasmAacConfig {
  sampleRate: number;
  channels: 1 | 2;
  bitrate: number;
  /** URL of aac.wasm (default: bundled). */
  wasmURL?: string;
}

/** The AacEncoder of the wasm path (see index.ts for the interface). */
export class WasmAacEncoder {
  readonly kind = "wasm" as const;
  /** One frame, as FFmpeg's encoder: the worker stamps packet k at frame k - 1. */
  readonly delayFrames = 1024;
  readonly codec = "mp4a.40.2";
  readonly sampleRate: number;
  readonly channels: 1 | 2;
  readonly description: Uint8Array;
  readonly #worker: Worker;
  readonly #onChunk: (c: AacChunk) => void;
  readonly #onError: (e: Error) => void;
  readonly #flushes = new Map<number, () => void>();
  #nextFlush = 0;
  #closed = false;
  #restart = false;
  readonly #frameUs: number;

  private constructor(config: WasmAacConfig, worker: Worker, description: Uint8Array, onChunk: (c: AacChunk) => void, onError: (e: Error) => void) {
    this.sampleRate = config.sampleRate;
    this.channels = config.channels;
    this.description = description;
    this.#worker = worker;
    this.#onChunk = onChunk;
    this.#onError = onError;
    this.#frameUs = (1024 * 1e6) / config.sampleRate;
  }

  /** Starts the worker and waits for the encoder in it; rejects with AacEncoderError(AAC_WASM_LOAD) if it cannot start. */
  static async create(config: WasmAacConfig, onChunk: (c: AacChunk) => void, onError: (e: Error) => void): Promise<WasmAacEncoder> {
    try {
      checkAacWasmConfig(config);
    } catch (err) {
      throw new TypeError((err as Error).message);
    }
    const description = audioSpecificConfig(config.sampleRate, config.channels);
    let worker: Worker;
    try {
      worker = new Worker(new URL("./wasm-aac-worker.ts", import.meta.url), { type: "module" });
    } catch (err) {
      throw new AacEncoderError(AacErrorCode.WasmLoad, `could not start the AAC encoder's worker: ${(err as Error).message}`, { cause: err });
    }
    const encoder = new WasmAacEncoder(config, worker, description, onChunk, onError);
    await new Promise<void>((resolve, reject) => {
      worker.onmessage = (event: MessageEvent<WasmAacOut>) => {
        const msg = event.data;
        if (msg.type === "ready") {
          worker.onmessage = (e: MessageEvent<WasmAacOut>) => encoder.#fromWorker(e.data);
          resolve();
        } else if (msg.type === "error") {
          worker.terminate();
          reject(new AacEncoderError(AacErrorCode.WasmLoad, `the AAC encoder did not start: ${msg.message}`));
        }
      };
      worker.onerror = (event) => {
        worker.terminate();
        reject(new AacEncoderError(AacErrorCode.WasmLoad, `the AAC encoder's worker failed to load: ${event.message}`));
      };
      const init: WasmAacIn = { type: "init", url: config.wasmURL ?? defaultAacWasmUrl(), config: { sampleRate: config.sampleRate, channels: config.channels, bitrate: config.bitrate } };
      worker.postMessage(init);
    });
    worker.onerror = (event) => encoder.#fail(new AacEncoderError(AacErrorCode.WasmFailed, `the AAC encoder's worker failed: ${event.message}`));
    return encoder;
  }

  encode(data: AudioDataLike): void {
    if (this.#closed) return;
    if (data.sampleRate !== this.sampleRate) throw new AacEncoderError(AacErrorCode.UnsupportedInput, `AudioData at ${data.sampleRate} Hz into an encoder at ${this.sampleRate} Hz`);
    const planes = readPlanarF32(data);
    const msg: WasmAacIn = { type: "pcm", planes, timestampUs: data.timestamp, restart: this.#restart };
    this.#restart = false;
    this.#worker.postMessage(msg, planes.map((p) => p.buffer));
  }

  /** The next encode() starts a new timeline (after a hole): what is buffered is encoded first. */
  restartTimeline(): void {
    this.#restart = true;
  }

  flush(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    const id = this.#nextFlush++;
    return new Promise<void>((resolve) => {
      this.#flushes.set(id, resolve);
      this.#worker.postMessage({ type: "flush", id } satisfies WasmAacIn);
    });
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#worker.terminate();
    for (const resolve of this.#flushes.values()) resolve();
    this.#flushes.clear();
  }

  #fromWorker(msg: WasmAacOut): void {
    if (this.#closed) return;
    switch (msg.type) {
      case "frames":
        for (const f of msg.frames) this.#onChunk({ data: f.data, timestampUs: f.timestampUs, durationUs: Math.round(this.#frameUs) });
        break;
      case "flushed":
        this.#flushes.get(msg.id)?.();
        this.#flushes.delete(msg.id);
        break;
      case "error":
        this.#fail(new AacEncoderError(AacErrorCode.WasmFailed, `the AAC encoder failed: ${msg.message} (${msg.code})`));
        break;
      case "ready":
        break;
    }
  }

  #fail(err: Error): void {
    if (this.#closed) return;
    this.close();
    this.#onError(err);
  }
}
