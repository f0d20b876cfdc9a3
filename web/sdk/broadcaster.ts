/**
 * Broadcaster: the SDK's one class. Captures (camera + mic, a screen, a
 * canvas, or any MediaStream), encodes in the browser (WebCodecs H.264 in a
 * worker; AAC from WebCodecs, golive's wasm encoder, or ffmpeg.wasm on
 * request), and sends the frames to a
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
import { AudioCapture, chooseAudioCapture, createCaptureContext } from "../capture/audio-capture.js";
import { pcmAudioData, type PcmBlock } from "../capture/audio-timeline.js";
import { chooseVideoCapture, startVideoCapture, type VideoCapture } from "../capture/video-capture.js";
import { BroadcastError, captureError } from "./errors.js";
import { AUDIO_BITRATE, PRESETS, type PresetName, type VideoQuality } from "./presets.js";
import { decideSupport, gatherCapabilities, videoEncoderConfig, type BrowserSupport } from "./probe.js";
import { RecorderVideo, recorderMimeType } from "./recorder-video.js";
import { Transport, type TransportState } from "./transport.js";
import type { VideoWorkerIn, VideoWorkerOut } from "./video-messages.js";

export type { AudioPath, BrowserSupport, VideoPath } from "./probe.js";

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
  /**
   * Where AAC comes from: "auto" (default): WebCodecs where the browser has
   * AAC, else golive's wasm encoder (40 KB, frame by frame); "webcodecs",
   * "wasm" or "ffmpeg" (ffmpeg.wasm: a 32 MB download and ~0.5 s more
   * latency) insist on one, and start() fails if it cannot run.
   */
  audioEncoder?: "auto" | "webcodecs" | "wasm" | "ffmpeg";
  /** Where golive's aac.wasm is served (default: bundled with the SDK). */
  aacWasmURL?: string;
  /** Where ffmpeg.wasm's core is served (default: ffmpeg-core/ next to golive.js, where a bridge serves it when @ffmpeg/core is installed); only with audioEncoder "ffmpeg". */
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
  /** "webcodecs", "wasm", "ffmpeg" or "mediarecorder": where AAC comes from. */
  audioEncoder?: string;
  /** "webcodecs" or "mediarecorder": where H.264 comes from. */
  videoEncoder?: string;
  /** How frames reach the encoder: "track-processor", "worker-track-processor", "video-element" or "mediarecorder". */
  videoCapture?: string;
  /** How sound is read: "track-processor", "audio-worklet" or "mediarecorder". */
  audioCapture?: string;
  /**
   * Audio-worklet capture: how far the audio device's clock is from the
   * capture clock, parts per million, as currently corrected (positive: the
   * audio clock runs slow and samples are added), the net frames added, and
   * the frames of silence put where samples were lost.
   */
  audioClock?: { driftPpm: number; correctionFrames: number; silenceFrames: number };
  /**
   * The AAC encoder's delay that its timestamps account for, ms: 21.3 for
   * golive's encoders (one frame at 48 kHz); for the platform's WebCodecs
   * encoder, what was measured before going live (absent if it could not
   * be: the sound then reaches the ingest late by the unmeasured delay).
   */
  audioEncoderDelayMs?: number;
}

/** A preset name or explicit settings, as VideoQuality. */
function resolveQuality(q: PresetName | VideoQuality): VideoQuality {
  if (typeof q !== "string") return q;
  const preset = PRESETS[q] as VideoQuality | undefined;
  if (!preset) throw new TypeError(`unknown quality preset ${JSON.stringify(q)} (one of ${Object.keys(PRESETS).join(", ")})`);
  return preset;
}

/** The default AudioContext rate of this device (what Firefox needs for a microphone). */
function defaultRate(): number {
  const probe = new AudioContext();
  const rate = probe.sampleRate;
  void probe.close().catch(() => undefined);
  return rate;
}

/** A capture AudioContext, or undefined where the browser has none. */
function newContext(): AudioContext | undefined {
  try {
    return typeof AudioContext === "undefined" ? undefined : createCaptureContext();
  } catch {
    return undefined;
  }
}

/** Longest audio waits for video in the browser before it is sent anyway, µs. */
const AUDIO_HOLD_US = 3_000_000;

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
  #workerHello: { trackProcessor: boolean } | undefined;
  #videoCapture: VideoCapture | undefined;
  #audio: AacEncoder | undefined;
  #audioCapture: AudioCapture | undefined;
  #audioContext: AudioContext | undefined;
  #support: Extract<BrowserSupport, { canGoLive: true }> | undefined;
  #targetBitrate: number;
  #statsTimer: ReturnType<typeof setInterval> | undefined;
  #bytesThisSecond = 0;
  #framesThisSecond = 0;
  #encoderDropped = 0;
  #lastBridgeStats: DestinationStats[] = [];
  #destinationStates = new Map<string, DestinationMessage>();
  #stopped: Promise<void> | undefined;
  #firstVideoUs: number | undefined;
  #audioWaiting: MediaFrame[] = [];
  /** Audio waiting for video of the same time (see #releaseAudio). */
  #audioHeld: MediaFrame[] = [];
  #lastVideoUs = Number.NEGATIVE_INFINITY;
  /** Video chunks held until the recorder's audio config is sent (both configs go before the first frame). */
  #videoWaiting: Array<Extract<VideoWorkerOut, { type: "chunk" }>> | undefined;
  #recorderVideo: RecorderVideo | undefined;
  #videoSent = false;

  constructor(options: BroadcasterOptions) {
    super();
    if (!options?.bridgeUrl) throw new TypeError("Broadcaster needs a bridgeUrl");
    this.#opts = options;
    this.#quality = resolveQuality(options.quality ?? "720p30");
    this.#targetBitrate = this.#quality.bitrate;
  }

  get state(): BroadcastState {
    return this.#state;
  }

  /** The stream being broadcast (for a preview <video>). */
  get stream(): MediaStream | undefined {
    return this.#stream;
  }

  /**
   * What this browser will use to go live at `quality` (default 720p30) with
   * or without sound: the video path (encoder and how frames reach it) and
   * the audio path; or `canGoLive: false` with a stable `code` and a
   * `reason` to show the person. Decided by feature probes, never by the
   * user agent; start() runs the same probe and fails with that reason.
   */
  static async probe(options: { quality?: PresetName | VideoQuality; audio?: boolean; audioEncoder?: BroadcasterOptions["audioEncoder"] } = {}): Promise<BrowserSupport> {
    const quality = resolveQuality(options.quality ?? "720p30");
    return decideSupport(await gatherCapabilities(quality), options.audio ?? true, quality, options.audioEncoder ?? "auto");
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
    if (this.#audioCapture) await this.#attachAudio(stream);
    for (const t of previous) if (!stream.getTracks().includes(t)) t.stop();
    return stream;
  }

  /**
   * Checks that this browser can capture and encode, then connects to the
   * bridge and starts sending. Everything that can fail in the browser (the
   * probe, the encoders, loading the AAC encoder, starting audio capture) is
   * done before the bridge hears of the broadcast, so a browser that cannot
   * go live never makes an ingest see a publish. Resolves once the bridge
   * accepted; the state becomes "live" once a destination is live and video
   * is flowing. Call it from a click's handler: audio capture needs one in
   * Safari and Firefox.
   */
  async start(options: StartOptions): Promise<void> {
    if (this.#state !== "idle" && this.#state !== "ended" && this.#state !== "failed") {
      throw new TypeError(`start() while ${this.#state}`);
    }
    this.#setState("starting");
    this.#stopped = undefined;
    this.#videoSent = false;
    this.#firstVideoUs = undefined;
    this.#destinationStates.clear();
    // Before the first await, while the click's user activation holds: an
    // AudioContext made later starts suspended in Safari and Firefox.
    if ((!this.#stream || this.#stream.getAudioTracks().length > 0) && chooseAudioCapture() === "audio-worklet") this.#audioContext = newContext();
    try {
      const stream = this.#stream ?? (await this.setSource({ kind: "camera" }));
      const videoTrack = stream.getVideoTracks()[0];
      const audioTrack = stream.getAudioTracks()[0];
      if (!videoTrack) throw new BroadcastError("NO_VIDEO", "the source has no video track");
      const support = decideSupport(await gatherCapabilities(this.#quality), audioTrack !== undefined, this.#quality, this.#opts.audioEncoder ?? "auto");
      if (!support.canGoLive) throw new BroadcastError(support.code, support.reason);
      this.#support = support;
      this.#checkNotStopped();

      // 1. The browser side, before the bridge.
      if (support.video.encoder === "webcodecs") await this.#startVideoEncoder(videoEncoderConfig(this.#quality, this.#targetBitrate));
      if (audioTrack && (support.audio?.capture === "audio-worklet" || support.audio?.capture === "track-processor")) await this.#startAudio(audioTrack, support.audio.capture);
      else void this.#audioContext?.close().catch(() => undefined);
      this.#checkNotStopped();

      // 2. The bridge.
      const transport = new Transport({
        url: this.#opts.bridgeUrl,
        start: { destinations: options.destinations, ...(options.record !== undefined && { record: options.record }), ...(this.#opts.token && { token: this.#opts.token }), client: "golive-web" },
        onMessage: (msg) => {
          switch (msg.type) {
            case "destination":
              this.#destinationStates.set(msg.id, msg);
              this.#emit("destination", msg);
              this.#maybeLive();
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
      this.#checkNotStopped();

      // 3. Media.
      const audio = this.#audio;
      if (audio) {
        transport.sendConfig({ type: "config", track: AUDIO_TRACK, kind: "audio", codec: audio.codec, description: toBase64(audio.description), bitrate: this.#opts.audioBitrate ?? AUDIO_BITRATE, sampleRate: audio.sampleRate, channels: audio.channels });
      }
      if (support.video.encoder === "mediarecorder") {
        const withAudio = audioTrack !== undefined && support.audio?.capture === "mediarecorder";
        if (withAudio) this.#videoWaiting = [];
        const recorder = new RecorderVideo();
        this.#recorderVideo = recorder;
        recorder.start(
          videoTrack,
          this.#targetBitrate,
          {
            onConfig: (c) => this.#fromWorker({ type: "config", description: c.description.slice().buffer, codec: c.codec, width: c.width, height: c.height }),
            onChunk: (c) => this.#fromWorker({ type: "chunk", data: c.data.slice().buffer, timestampUs: c.timestampUs, key: c.key, durationUs: 0 }),
            onAudioConfig: (c) => {
              transport.sendConfig({ type: "config", track: AUDIO_TRACK, kind: "audio", codec: "mp4a.40.2", description: toBase64(c.description), bitrate: this.#opts.audioBitrate ?? AUDIO_BITRATE, sampleRate: c.sampleRate, channels: c.channels });
              const waiting = this.#videoWaiting ?? [];
              this.#videoWaiting = undefined;
              for (const chunk of waiting) this.#fromWorker(chunk);
            },
            onAudioChunk: (c) => this.#audioOut({ track: AUDIO_TRACK, keyframe: false, timestampUs: c.timestampUs, compositionUs: 0, payload: c.data.slice() }),
            onError: (e) => this.#fail(e),
          },
          withAudio ? { track: audioTrack, bitrate: this.#opts.audioBitrate ?? AUDIO_BITRATE } : undefined,
        );
      } else {
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
    const support = this.#support;
    return {
      state: this.#state,
      bitrate: 0,
      fps: 0,
      framesDropped: this.#encoderDropped + (this.#videoCapture?.dropped ?? 0) + (this.#transport?.framesDropped ?? 0),
      targetBitrate: this.#targetBitrate,
      queuedMs: destinations.reduce((m, d) => Math.max(m, d.queuedMs), 0),
      destinations,
      ...(support?.audio && { audioEncoder: this.#audio?.kind ?? support.audio.encoder, audioCapture: support.audio.capture }),
      ...(support && { videoEncoder: support.video.encoder, videoCapture: this.#videoCapture?.method ?? support.video.capture }),
      ...(this.#audio?.delayFrames !== undefined && { audioEncoderDelayMs: Math.round((this.#audio.delayFrames * 10000) / this.#audio.sampleRate) / 10 }),
      ...(this.#audioCapture && { audioClock: { driftPpm: this.#audioCapture.clockDriftPpm, correctionFrames: this.#audioCapture.correctionFrames, silenceFrames: this.#audioCapture.silenceFrames } }),
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

  /** Starts the encoder worker and waits until it took `config` (fails start() otherwise). */
  async #startVideoEncoder(config: VideoEncoderConfig): Promise<void> {
    const worker = new Worker(new URL("./video-worker.ts", import.meta.url), { type: "module" });
    this.#worker = worker;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new BroadcastError("ENCODER_FAILED", "the video encoder did not start within 10 s")), 10_000);
      worker.onerror = (event) => {
        clearTimeout(timer);
        reject(new BroadcastError("ENCODER_FAILED", `the video encoder could not start: ${event.message || "its worker failed to load"}`));
      };
      worker.onmessage = (event: MessageEvent<VideoWorkerOut>) => {
        const msg = event.data;
        if (msg.type === "hello") {
          this.#workerHello = { trackProcessor: msg.trackProcessor };
          worker.postMessage({ type: "configure", config } satisfies VideoWorkerIn);
        } else if (msg.type === "configured") {
          clearTimeout(timer);
          resolve();
        } else if (msg.type === "error") {
          clearTimeout(timer);
          reject(new BroadcastError("ENCODER_FAILED", `the video encoder refused its configuration: ${msg.message}`));
        }
      };
    });
    worker.onmessage = (event: MessageEvent<VideoWorkerOut>) => this.#fromWorker(event.data);
    worker.onerror = (event) => this.#fail(new BroadcastError("ENCODER_FAILED", `the video encoder stopped: ${event.message}`));
  }

  /** Opens audio capture on `track` and the AAC encoder for its rate (fails start() otherwise). */
  async #startAudio(track: MediaStreamTrack, method: "audio-worklet" | "track-processor"): Promise<void> {
    const channels = (track.getSettings().channelCount ?? 2) >= 2 ? 2 : 1;
    // Blocks captured while the encoder loads wait here (bounded: the anchor holds the first ones anyway).
    let early: PcmBlock[] | undefined = [];
    const onBlock = (block: PcmBlock): void => {
      if (early) {
        if (early.length < 500) early.push(block);
        return;
      }
      this.#encodeAudio(block);
    };
    if (method === "track-processor") {
      this.#audioCapture = await AudioCapture.open(track, { channels, method }, onBlock);
    } else {
      await this.#openWorklet(track, channels, onBlock);
    }
    const sampleRate = this.#audioCapture!.sampleRate;
    this.#audio = await createAacEncoder(
      {
        sampleRate,
        channels,
        bitrate: this.#opts.audioBitrate ?? AUDIO_BITRATE,
        encoder: this.#opts.audioEncoder ?? "auto",
        ...(this.#opts.aacWasmURL && { wasm: { wasmURL: this.#opts.aacWasmURL } }),
        ...(this.#opts.ffmpeg && { ffmpeg: this.#opts.ffmpeg }),
      },
      (chunk) => this.#audioOut({ track: AUDIO_TRACK, keyframe: false, timestampUs: chunk.timestampUs, compositionUs: 0, payload: chunk.data }),
      (err) => this.#fail(new BroadcastError("AUDIO_ENCODER_FAILED", `the audio encoder stopped: ${err.message}`)),
    );
    const waiting = early;
    early = undefined;
    for (const block of waiting) this.#encodeAudio(block);
  }

  /** Audio-worklet capture in this broadcast's context (or one at the device's rate, where the engine needs it). */
  async #openWorklet(track: MediaStreamTrack, channels: 1 | 2, onBlock: (block: PcmBlock) => void): Promise<void> {
    const context = this.#audioContext ?? createCaptureContext();
    this.#audioContext = context;
    try {
      this.#audioCapture = await AudioCapture.open(track, { context, channels, method: "audio-worklet" }, onBlock);
    } catch (err) {
      // Some engines read a microphone only in a context at the device's rate: try that one.
      if (!(err instanceof BroadcastError) || err.code !== "AUDIO_CAPTURE_FAILED" || context.sampleRate === defaultRate()) throw err;
      await context.close().catch(() => undefined);
      const fallback = new AudioContext();
      this.#audioContext = fallback;
      this.#audioCapture = await AudioCapture.open(track, { context: fallback, channels, method: "audio-worklet" }, onBlock);
    }
  }

  #encodeAudio(block: PcmBlock): void {
    const encoder = this.#audio;
    if (!encoder) return;
    // The wasm and ffmpeg.wasm paths read planes: no AudioData (and its copy) for them.
    const data = pcmAudioData(block, encoder.kind === "webcodecs");
    try {
      if (block.discontinuity && encoder.kind === "ffmpeg") {
        // A hole too long to fill: the encoder starts a new timeline at this block.
        void encoder.flush().catch(() => undefined);
      }
      if (block.discontinuity) encoder.restartTimeline?.();
      encoder.encode(data);
    } finally {
      data.close();
    }
  }

  #attachVideo(stream: MediaStream): void {
    const track = stream.getVideoTracks()[0];
    const worker = this.#worker;
    this.#videoCapture?.stop();
    this.#videoCapture = undefined;
    if (!track || !worker) return;
    const method = chooseVideoCapture(this.#workerHello?.trackProcessor ?? false);
    if (!method) {
      this.#fail(new BroadcastError("UNSUPPORTED_BROWSER", "this browser cannot hand camera frames to the video encoder"));
      return;
    }
    this.#videoCapture = startVideoCapture(track, { postMessage: (m, t) => worker.postMessage(m, t) }, method);
  }

  async #attachAudio(stream: MediaStream): Promise<void> {
    const track = stream.getAudioTracks()[0];
    const old = this.#audioCapture;
    if (!track || !old) return;
    await old.stop();
    // Same method, same encoder: the new track's blocks continue the timeline.
    this.#audioCapture = await AudioCapture.open(track, { channels: old.channels, method: old.method, ...(this.#audioContext && { context: this.#audioContext }) }, (block) => this.#encodeAudio(block));
  }

  #audioOut(frame: MediaFrame): void {
    if (this.#firstVideoUs === undefined) {
      if (this.#audioWaiting.length < 500) this.#audioWaiting.push(frame);
      return;
    }
    if (frame.timestampUs + 21_333 <= this.#firstVideoUs) return;
    this.#audioHeld.push(frame);
    this.#releaseAudio(false);
  }

  /**
   * Sends the audio that video has caught up with. Where the video encoder
   * lags audio (Firefox's H.264 encoder holds ~1.5 s of frames), audio waits
   * here rather than reach the bridge more than its 1 s re-order window
   * ahead of the video of the same time; it never waits more than
   * AUDIO_HOLD_US (video stalled), and `all` sends everything (at stop).
   */
  #releaseAudio(all: boolean): void {
    const held = this.#audioHeld;
    const newest = held[held.length - 1]?.timestampUs ?? 0;
    let n = 0;
    while (n < held.length) {
      const frame = held[n]!;
      if (!all && frame.timestampUs > this.#lastVideoUs && newest - frame.timestampUs < AUDIO_HOLD_US) break;
      if (this.#transport?.sendFrame(frame, "audio")) this.#bytesThisSecond += frame.payload.byteLength + 16;
      n++;
    }
    if (n > 0) held.splice(0, n);
  }

  #fromWorker(msg: VideoWorkerOut): void {
    const transport = this.#transport;
    if (!transport) return;
    switch (msg.type) {
      case "config":
        transport.sendConfig({ type: "config", track: VIDEO_TRACK, kind: "video", codec: msg.codec, description: toBase64(new Uint8Array(msg.description)), bitrate: this.#targetBitrate, framerate: this.#quality.framerate });
        return;
      case "chunk":
        if (this.#videoWaiting) {
          if (this.#videoWaiting.length < 300) this.#videoWaiting.push(msg);
          return;
        }
        this.#lastVideoUs = Math.max(this.#lastVideoUs, msg.timestampUs);
        if (transport.sendFrame({ track: VIDEO_TRACK, keyframe: msg.key, timestampUs: msg.timestampUs, compositionUs: 0, payload: new Uint8Array(msg.data) }, "video")) {
          this.#bytesThisSecond += msg.data.byteLength + 16;
          if (!this.#videoSent) {
            this.#videoSent = true;
            this.#maybeLive();
          }
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
        this.#releaseAudio(false);
        return;
      case "consumed":
        this.#videoCapture?.frameConsumed();
        return;
      case "stats":
        this.#encoderDropped = msg.dropped;
        return;
      case "error":
        this.#fail(new BroadcastError("ENCODER_FAILED", `the video encoder stopped: ${msg.message}`));
        return;
      case "hello":
      case "configured":
      case "stopped":
        return;
    }
  }

  /** "live" once a destination is live and video is flowing to the bridge. */
  #maybeLive(): void {
    if (this.#state !== "starting" || !this.#videoSent) return;
    for (const d of this.#destinationStates.values()) {
      if (d.state === "live") {
        this.#setState("live");
        return;
      }
    }
  }

  #checkNotStopped(): void {
    if (this.#state !== "starting" || this.#stopped) throw new BroadcastError("START_CANCELLED", "the broadcast was stopped before it started");
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
    // Every frame recorded before stop() goes out (the recorder's last blob).
    await this.#recorderVideo?.stop();
    this.#videoCapture?.stop();
    // The worklet's last partial block is encoded before the encoder flushes.
    await this.#audioCapture?.stop();
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
    this.#releaseAudio(true);
    if (clean) await this.#transport?.stop();
    for (const t of this.#ownTracks) t.stop();
    await this.#audioContext?.close().catch(() => undefined);
    this.#worker = undefined;
    this.#workerHello = undefined;
    this.#videoCapture = undefined;
    this.#audio = undefined;
    this.#audioCapture = undefined;
    this.#audioContext = undefined;
    this.#videoWaiting = undefined;
    this.#audioWaiting = [];
    this.#audioHeld = [];
    this.#lastVideoUs = Number.NEGATIVE_INFINITY;
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
