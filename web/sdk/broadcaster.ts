/**
 * Broadcaster: the SDK's one class. Captures (camera + mic, a screen, a
 * canvas, or any MediaStream), encodes in the browser (WebCodecs H.264 in a
 * worker; AAC from WebCodecs or ffmpeg.wasm), and sends the frames to a
 * golive bridge over the wire protocol, which publishes them to RTMP.
 *
 *   const b = new Broadcaster({ bridgeUrl: "ws://127.0.0.1:8080/ingest" });
 *   video.srcObject = await b.setSource({ kind: "camera" });
 *   b.addEventListener("statechange", () => console.log(b.state));
 *   await b.start({ destinations: [{ id: "yt", url: "rtmp://a.rtmp.youtube.com/live2", key }] });
 *   ...
 *   await b.stop();
 *
 * Events (all CustomEvent): "statechange" (detail: state), "stats" (detail:
 * BroadcastStats, every second), "destination" (detail: the bridge's
 * destination message), "advice" (detail: the new target bitrate), "error"
 * (detail: BroadcastError).
 */
import { toBase64, type DestinationMessage, type DestinationRequest, type DestinationStats, type MediaFrame } from "../../protocol/wire.js";
import { createAacEncoder, type AacEncoder } from "../audio/index.js";
import { BroadcastError, captureError } from "./errors.js";
import { AUDIO_BITRATE, avcCodecFor, PRESETS, type PresetName, type VideoQuality } from "./presets.js";
import { RecorderVideo, recorderMimeType } from "./recorder-video.js";
import { Transport, type TransportState } from "./transport.js";
import type { VideoWorkerIn, VideoWorkerOut } from "./video-messages.js";

/** What to broadcast. */
export type BroadcastSource =
  | { kind: "camera"; videoDeviceId?: string; audioDeviceId?: string; audio?: boolean; voiceProcessing?: boolean }
  | { kind: "screen"; audio?: boolean; microphone?: boolean }
  | { kind: "canvas"; canvas: HTMLCanvasElement; framerate?: number; audio?: MediaStream }
  | { kind: "stream"; stream: MediaStream };

/** Where the broadcast is. */
export type BroadcastState =
  /** Not started. */
  | "idle"
  /** Connecting to the bridge and the destinations. */
  | "starting"
  /** At least one destination is live. */
  | "live"
  /** The connection to the bridge dropped; resuming. */
  | "reconnecting"
  /** Stopped cleanly. */
  | "ended"
  /** Stopped by an error (see the "error" event). */
  | "failed";

export interface BroadcasterOptions {
  /** ws(s)://host/ingest of a golive bridge. */
  bridgeUrl: string;
  /** Token from your backend, when the bridge requires one. */
  token?: string;
  /** Quality preset or explicit settings (default "720p30"). */
  quality?: PresetName | VideoQuality;
  /** AAC bitrate (default 128 kbit/s). */
  audioBitrate?: number;
  /** Where ffmpeg.wasm's core is served (default: bundled with the app). */
  ffmpeg?: { coreURL?: string; wasmURL?: string };
}

export interface StartOptions {
  destinations: DestinationRequest[];
  /** Also record on the bridge's machine. */
  record?: boolean;
}

export interface BroadcastStats {
  state: BroadcastState;
  /** Outgoing bits/s over the last second. */
  bitrate: number;
  /** Encoded video frames/s over the last second. */
  fps: number;
  /** Frames dropped by the encoder (too slow) and the transport (uplink too slow). */
  framesDropped: number;
  /** Current video encoder target, bits/s. */
  targetBitrate: number;
  /** Largest backlog of any destination, ms. */
  queuedMs: number;
  /** The bridge's per-destination counters. */
  destinations: DestinationStats[];
  /** "webcodecs" or "ffmpeg": where AAC comes from. */
  audioEncoder?: string;
  /** "webcodecs" or "mediarecorder": where H.264 comes from. */
  videoEncoder?: string;
}

/** Chromium's MediaStreamTrackProcessor (mediacapture-transform), typed here for what we use. */
type TrackProcessorCtor = new (init: { track: MediaStreamTrack; maxBufferSize?: number }) => { readonly readable: ReadableStream };

/** The frames (VideoFrame) or audio data (AudioData) of a track, as a stream. */
function trackReadable<T extends VideoFrame | AudioData>(track: MediaStreamTrack, maxBufferSize?: number): ReadableStream<T> {
  const Processor = (globalThis as unknown as { MediaStreamTrackProcessor?: TrackProcessorCtor }).MediaStreamTrackProcessor;
  if (!Processor) throw new BroadcastError("UNSUPPORTED_BROWSER", "this browser cannot read camera and microphone frames (MediaStreamTrackProcessor is missing)");
  return new Processor({ track, ...(maxBufferSize !== undefined && { maxBufferSize }) }).readable as ReadableStream<T>;
}

const VIDEO_TRACK = 0;
const AUDIO_TRACK = 1;

export class Broadcaster extends EventTarget {
  readonly #opts: BroadcasterOptions;
  readonly #quality: VideoQuality;
  #state: BroadcastState = "idle";
  #stream: MediaStream | undefined;
  #ownTracks: MediaStreamTrack[] = [];
  #transport: Transport | undefined;
  #worker: Worker | undefined;
  #audio: AacEncoder | undefined;
  #audioReader: ReadableStreamDefaultReader<AudioData> | undefined;
  #targetBitrate: number;
  #statsTimer: ReturnType<typeof setInterval> | undefined;
  #bytesThisSecond = 0;
  #framesThisSecond = 0;
  #encoderDropped = 0;
  #lastBridgeStats: DestinationStats[] = [];
  #destinationStates = new Map<string, DestinationMessage>();
  #stopped: Promise<void> | undefined;
  #audioClockOffsetUs: number | undefined;
  #firstVideoUs: number | undefined;
  #audioOffsetReads = 0;
  #audioWaiting: MediaFrame[] = [];
  #recorderVideo: RecorderVideo | undefined;

  constructor(options: BroadcasterOptions) {
    super();
    if (!options?.bridgeUrl) throw new TypeError("Broadcaster needs a bridgeUrl");
    this.#opts = options;
    const q = options.quality ?? "720p30";
    this.#quality = typeof q === "string" ? PRESETS[q] : q;
    this.#targetBitrate = this.#quality.bitrate;
  }

  get state(): BroadcastState {
    return this.#state;
  }

  /** The stream being broadcast (for a preview <video>). */
  get stream(): MediaStream | undefined {
    return this.#stream;
  }

  /** What the browser can do here (for UIs that offer choices). */
  static capabilities(): { webcodecsVideo: boolean; mediaRecorder: boolean; screen: boolean } {
    return {
      webcodecsVideo: typeof VideoEncoder !== "undefined",
      mediaRecorder: recorderMimeType() !== undefined,
      screen: typeof navigator !== "undefined" && typeof navigator.mediaDevices?.getDisplayMedia === "function",
    };
  }

  /**
   * Captures `source` and returns its stream (for a preview). While live,
   * switches the broadcast to it without ending the session.
   */
  async setSource(source: BroadcastSource): Promise<MediaStream> {
    const stream = await this.#capture(source);
    const previous = this.#ownTracks;
    this.#ownTracks = source.kind === "stream" ? [] : stream.getTracks();
    this.#stream = stream;
    if (this.#worker) this.#attachVideo(stream);
    if (this.#audio) this.#attachAudio(stream);
    for (const t of previous) if (!stream.getTracks().includes(t)) t.stop();
    return stream;
  }

  /** Connects to the bridge and starts encoding. Resolves once the bridge accepted. */
  async start(options: StartOptions): Promise<void> {
    if (this.#state !== "idle" && this.#state !== "ended" && this.#state !== "failed") {
      throw new TypeError(`start() while ${this.#state}`);
    }
    this.#setState("starting");
    try {
      const stream = this.#stream ?? (await this.setSource({ kind: "camera" }));
      const videoTrack = stream.getVideoTracks()[0];
      const audioTrack = stream.getAudioTracks()[0];
      if (!videoTrack) throw new BroadcastError("NO_VIDEO", "the source has no video track");
      // Without WebCodecs' VideoEncoder, MediaRecorder encodes and we demux.
      const useRecorder = typeof VideoEncoder === "undefined";
      if (useRecorder && !recorderMimeType()) {
        throw new BroadcastError("H264_UNSUPPORTED", "this browser cannot encode H.264 (try a recent Chrome, Edge or Safari)");
      }
      const { width, height, framerate } = this.#quality;
      const config: VideoEncoderConfig = {
        codec: avcCodecFor(width, height, framerate),
        width,
        height,
        bitrate: this.#targetBitrate,
        framerate,
        latencyMode: "realtime",
        bitrateMode: "constant",
        avc: { format: "avc" },
      };
      if (!useRecorder) {
        const support = await VideoEncoder.isConfigSupported(config);
        if (!support.supported) throw new BroadcastError("H264_UNSUPPORTED", `this browser cannot encode H.264 at ${width}x${height}@${framerate}`);
      }

      const transport = new Transport({
        url: this.#opts.bridgeUrl,
        start: { destinations: options.destinations, ...(options.record !== undefined && { record: options.record }), ...(this.#opts.token && { token: this.#opts.token }), client: "golive-web" },
        onMessage: (msg) => {
          switch (msg.type) {
            case "destination":
              this.#destinationStates.set(msg.id, msg);
              this.#emit("destination", msg);
              if (msg.state === "live" && this.#state === "starting") this.#setState("live");
              return;
            case "stats":
              this.#lastBridgeStats = msg.destinations;
              return;
            case "advice":
              this.setBitrate(msg.targetBitrate);
              this.#emit("advice", msg.targetBitrate);
              return;
            case "error":
              this.#emit("error", new BroadcastError(msg.code, msg.message));
              return;
            default:
              return;
          }
        },
        onState: (s) => this.#transportState(s),
        requestKeyframe: () => this.#post({ type: "keyframe" }),
        onFailed: (err) => this.#fail(err),
      });
      this.#transport = transport;
      await transport.connect();

      if (audioTrack) {
        const settings = audioTrack.getSettings();
        const sampleRate = settings.sampleRate ?? 48000;
        const channels = (settings.channelCount ?? 2) >= 2 ? 2 : 1;
        this.#audio = await createAacEncoder(
          { sampleRate, channels, bitrate: this.#opts.audioBitrate ?? AUDIO_BITRATE, ...(this.#opts.ffmpeg && { ffmpeg: this.#opts.ffmpeg }) },
          (chunk) => this.#audioOut({ track: AUDIO_TRACK, keyframe: false, timestampUs: chunk.timestampUs + (this.#audioClockOffsetUs ?? 0), compositionUs: 0, payload: chunk.data }),
          (err) => this.#fail(new BroadcastError("AUDIO_ENCODER_FAILED", `the audio encoder stopped: ${err.message}`)),
        );
        // Audio first: loading ffmpeg.wasm takes a moment, and video must not
        // start (and set the session's time zero) while no audio is read.
        transport.sendConfig({ type: "config", track: AUDIO_TRACK, kind: "audio", codec: this.#audio.codec, description: toBase64(this.#audio.description), bitrate: this.#opts.audioBitrate ?? AUDIO_BITRATE, sampleRate: this.#audio.sampleRate, channels: this.#audio.channels });
        this.#attachAudio(stream);
      }
      if (useRecorder) {
        const recorder = new RecorderVideo();
        this.#recorderVideo = recorder;
        recorder.start(videoTrack, this.#targetBitrate, {
          onConfig: (c) => this.#fromWorker({ type: "config", description: c.description.slice().buffer, codec: c.codec, width: c.width, height: c.height }),
          onChunk: (c) => this.#fromWorker({ type: "chunk", data: c.data.slice().buffer, timestampUs: c.timestampUs, key: c.key, durationUs: 0 }),
          onError: (e) => this.#fail(e),
        });
      } else {
        const worker = new Worker(new URL("./video-worker.ts", import.meta.url), { type: "module" });
        this.#worker = worker;
        worker.onmessage = (event: MessageEvent<VideoWorkerOut>) => this.#fromWorker(event.data);
        worker.onerror = (event) => this.#fail(new BroadcastError("ENCODER_FAILED", `the video encoder stopped: ${event.message}`));
        this.#post({ type: "configure", config });
        this.#attachVideo(stream);
      }

      this.#statsTimer = setInterval(() => this.#tickStats(), 1000);
    } catch (err) {
      const e = err instanceof BroadcastError ? err : new BroadcastError("START_FAILED", err instanceof Error ? err.message : String(err), { cause: err });
      this.#fail(e);
      throw e;
    }
  }

  /** Ends the broadcast cleanly (destinations unpublish). */
  async stop(): Promise<void> {
    this.#stopped ??= this.#teardown(true);
    await this.#stopped;
    if (this.#state !== "failed") this.#setState("ended");
  }

  /** Changes the video bitrate (also driven by the bridge's advice). */
  setBitrate(bitrate: number): void {
    this.#targetBitrate = Math.max(100_000, Math.round(bitrate));
    this.#post({ type: "bitrate", bitrate: this.#targetBitrate });
  }

  /** Drops the connection to the bridge (to test resuming). */
  simulateNetworkDrop(): void {
    this.#transport?.dropConnection();
  }

  /** A snapshot of the counters. */
  stats(): BroadcastStats {
    const destinations = this.#lastBridgeStats;
    return {
      state: this.#state,
      bitrate: 0,
      fps: 0,
      framesDropped: this.#encoderDropped + (this.#transport?.framesDropped ?? 0),
      targetBitrate: this.#targetBitrate,
      queuedMs: destinations.reduce((m, d) => Math.max(m, d.queuedMs), 0),
      destinations,
      ...(this.#audio && { audioEncoder: this.#audio.kind }),
      ...((this.#worker || this.#recorderVideo) && { videoEncoder: this.#recorderVideo ? "mediarecorder" : "webcodecs" }),
    };
  }

  // --- internals -----------------------------------------------------------

  async #capture(source: BroadcastSource): Promise<MediaStream> {
    const { width, height, framerate } = this.#quality;
    const md = navigator.mediaDevices;
    switch (source.kind) {
      case "camera": {
        const video: MediaTrackConstraints = { width: { ideal: width }, height: { ideal: height }, frameRate: { ideal: framerate }, ...(source.videoDeviceId && { deviceId: { exact: source.videoDeviceId } }) };
        // Broadcast audio, not a call: the browser's voice processing (echo
        // cancellation, noise suppression, automatic gain) would pump levels
        // and eat music and steady tones. Opt in with `voiceProcessing`.
        const voice = source.voiceProcessing ?? false;
        const audio: MediaTrackConstraints | false = source.audio === false ? false : {
          channelCount: { ideal: 2 },
          echoCancellation: voice,
          noiseSuppression: voice,
          autoGainControl: voice,
          ...(source.audioDeviceId && { deviceId: { exact: source.audioDeviceId } }),
        };
        try {
          return await md.getUserMedia({ video, audio });
        } catch (err) {
          throw captureError(err, audio ? "camera or microphone" : "camera");
        }
      }
      case "screen": {
        let stream: MediaStream;
        try {
          stream = await md.getDisplayMedia({ video: { frameRate: { ideal: framerate } }, audio: source.audio ?? true });
        } catch (err) {
          throw captureError(err, "screen");
        }
        if (source.microphone && stream.getAudioTracks().length === 0) {
          try {
            const mic = await md.getUserMedia({ audio: { echoCancellation: false, noiseSuppression: false, autoGainControl: false } });
            for (const t of mic.getAudioTracks()) stream.addTrack(t);
          } catch (err) {
            throw captureError(err, "microphone");
          }
        }
        return stream;
      }
      case "canvas": {
        const stream = source.canvas.captureStream(source.framerate ?? framerate);
        for (const t of source.audio?.getAudioTracks() ?? []) stream.addTrack(t);
        return stream;
      }
      case "stream":
        return source.stream;
    }
  }

  #attachVideo(stream: MediaStream): void {
    const track = stream.getVideoTracks()[0];
    if (!track || !this.#worker) return;
    const readable = trackReadable<VideoFrame>(track, 2);
    this.#worker.postMessage({ type: "source", readable } satisfies VideoWorkerIn, [readable]);
  }

  #attachAudio(stream: MediaStream): void {
    const track = stream.getAudioTracks()[0];
    const old = this.#audioReader;
    this.#audioReader = undefined;
    void old?.cancel().catch(() => undefined);
    if (!track || !this.#audio) return;
    const reader = trackReadable<AudioData>(track).getReader();
    this.#audioReader = reader;
    const encoder = this.#audio;
    void (async () => {
      for (;;) {
        let result: ReadableStreamReadResult<AudioData>;
        try {
          result = await reader.read();
        } catch {
          return;
        }
        if (result.done || reader !== this.#audioReader) {
          result.value?.close();
          return;
        }
        // Rebase onto the shared clock (see video-worker.ts), once: the
        // encoder keeps time by counting samples from the first one.
        if (this.#audioOffsetReads < 10) {
          // As for video: the smallest arrival delay of the first reads.
          this.#audioOffsetReads++;
          const offset = Math.round((performance.timeOrigin + performance.now()) * 1000) - result.value.timestamp;
          this.#audioClockOffsetUs = Math.min(this.#audioClockOffsetUs ?? offset, offset);
        }
        try {
          encoder.encode(result.value);
        } finally {
          result.value.close();
        }
      }
    })();
  }

  #audioOut(frame: MediaFrame): void {
    if (this.#firstVideoUs === undefined) {
      if (this.#audioWaiting.length < 500) this.#audioWaiting.push(frame);
      return;
    }
    if (frame.timestampUs + 21_333 <= this.#firstVideoUs) return;
    if (this.#transport?.sendFrame(frame, "audio")) this.#bytesThisSecond += frame.payload.byteLength + 16;
  }

  #fromWorker(msg: VideoWorkerOut): void {
    const transport = this.#transport;
    if (!transport) return;
    switch (msg.type) {
      case "config":
        transport.sendConfig({ type: "config", track: VIDEO_TRACK, kind: "video", codec: msg.codec, description: toBase64(new Uint8Array(msg.description)), bitrate: this.#targetBitrate, framerate: this.#quality.framerate });
        return;
      case "chunk":
        if (transport.sendFrame({ track: VIDEO_TRACK, keyframe: msg.key, timestampUs: msg.timestampUs, compositionUs: 0, payload: new Uint8Array(msg.data) }, "video")) {
          this.#bytesThisSecond += msg.data.byteLength + 16;
        }
        this.#framesThisSecond++;
        if (this.#firstVideoUs === undefined) {
          // Audio and video start together: audio from before the first
          // picture is dropped, the rest that waited goes out now.
          this.#firstVideoUs = msg.timestampUs;
          const waiting = this.#audioWaiting;
          this.#audioWaiting = [];
          for (const frame of waiting) this.#audioOut(frame);
        }
        return;
      case "stats":
        this.#encoderDropped = msg.dropped;
        return;
      case "error":
        this.#fail(new BroadcastError("ENCODER_FAILED", `the video encoder stopped: ${msg.message}`));
        return;
      case "stopped":
        return;
    }
  }

  #post(message: VideoWorkerIn): void {
    this.#worker?.postMessage(message);
  }

  #tickStats(): void {
    this.#post({ type: "stats" });
    const stats = { ...this.stats(), bitrate: this.#bytesThisSecond * 8, fps: this.#framesThisSecond };
    this.#bytesThisSecond = 0;
    this.#framesThisSecond = 0;
    this.#emit("stats", stats);
  }

  #transportState(s: TransportState): void {
    if (s === "reconnecting") this.#setState("reconnecting");
    else if (s === "live" && this.#state === "reconnecting") this.#setState("live");
  }

  async #teardown(clean: boolean): Promise<void> {
    if (this.#statsTimer) clearInterval(this.#statsTimer);
    this.#recorderVideo?.stop();
    const reader = this.#audioReader;
    this.#audioReader = undefined;
    await reader?.cancel().catch(() => undefined);
    const worker = this.#worker;
    if (worker) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 2000);
        worker.addEventListener("message", (e: MessageEvent<VideoWorkerOut>) => {
          if (e.data.type === "stopped") {
            clearTimeout(t);
            resolve();
          }
        });
        worker.postMessage({ type: "stop" } satisfies VideoWorkerIn);
      });
      worker.terminate();
    }
    await this.#audio?.flush().catch(() => undefined);
    this.#audio?.close();
    if (clean) await this.#transport?.stop();
    for (const t of this.#ownTracks) t.stop();
    this.#worker = undefined;
    this.#audio = undefined;
  }

  #fail(err: BroadcastError): void {
    if (this.#state === "failed" || this.#state === "ended") return;
    this.#setState("failed");
    this.#emit("error", err);
    this.#stopped ??= this.#teardown(false).then(() => this.#transport?.stop());
  }

  #setState(state: BroadcastState): void {
    if (this.#state === state) return;
    this.#state = state;
    this.#emit("statechange", state);
  }

  #emit(type: string, detail: unknown): void {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }
}
