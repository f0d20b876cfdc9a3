/**
 * What this browser will use to go live, or exactly why it cannot: decided
 * by capability probes (feature tests and WebCodecs' isConfigSupported),
 * never by the user agent. `gatherCapabilities` asks the browser;
 * `decideSupport` is pure, so every engine's answer is a unit test.
 */
import { hasTrackProcessor, hasVideoElementCapture, type VideoCaptureMethod } from "../capture/video-capture.js";
import { findWebCodecsAacConfig } from "../audio/webcodecs-aac.js";
import { AUDIO_BITRATE, avcCodecFor, type VideoQuality } from "./presets.js";
import { recorderMimeType, recorderAacMimeType } from "./recorder-video.js";

/** What the probes found. */
export interface EngineCapabilities {
  /** `VideoEncoder` exists. */
  videoEncoder: boolean;
  /** `VideoEncoder.isConfigSupported` accepts H.264 (avc format, realtime) at the quality asked for. */
  videoEncoderH264: boolean;
  /** MediaStreamTrackProcessor on the page. */
  trackProcessor: boolean;
  /** MediaStreamTrackProcessor in a dedicated worker. */
  workerTrackProcessor: boolean;
  /** <video> + requestVideoFrameCallback + VideoFrame. */
  videoElementCapture: boolean;
  /** The MediaRecorder MIME type with H.264, if any. */
  recorderH264?: string | undefined;
  /** The MediaRecorder MIME type with H.264 and AAC together, if any. */
  recorderH264Aac?: string | undefined;
  /** `AudioEncoder` accepts AAC-LC. */
  audioEncoderAac: boolean;
  /** AudioWorkletNode exists. */
  audioWorklet: boolean;
  /** WebAssembly (for golive's AAC encoder, and ffmpeg.wasm's). */
  webAssembly: boolean;
  /** WebSocket exists. */
  webSocket: boolean;
}

export type VideoPath =
  | { encoder: "webcodecs"; capture: VideoCaptureMethod }
  | { encoder: "mediarecorder"; capture: "mediarecorder"; mimeType: string };

export type AudioPath =
  | { encoder: "webcodecs" | "wasm" | "ffmpeg"; capture: "track-processor" | "audio-worklet" }
  | { encoder: "mediarecorder"; capture: "mediarecorder" };

/** The answer of Broadcaster.probe(). */
export type BrowserSupport =
  | { canGoLive: true; video: VideoPath; audio: AudioPath | null }
  | {
      canGoLive: false;
      /** A stable code: UNSUPPORTED_BROWSER, H264_UNSUPPORTED, AAC_UNSUPPORTED. */
      code: string;
      /** Why, in words a person can act on. */
      reason: string;
    };

const ADVICE = "use a recent Chrome, Edge, Firefox or Safari";

/** Which AAC encoder the application asked for (BroadcasterOptions.audioEncoder). */
export type AudioEncoderChoice = "auto" | "webcodecs" | "wasm" | "ffmpeg";

/**
 * Decides the paths from what the probes found. `audio`: whether the
 * broadcast has sound; `audioEncoder`: the application's choice of AAC
 * encoder ("auto": WebCodecs where it has AAC, else golive's wasm encoder).
 */
export function decideSupport(caps: EngineCapabilities, audio = true, quality?: VideoQuality, audioEncoder: AudioEncoderChoice = "auto"): BrowserSupport {
  if (!caps.webSocket) return { canGoLive: false, code: "UNSUPPORTED_BROWSER", reason: `this browser has no WebSocket: ${ADVICE}` };
  let video: VideoPath | undefined;
  const capture: VideoCaptureMethod | undefined = caps.trackProcessor ? "track-processor" : caps.workerTrackProcessor ? "worker-track-processor" : caps.videoElementCapture ? "video-element" : undefined;
  if (caps.videoEncoderH264 && capture) video = { encoder: "webcodecs", capture };
  else if (caps.recorderH264) video = { encoder: "mediarecorder", capture: "mediarecorder", mimeType: audio && caps.recorderH264Aac ? caps.recorderH264Aac : caps.recorderH264 };
  if (!video) {
    if (caps.videoEncoder && !caps.videoEncoderH264 && capture) {
      const at = quality ? ` at ${quality.width}x${quality.height} ${quality.framerate} fps` : "";
      return { canGoLive: false, code: "H264_UNSUPPORTED", reason: `this browser's video encoder cannot make H.264${at}, which live streaming services need: try a lower quality, or ${ADVICE}` };
    }
    return { canGoLive: false, code: "UNSUPPORTED_BROWSER", reason: `this browser can neither encode H.264 video (WebCodecs) nor record it (MediaRecorder), which live streaming services need: ${ADVICE}` };
  }
  if (!audio) return { canGoLive: true, video, audio: null };
  // Sound: from the recorder itself where it records AAC with the video (no
  // WebCodecs there: older Safari), else captured by MediaStreamTrackProcessor
  // (in a worker) or an AudioWorklet and encoded by WebCodecs' AAC, golive's
  // wasm encoder or (asked for) ffmpeg.wasm.
  if (video.encoder === "mediarecorder" && caps.recorderH264Aac && video.mimeType === caps.recorderH264Aac) return { canGoLive: true, video, audio: { encoder: "mediarecorder", capture: "mediarecorder" } };
  const audioCapture = caps.trackProcessor ? "track-processor" : caps.audioWorklet ? "audio-worklet" : undefined;
  if (!audioCapture) return { canGoLive: false, code: "UNSUPPORTED_BROWSER", reason: `this browser cannot read microphone audio (no AudioWorklet): ${ADVICE}` };
  if (audioEncoder === "webcodecs" && !caps.audioEncoderAac) return { canGoLive: false, code: "AAC_UNSUPPORTED", reason: `this browser's WebCodecs has no AAC encoder (the application asked for it): ${ADVICE}` };
  if (audioEncoder === "auto" && caps.audioEncoderAac) return { canGoLive: true, video, audio: { encoder: "webcodecs", capture: audioCapture } };
  if (audioEncoder === "webcodecs") return { canGoLive: true, video, audio: { encoder: "webcodecs", capture: audioCapture } };
  if (caps.webAssembly) return { canGoLive: true, video, audio: { encoder: audioEncoder === "ffmpeg" ? "ffmpeg" : "wasm", capture: audioCapture } };
  return { canGoLive: false, code: "AAC_UNSUPPORTED", reason: `this browser cannot encode AAC audio, which live streaming services need (no WebCodecs AAC, no WebAssembly): ${ADVICE}` };
}

/** The VideoEncoderConfig the SDK asks for at `quality`. */
export function videoEncoderConfig(quality: VideoQuality, bitrate = quality.bitrate): VideoEncoderConfig {
  const { width, height, framerate } = quality;
  return { codec: avcCodecFor(width, height, framerate), width, height, bitrate, framerate, latencyMode: "realtime", bitrateMode: "constant", avc: { format: "avc" } };
}

/** Asks this browser what it can do, for `quality`. */
export async function gatherCapabilities(quality: VideoQuality): Promise<EngineCapabilities> {
  // The media stack first: WebKitGTK 2.50's web process crashes on a
  // WebCodecs isConfigSupported() that is the page's first use of media
  // (GStreamer not yet initialised; measured on Debian's 2.50.6), and any
  // media call before it (canPlayType, MediaRecorder.isTypeSupported) avoids it.
  const recorderH264 = recorderMimeType();
  const recorderH264Aac = recorderAacMimeType();
  if (typeof document !== "undefined") document.createElement("video").canPlayType("video/mp4");
  const videoEncoder = typeof VideoEncoder !== "undefined";
  let videoEncoderH264 = false;
  if (videoEncoder) {
    try {
      videoEncoderH264 = (await VideoEncoder.isConfigSupported(videoEncoderConfig(quality))).supported === true;
    } catch {
      videoEncoderH264 = false;
    }
  }
  const trackProcessor = hasTrackProcessor();
  return {
    videoEncoder,
    videoEncoderH264,
    trackProcessor,
    workerTrackProcessor: trackProcessor ? false : await workerHasTrackProcessor(),
    videoElementCapture: hasVideoElementCapture(),
    recorderH264,
    recorderH264Aac,
    audioEncoderAac: (await findWebCodecsAacConfig({ sampleRate: 48000, channels: 2, bitrate: AUDIO_BITRATE })) !== null,
    audioWorklet: typeof AudioWorkletNode !== "undefined",
    webAssembly: typeof WebAssembly === "object" && typeof WebAssembly.instantiate === "function",
    webSocket: typeof WebSocket !== "undefined",
  };
}

/** Whether a dedicated worker has MediaStreamTrackProcessor (Safari: only there). */
async function workerHasTrackProcessor(): Promise<boolean> {
  if (typeof Worker === "undefined" || typeof Blob === "undefined") return false;
  let url: string | undefined;
  let worker: Worker | undefined;
  try {
    url = URL.createObjectURL(new Blob(["postMessage(typeof MediaStreamTrackProcessor === 'function')"], { type: "text/javascript" }));
    const w = new Worker(url);
    worker = w;
    return await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), 2000);
      w.onmessage = (e: MessageEvent) => {
        clearTimeout(timer);
        resolve(e.data === true);
      };
      w.onerror = () => {
        clearTimeout(timer);
        resolve(false);
      };
    });
  } catch {
    return false; // a CSP without blob: workers: the video element path still works
  } finally {
    worker?.terminate();
    if (url) URL.revokeObjectURL(url);
  }
}
