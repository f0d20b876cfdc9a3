/**
 * The video encoder, in a dedicated Worker so that a hidden tab's main-thread
 * throttling never stalls it: frames come from the capture layer
 * (web/capture/video-capture.ts: a MediaStreamTrackProcessor readable
 * transferred here, a track read here, or frames pushed one by one), go
 * through WebCodecs' VideoEncoder (H.264, avc format, realtime, CBR), and
 * leave as chunks with their avcC.
 *
 * Chromium does not insert keyframes on its own: one is forced every 2 s of
 * media time, and on request (a new destination, a resume, a bitrate change).
 * When the encoder falls behind, frames are dropped here rather than queued.
 */
/// <reference lib="webworker" />
import { captureClockUs, ClockOffsetEstimator } from "../capture/clock.js";
import { avcCForKeyframe } from "./annexb.js";
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
 * The offset is the smallest (arrival - timestamp) over the first 10 frames:
 * the first one alone carries start-up delay. Chunks wait until it is known.
 */
const OFFSET_FRAMES = 10;
let offset = new ClockOffsetEstimator(OFFSET_FRAMES);
let held: Array<Extract<VideoWorkerOut, { type: "chunk" }>> = [];

function sendChunk(chunk: Extract<VideoWorkerOut, { type: "chunk" }>): void {
  if (clockOffsetUs === undefined) {
    held.push(chunk);
    return;
  }
  post({ ...chunk, timestampUs: chunk.timestampUs + clockOffsetUs }, [chunk.data]);
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
      const data = new ArrayBuffer(chunk.byteLength);
      chunk.copyTo(data);
      const given = metadata?.decoderConfig?.description;
      const view = given && (ArrayBuffer.isView(given) ? new Uint8Array(given.buffer, given.byteOffset, given.byteLength) : new Uint8Array(given));
      // A new configuration takes effect at a keyframe: announce it with one.
      const description = chunk.type === "key" ? avcCForKeyframe(new Uint8Array(data), view?.slice()) : undefined;
      if (description) {
        const key = Array.from(description).join(",");
        if (key !== lastDescription) {
          lastDescription = key;
          const bytes = description.slice();
          post({ type: "config", description: bytes.buffer, codec: c.codec, width: c.width, height: c.height }, [bytes.buffer]);
        }
      }
      encoded++;
      sendChunk({ type: "chunk", data, timestampUs: chunk.timestamp, key: chunk.type === "key", durationUs: chunk.duration ?? 0 });
    },
    error: (e) => fail(e),
  });
  encoder.configure(c);
}

/** Track processor constructor of this realm (Chromium; Safari in workers). */
type TrackProcessorCtor = new (init: { track: MediaStreamTrack; maxBufferSize?: number }) => { readonly readable: ReadableStream<VideoFrame> };
const TrackProcessor = (globalThis as unknown as { MediaStreamTrackProcessor?: TrackProcessorCtor }).MediaStreamTrackProcessor;
/** The track this worker reads itself (source-track), stopped when replaced. */
let ownTrack: MediaStreamTrack | undefined;
/** Frames are pushed one by one, already on the capture clock. */
let pushed = false;

async function pump(r: ReadableStreamDefaultReader<VideoFrame>): Promise<void> {
  for (;;) {
    let result: ReadableStreamReadResult<VideoFrame>;
    try {
      result = await r.read();
    } catch {
      return; // the source was replaced or stopped
    }
    if (result.done) return;
    if (!encodeFrame(result.value, r)) return;
  }
}

/** Stops reading the current source; what the encoder holds still comes out on its clock. */
function detachSource(): void {
  const old = reader;
  reader = undefined;
  void old?.cancel().catch(() => undefined);
  ownTrack?.stop();
  ownTrack = undefined;
  pushed = false;
}

/** Replaces the current source (a new one may have another clock: measure again). */
function newSource(): void {
  detachSource();
  clockOffsetUs = undefined;
  offset = new ClockOffsetEstimator(OFFSET_FRAMES);
  forceKey = true;
}

/** Encodes (or drops) one frame of source `r` (undefined: pushed); false once that source is gone. */
function encodeFrame(frame: VideoFrame, r: ReadableStreamDefaultReader<VideoFrame> | undefined): boolean {
  if (clockOffsetUs === undefined) {
    clockOffsetUs = offset.observe(captureClockUs(), frame.timestamp);
    if (clockOffsetUs !== undefined) {
      const waiting = held;
      held = [];
      for (const c of waiting) sendChunk(c);
    }
  }
  if (r !== reader || !encoder || !config || encoder.state !== "configured") {
    frame.close();
    return r === reader;
  }
  if (encoder.encodeQueueSize > 2) {
    dropped++; // the encoder cannot keep up: stay real time
    frame.close();
    return true;
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
  return true;
}

self.onmessage = (event: MessageEvent<VideoWorkerIn>) => {
  const msg = event.data;
  try {
    switch (msg.type) {
      case "configure":
        config = msg.config;
        createEncoder(config);
        forceKey = true;
        post({ type: "configured" });
        return;
      case "source": {
        newSource();
        reader = msg.readable.getReader();
        void pump(reader);
        return;
      }
      case "source-track": {
        newSource();
        if (!TrackProcessor) throw new Error("this worker has no MediaStreamTrackProcessor");
        ownTrack = msg.track;
        reader = new TrackProcessor({ track: msg.track, maxBufferSize: 2 }).readable.getReader();
        void pump(reader);
        return;
      }
      case "source-frames":
        newSource();
        pushed = true;
        clockOffsetUs = 0; // pushed frames are stamped on the capture clock already
        return;
      case "frame":
        if (pushed) encodeFrame(msg.frame, undefined);
        else msg.frame.close();
        post({ type: "consumed" });
        return;
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
        // Not newSource(): the frames the encoder still holds (Firefox's
        // holds ~1.5 s) come out of flush() below and keep their clock.
        detachSource();
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

// Tell the page what this realm can read frames with (Safari: a track processor here only).
post({ type: "hello", trackProcessor: typeof TrackProcessor === "function" });
