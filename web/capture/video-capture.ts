/**
 * Camera or screen frames for the video encoder worker, by the best method
 * this engine has, chosen by feature probes (never by user agent):
 *
 * - "track-processor": MediaStreamTrackProcessor on the page (Chromium); its
 *   readable is transferred to the worker, which reads frames off the main
 *   thread. Frames carry the track's timestamps; the worker maps them onto
 *   the capture clock (clock.ts).
 * - "worker-track-processor": the track itself is transferred to the worker,
 *   which has MediaStreamTrackProcessor there (Safari on macOS/iOS).
 * - "video-element": a <video> element (not in the document) plays the track and each new frame,
 *   announced by requestVideoFrameCallback, becomes `new VideoFrame(video)`
 *   stamped with the frame's presentation time on the capture clock, and is transferred to the worker (Firefox, WebKitGTK).
 *   One VideoFrame per frame the camera gives: no timer polling, no
 *   duplicates. Frames are dropped only when the worker has three in hand
 *   (the encoder is behind). requestVideoFrameCallback follows rendering, so
 *   in a hidden tab these engines deliver no frames until it is visible.
 */
import { BroadcastError } from "../sdk/errors.js";
import type { VideoWorkerIn } from "../sdk/video-messages.js";
import { performanceTimeToCaptureUs } from "./clock.js";

export type VideoCaptureMethod = "track-processor" | "worker-track-processor" | "video-element";

/** Chromium's MediaStreamTrackProcessor (mediacapture-transform), typed for what we use. */
type TrackProcessorCtor = new (init: { track: MediaStreamTrack; maxBufferSize?: number }) => { readonly readable: ReadableStream };

/** Whether this realm has MediaStreamTrackProcessor. */
export function hasTrackProcessor(): boolean {
  return typeof (globalThis as { MediaStreamTrackProcessor?: unknown }).MediaStreamTrackProcessor === "function";
}

/** Whether a <video> can hand frames to WebCodecs here. */
export function hasVideoElementCapture(): boolean {
  return typeof HTMLVideoElement !== "undefined" && "requestVideoFrameCallback" in HTMLVideoElement.prototype && typeof VideoFrame !== "undefined";
}

/**
 * The method for this page, given whether the encoder worker reported
 * MediaStreamTrackProcessor; undefined when there is none (the encoder cannot
 * be fed from a track at all).
 */
export function chooseVideoCapture(workerHasTrackProcessor: boolean): VideoCaptureMethod | undefined {
  if (hasTrackProcessor()) return "track-processor";
  if (workerHasTrackProcessor) return "worker-track-processor";
  if (hasVideoElementCapture()) return "video-element";
  return undefined;
}

/** The worker end, as the capture sees it. */
export interface VideoFramePort {
  postMessage(message: VideoWorkerIn, transfer: Transferable[]): void;
}

/** A running capture. */
export interface VideoCapture {
  readonly method: VideoCaptureMethod;
  /** The worker finished with one pushed frame (video-element only). */
  frameConsumed(): void;
  /** Frames dropped before the worker because it had three in hand. */
  readonly dropped: number;
  stop(): void;
}

/**
 * Starts feeding `track` to the worker by `method`. A "worker-track-processor"
 * whose track cannot be transferred falls back to "video-element".
 */
export function startVideoCapture(track: MediaStreamTrack, port: VideoFramePort, method: VideoCaptureMethod): VideoCapture {
  switch (method) {
    case "track-processor": {
      const Processor = (globalThis as unknown as { MediaStreamTrackProcessor: TrackProcessorCtor }).MediaStreamTrackProcessor;
      const readable = new Processor({ track, maxBufferSize: 2 }).readable as ReadableStream<VideoFrame>;
      port.postMessage({ type: "source", readable }, [readable]);
      return passive(method);
    }
    case "worker-track-processor": {
      // The worker owns (and will stop) a clone; ours stays with the page's stream.
      const clone = track.clone();
      try {
        port.postMessage({ type: "source-track", track: clone }, [clone]);
        return passive(method);
      } catch {
        clone.stop();
        if (!hasVideoElementCapture()) throw new BroadcastError("UNSUPPORTED_BROWSER", "this browser cannot hand camera frames to the video encoder");
        return new VideoElementCapture(track, port);
      }
    }
    case "video-element":
      return new VideoElementCapture(track, port);
  }
}

function passive(method: VideoCaptureMethod): VideoCapture {
  return { method, dropped: 0, frameConsumed() {}, stop() {} };
}

/** Frames the worker may hold before new ones are dropped here. */
const MAX_IN_FLIGHT = 3;

/** requestVideoFrameCallback's metadata, as far as we read it. */
interface FrameMetadata {
  presentationTime: number;
  presentedFrames: number;
}

class VideoElementCapture implements VideoCapture {
  readonly method = "video-element" as const;
  readonly #video: HTMLVideoElement;
  readonly #port: VideoFramePort;
  #inFlight = 0;
  #dropped = 0;
  #stopped = false;
  #lastPresented = -1;
  #lastTimestampUs = Number.NEGATIVE_INFINITY;
  #callback = 0;
  #attachTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(track: MediaStreamTrack, port: VideoFramePort) {
    this.#port = port;
    port.postMessage({ type: "source-frames" }, []);
    const video = document.createElement("video");
    video.muted = true;
    video.playsInline = true;
    video.autoplay = true;
    video.setAttribute("aria-hidden", "true");
    video.srcObject = new MediaStream([track]);
    this.#video = video;
    // Not in the document: Firefox and WebKit call back for a detached video
    // too, and one that is not painted leaves the renderer more time (WebKitGTK
    // in a busy page: 24 fps attached, 30 detached, measured). An engine that
    // calls back only for attached elements gets it attached, out of sight,
    // after 3 s without a frame.
    this.#attachTimer = setTimeout(() => {
      if (this.#stopped || this.#lastPresented >= 0) return;
      video.style.cssText = "position:fixed;left:0;top:0;width:2px;height:2px;opacity:0;pointer-events:none;z-index:-1";
      document.body.append(video);
      void video.play().catch(() => undefined);
    }, 3000);
    void video.play().catch(() => undefined);
    this.#callback = video.requestVideoFrameCallback((now, meta) => this.#onFrame(now, meta));
  }

  get dropped(): number {
    return this.#dropped;
  }

  frameConsumed(): void {
    if (this.#inFlight > 0) this.#inFlight--;
  }

  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    clearTimeout(this.#attachTimer);
    this.#video.cancelVideoFrameCallback(this.#callback);
    this.#video.pause();
    this.#video.srcObject = null;
    this.#video.remove();
  }

  #onFrame(now: number, meta: FrameMetadata): void {
    if (this.#stopped) return;
    this.#callback = this.#video.requestVideoFrameCallback((n, m) => this.#onFrame(n, m));
    // The same frame again. (Not mediaTime: WebKit reports 0 for every frame of a canvas stream.)
    if (meta.presentedFrames === this.#lastPresented) return;
    this.#lastPresented = meta.presentedFrames;
    if (this.#inFlight >= MAX_IN_FLIGHT) {
      this.#dropped++;
      return;
    }
    // When the frame reached the page (presentationTime), as audio and the
    // track-processor paths are stamped by when their data reaches the page:
    // then every track's pipeline delay counts alike. (captureTime, where an
    // engine gives it, is earlier by the video pipeline only: WebKitGTK's
    // mock camera with it put sound 50 ms late against picture, measured.)
    const timestamp = performanceTimeToCaptureUs(meta.presentationTime ?? now);
    if (timestamp <= this.#lastTimestampUs) return;
    let frame: VideoFrame;
    try {
      frame = new VideoFrame(this.#video, { timestamp });
    } catch {
      return; // not decodable yet (no current frame): wait for the next one
    }
    this.#lastTimestampUs = timestamp;
    this.#inFlight++;
    try {
      this.#port.postMessage({ type: "frame", frame }, [frame]);
    } catch {
      this.#inFlight--;
      frame.close();
    }
  }
}
