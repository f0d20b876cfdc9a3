/**
 * The fallback video path for browsers without WebCodecs' VideoEncoder:
 * MediaRecorder records H.264 in Matroska/WebM (or MP4 where offered), and
 * mediabunny demuxes the growing recording, chunk by chunk, into the same
 * frames (avcC + length-prefixed NAL units) the WebCodecs path produces.
 * Where the browser has no way to encode AAC itself (older Safari: no
 * WebCodecs at all) but records MP4 with AAC, the audio track is recorded
 * with the video and its AAC frames pass through untouched too.
 *
 * MediaRecorder cannot be told to make a keyframe on demand; where Chromium
 * supports it, `videoKeyFrameIntervalDuration` asks for one every 2 s.
 */
import type { EncodedPacketSink, Input } from "mediabunny";
import { buildAvcC, isAnnexB, splitAnnexB, toAvcc } from "./annexb.js";
import { BroadcastError } from "./errors.js";
import { WebmLiveDemuxer, type WebmTrack } from "./webm-live-demuxer.js";

/** Containers with H.264 that MediaRecorder may offer, best first. */
const MIME_TYPES = [
  "video/x-matroska;codecs=avc1",
  "video/webm;codecs=h264",
  "video/webm;codecs=avc1",
  "video/mp4;codecs=avc1",
];

export interface RecorderVideoCallbacks {
  onConfig(config: { codec: string; description: Uint8Array; width: number; height: number }): void;
  onChunk(chunk: { data: Uint8Array; timestampUs: number; key: boolean }): void;
  /** The AAC track's AudioSpecificConfig (only when recording audio). */
  onAudioConfig?(config: { codec: string; description: Uint8Array; sampleRate: number; channels: number }): void;
  /** One raw AAC frame (only when recording audio). */
  onAudioChunk?(chunk: { data: Uint8Array; timestampUs: number }): void;
  onError(error: BroadcastError): void;
}

/** Containers with H.264 and AAC together, best first. */
const AAC_MIME_TYPES = ["video/mp4;codecs=avc1,mp4a.40.2", "video/mp4;codecs=avc1.42E01F,mp4a.40.2", "video/mp4;codecs=avc1.4D401F,mp4a.40.2"];

/** The first H.264 MIME type MediaRecorder supports here, if any. */
export function recorderMimeType(): string | undefined {
  if (typeof MediaRecorder === "undefined") return undefined;
  return MIME_TYPES.find((t) => MediaRecorder.isTypeSupported(t));
}

/** The first H.264 + AAC MIME type MediaRecorder supports here, if any. */
export function recorderAacMimeType(): string | undefined {
  if (typeof MediaRecorder === "undefined") return undefined;
  return AAC_MIME_TYPES.find((t) => MediaRecorder.isTypeSupported(t));
}

export class RecorderVideo {
  #recorder: MediaRecorder | undefined;
  #failed = false;
  #ended: Promise<void> = Promise.resolve();
  #demuxed: Promise<void> = Promise.resolve();

  /**
   * Starts recording `track`. Timestamps are reported on the SDK's shared
   * clock (epoch µs: performance.timeOrigin + now()), anchored at the
   * recorder's start.
   */
  start(track: MediaStreamTrack, bitrate: number, callbacks: RecorderVideoCallbacks, audio?: { track: MediaStreamTrack; bitrate: number }): void {
    const mimeType = audio ? recorderAacMimeType() : recorderMimeType();
    if (!mimeType) throw new BroadcastError("H264_UNSUPPORTED", "this browser cannot encode H.264 (neither WebCodecs nor MediaRecorder offers it)");
    let controller!: ReadableStreamDefaultController<Uint8Array>;
    const stream = new ReadableStream<Uint8Array>({ start: (c) => (controller = c) });
    const options = { mimeType, videoBitsPerSecond: bitrate, ...(audio && { audioBitsPerSecond: audio.bitrate }), videoKeyFrameIntervalDuration: 2000 } as MediaRecorderOptions;
    const recorder = new MediaRecorder(new MediaStream(audio ? [track, audio.track] : [track]), options);
    this.#recorder = recorder;
    const startedAtUs = Math.round((performance.timeOrigin + performance.now()) * 1000);
    const fail = (err: unknown): void => {
      if (this.#failed) return;
      this.#failed = true;
      callbacks.onError(new BroadcastError("ENCODER_FAILED", `could not read MediaRecorder's output: ${err instanceof Error ? err.message : String(err)}`));
    };
    // Matroska/WebM (Chromium, Firefox): our live reader hands each frame over
    // as its block arrives. MP4 (Safari): mediabunny reads the fragments.
    const webm = mimeType.startsWith("video/mp4") ? undefined : this.#webmReader(startedAtUs, callbacks);
    // Blobs are read in order; stop() waits for the last one.
    let chain = Promise.resolve();
    recorder.ondataavailable = (event: BlobEvent) => {
      chain = chain
        .then(() => event.data.arrayBuffer())
        .then((buf) => {
          if (buf.byteLength === 0 || this.#failed) return;
          if (webm) webm.push(new Uint8Array(buf));
          else controller.enqueue(new Uint8Array(buf));
        })
        .catch(fail);
    };
    this.#ended = new Promise<void>((resolve) => {
      recorder.onstop = () => {
        void chain.then(() => {
          try {
            controller.close();
          } catch {
            // already closed
          }
          resolve();
        });
      };
    });
    recorder.onerror = () => callbacks.onError(new BroadcastError("ENCODER_FAILED", "the browser's MediaRecorder stopped"));
    // A short timeslice: MediaRecorder hands over what it has every 40 ms.
    recorder.start(40);
    if (!webm) this.#demuxed = this.#demux(stream, startedAtUs, callbacks, audio !== undefined).catch(fail);
  }

  /**
   * Stops recording and resolves once every frame recorded until now has
   * been handed over (the recorder's last blob included): nothing captured
   * before stop() is lost.
   */
  async stop(): Promise<void> {
    if (this.#recorder?.state === "recording") this.#recorder.stop();
    await Promise.race([this.#ended, new Promise((r) => setTimeout(r, 3000))]);
    await Promise.race([this.#demuxed, new Promise((r) => setTimeout(r, 3000))]);
  }

  /** A WebmLiveDemuxer whose H.264 track becomes onConfig/onChunk (avcC from CodecPrivate or the first keyframe's in-band SPS/PPS). */
  #webmReader(startedAtUs: number, callbacks: RecorderVideoCallbacks): WebmLiveDemuxer {
    let videoTrack: WebmTrack | undefined;
    let h264: H264Frames | undefined;
    return new WebmLiveDemuxer({
      onTrack: (t) => {
        if (videoTrack || !t.codecId.startsWith("V_MPEG4/ISO/AVC")) return;
        videoTrack = t;
        h264 = new H264Frames(callbacks, t.width ?? 0, t.height ?? 0);
        const p = t.codecPrivate;
        if (p && p[0] === 1 && p.length >= 4) h264.configure(avcCodecString(p.subarray(1, 4)), p);
      },
      onFrame: (f) => {
        if (!videoTrack || f.track !== videoTrack.number) return;
        const data = h264?.frame(f.data);
        if (data) callbacks.onChunk({ data, timestampUs: startedAtUs + Math.round(f.timestampMs * 1000), key: f.key });
      },
    });
  }

  async #demux(stream: ReadableStream<Uint8Array>, startedAtUs: number, callbacks: RecorderVideoCallbacks, withAudio: boolean): Promise<void> {
    // mediabunny (~270 KB) only where a recorder writes MP4: not on the WebCodecs path's download.
    const { ALL_FORMATS, EncodedPacketSink, Input, ReadableStreamSource } = await import("mediabunny");
    const input = new Input({ source: new ReadableStreamSource(stream), formats: ALL_FORMATS });
    const track = await input.getPrimaryVideoTrack();
    if (!track) throw new Error("no video track in the recording");
    const audio = withAudio ? this.#demuxAudio(input, EncodedPacketSink, startedAtUs, callbacks) : Promise.resolve();
    const config = await track.getDecoderConfig();
    const description = config?.description;
    const h264 = new H264Frames(callbacks, track.displayWidth, track.displayHeight);
    if (config && description) {
      const bytes = ArrayBuffer.isView(description) ? new Uint8Array(description.buffer, description.byteOffset, description.byteLength) : new Uint8Array(description);
      h264.configure(config.codec, bytes.slice());
    }
    // Until the recording ends (the stream closes after stop()'s last blob).
    for await (const packet of new EncodedPacketSink(track).packets()) {
      const data = h264.frame(packet.data);
      if (!data && !isAnnexB(packet.data)) throw new Error("the recording has no H.264 decoder configuration");
      if (data) callbacks.onChunk({ data, timestampUs: startedAtUs + Math.round(packet.timestamp * 1e6), key: packet.type === "key" });
    }
    await audio;
  }

  /** The AAC track of an H.264 + AAC recording, frames passed through as they are. */
  async #demuxAudio(input: Input, Sink: typeof EncodedPacketSink, startedAtUs: number, callbacks: RecorderVideoCallbacks): Promise<void> {
    const track = await input.getPrimaryAudioTrack();
    if (!track) throw new Error("no audio track in the recording");
    const config = await track.getDecoderConfig();
    const description = config?.description;
    if (!config || !description || !config.codec.startsWith("mp4a.40")) throw new Error(`the recording's audio is ${config?.codec ?? "unknown"}, not AAC with an AudioSpecificConfig`);
    const bytes = ArrayBuffer.isView(description) ? new Uint8Array(description.buffer, description.byteOffset, description.byteLength) : new Uint8Array(description);
    callbacks.onAudioConfig?.({ codec: config.codec, description: bytes.slice(), sampleRate: config.sampleRate, channels: config.numberOfChannels });
    for await (const packet of new Sink(track).packets()) {
      callbacks.onAudioChunk?.({ data: packet.data, timestampUs: startedAtUs + Math.round(packet.timestamp * 1e6) });
    }
  }
}

/** "avc1.PPCCLL" from profile_idc, the constraint flags and level_idc. */
function avcCodecString(profileCompatLevel: Uint8Array): string {
  return `avc1.${Array.from(profileCompatLevel, (b) => b.toString(16).padStart(2, "0")).join("")}`;
}

/**
 * Recorded H.264 frames as the WebCodecs path makes them (avcC +
 * length-prefixed NAL units): frames in Annex B (Chromium's MediaRecorder
 * writes start codes, in-band SPS/PPS and no CodecPrivate) are re-framed, and
 * the avcC is built from the first keyframe's parameter sets.
 */
class H264Frames {
  readonly #callbacks: RecorderVideoCallbacks;
  readonly #width: number;
  readonly #height: number;
  #configured = false;

  constructor(callbacks: RecorderVideoCallbacks, width: number, height: number) {
    this.#callbacks = callbacks;
    this.#width = width;
    this.#height = height;
  }

  configure(codec: string, description: Uint8Array): void {
    this.#callbacks.onConfig({ codec, description, width: this.#width, height: this.#height });
    this.#configured = true;
  }

  /** The frame in AVCC; undefined while no configuration is known (frames before the first keyframe with SPS/PPS). */
  frame(data: Uint8Array): Uint8Array | undefined {
    if (!isAnnexB(data)) return this.#configured ? data : undefined;
    const units = splitAnnexB(data);
    if (!this.#configured) {
      const sps = units.find((u) => (u[0]! & 0x1f) === 7);
      const pps = units.find((u) => (u[0]! & 0x1f) === 8);
      if (!sps || !pps || sps.length < 4) return undefined;
      this.configure(avcCodecString(sps.subarray(1, 4)), buildAvcC(sps, pps));
    }
    return toAvcc(units);
  }
}
