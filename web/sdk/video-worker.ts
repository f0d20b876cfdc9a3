/**
 * The video encoder, in a dedicated Worker so that a hidden tab's main-thread
 * throttling never stalls it: frames come from a MediaStreamTrackProcessor's
 * readable (transferred here), go through WebCodecs' VideoEncoder (H.264,
 * avc format, realtime, CBR), and leave as chunks with their avcC.
 *
 * Chromium does not insert keyframes on its own: one is forced every 2 s of
 * media time, and on request (a new destination, a resume, a bitrate change).
 * When the encoder falls behind, frames are dropped here rather than queued.
 */
/// <reference lib="webworker" />
import { KEYFRAME_INTERVAL_US } from "./presets.js";
import type { VideoWorkerIn, VideoWorkerOut } from "./video-messages.js";

declare const self: DedicatedWorkerGlobalScope;

let encoder: VideoEncoder | undefined;
let config: VideoEncoderConfig | undefined;
let reader: ReadableStreamDefaultReader<VideoFrame> | undefined;
let lastKeyUs = Number.NEGATIVE_INFINITY;
let forceKey = true;
let lastDescription = "";
let encoded = 0;
let dropped = 0;
let canvas: OffscreenCanvas | undefined;
/**
 * Capture timestamps are on a clock of the browser's choosing (Chromium: time
 * since boot for video, since capture start for audio), so every track is
 * rebased onto one shared clock, the epoch in µs (performance.timeOrigin +
 * now()), at its first frame.
 */
let clockOffsetUs: number | undefined;
/**
 * The offset is the smallest (arrival - timestamp) over the first frames:
 * the first one alone carries start-up delay. Chunks wait until it is known.
 */
const OFFSET_FRAMES = 10;
let offsetSamples = 0;
let offsetMin = Number.POSITIVE_INFINITY;
let held: Array<Extract<VideoWorkerOut, { type: "chunk" }>> = [];

function sendChunk(chunk: Extract<VideoWorkerOut, { type: "chunk" }>): void {
  if (clockOffsetUs === undefined) {
    held.push(chunk);
    return;
  }
  post({ ...chunk, timestampUs: chunk.timestampUs + clockOffsetUs }, [chunk.data]);
}

function wallUs(): number {
  return Math.round((performance.timeOrigin + performance.now()) * 1000);
}

function post(message: VideoWorkerOut, transfer: Transferable[] = []): void {
  self.postMessage(message, transfer);
}

function fail(err: unknown): void {
  post({ type: "error", message: err instanceof Error ? err.message : String(err) });
}

function createEncoder(c: VideoEncoderConfig): void {
  encoder?.close();
  encoder = new VideoEncoder({
    output: (chunk, metadata) => {
      const description = metadata?.decoderConfig?.description;
      if (description) {
        const bytes = new Uint8Array(description instanceof ArrayBuffer ? description : (description as ArrayBufferView).buffer.slice(0));
        const key = Array.from(bytes).join(",");
        if (key !== lastDescription) {
          lastDescription = key;
          post({ type: "config", description: bytes.buffer as ArrayBuffer, codec: c.codec, width: c.width, height: c.height });
        }
      }
      const data = new ArrayBuffer(chunk.byteLength);
      chunk.copyTo(data);
      encoded++;
      sendChunk({ type: "chunk", data, timestampUs: chunk.timestamp, key: chunk.type === "key", durationUs: chunk.duration ?? 0 });
    },
    error: (e) => fail(e),
  });
  encoder.configure(c);
}

async function pump(r: ReadableStreamDefaultReader<VideoFrame>): Promise<void> {
  for (;;) {
    let result: ReadableStreamReadResult<VideoFrame>;
    try {
      result = await r.read();
    } catch {
      return; // the source was replaced or stopped
    }
    if (result.done) return;
    const frame = result.value;
    if (clockOffsetUs === undefined) {
      offsetMin = Math.min(offsetMin, wallUs() - frame.timestamp);
      if (++offsetSamples >= OFFSET_FRAMES) {
        clockOffsetUs = offsetMin;
        const waiting = held;
        held = [];
        for (const c of waiting) sendChunk(c);
      }
    }
    if (r !== reader || !encoder || !config || encoder.state !== "configured") {
      frame.close();
      if (r !== reader) return;
      continue;
    }
    if (encoder.encodeQueueSize > 2) {
      dropped++; // the encoder cannot keep up: stay real time
      frame.close();
      continue;
    }
    let input = frame;
    if (frame.displayWidth !== config.width || frame.displayHeight !== config.height) {
      // A source of another size (screen, a switched camera): scale to the encoded size.
      canvas ??= new OffscreenCanvas(config.width, config.height);
      if (canvas.width !== config.width || canvas.height !== config.height) {
        canvas.width = config.width;
        canvas.height = config.height;
      }
      const ctx = canvas.getContext("2d");
      if (ctx) {
        ctx.drawImage(frame, 0, 0, config.width, config.height);
        input = new VideoFrame(canvas, { timestamp: frame.timestamp, ...(frame.duration !== null && { duration: frame.duration }) });
        frame.close();
      }
    }
    const key = forceKey || input.timestamp - lastKeyUs >= KEYFRAME_INTERVAL_US;
    if (key) {
      lastKeyUs = input.timestamp;
      forceKey = false;
    }
    try {
      encoder.encode(input, { keyFrame: key });
    } catch (err) {
      fail(err);
    }
    input.close();
  }
}

self.onmessage = (event: MessageEvent<VideoWorkerIn>) => {
  const msg = event.data;
  try {
    switch (msg.type) {
      case "configure":
        config = msg.config;
        createEncoder(config);
        forceKey = true;
        return;
      case "source": {
        const old = reader;
        reader = msg.readable.getReader();
        void old?.cancel().catch(() => undefined);
        // A new source may have another clock: measure again.
        clockOffsetUs = undefined;
        offsetSamples = 0;
        offsetMin = Number.POSITIVE_INFINITY;
        forceKey = true;
        void pump(reader);
        return;
      }
      case "bitrate":
        if (config && encoder) {
          config = { ...config, bitrate: msg.bitrate };
          encoder.configure(config);
          forceKey = true;
        }
        return;
      case "keyframe":
        forceKey = true;
        return;
      case "stats":
        post({ type: "stats", encoded, dropped, queue: encoder?.encodeQueueSize ?? 0 });
        return;
      case "stop": {
        const r = reader;
        reader = undefined;
        void r?.cancel().catch(() => undefined);
        const e = encoder;
        encoder = undefined;
        (e && e.state === "configured" ? e.flush() : Promise.resolve()).then(
          () => {
            e?.close();
            post({ type: "stopped" });
          },
          () => post({ type: "stopped" }),
        );
        return;
      }
    }
  } catch (err) {
    fail(err);
  }
};
