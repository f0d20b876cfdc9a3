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
import { ALL_FORMATS, EncodedPacketSink, Input, ReadableStreamSource } from "mediabunny";
import { buildAvcC, isAnnexB, splitAnnexB, toAvcc } from "./annexb.js";
import { BroadcastError } from "./errors.js";

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
  #stopped = false;

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
    recorder.ondataavailable = (event: BlobEvent) => {
      void event.data.arrayBuffer().then((buf) => {
        if (!this.#stopped && buf.byteLength > 0) controller.enqueue(new Uint8Array(buf));
      });
    };
    recorder.onstop = () => {
      try {
        controller.close();
      } catch {
        // already closed
      }
    };
    recorder.onerror = () => callbacks.onError(new BroadcastError("ENCODER_FAILED", "the browser's MediaRecorder stopped"));
    recorder.start(100);
    void this.#demux(stream, startedAtUs, callbacks, audio !== undefined).catch((err: unknown) => {
      if (!this.#stopped) callbacks.onError(new BroadcastError("ENCODER_FAILED", `could not read MediaRecorder's output: ${err instanceof Error ? err.message : String(err)}`));
    });
  }

  stop(): void {
    this.#stopped = true;
    if (this.#recorder?.state === "recording") this.#recorder.stop();
  }

  async #demux(stream: ReadableStream<Uint8Array>, startedAtUs: number, callbacks: RecorderVideoCallbacks, withAudio: boolean): Promise<void> {
    const input = new Input({ source: new ReadableStreamSource(stream), formats: ALL_FORMATS });
    const track = await input.getPrimaryVideoTrack();
    if (!track) throw new Error("no video track in the recording");
    const audio = withAudio ? this.#demuxAudio(input, startedAtUs, callbacks) : Promise.resolve();
    const config = await track.getDecoderConfig();
    const description = config?.description;
    let sentConfig = false;
    if (config && description) {
      const bytes = description instanceof ArrayBuffer ? new Uint8Array(description) : new Uint8Array((description as ArrayBufferView).buffer, (description as ArrayBufferView).byteOffset, (description as ArrayBufferView).byteLength);
      callbacks.onConfig({ codec: config.codec, description: bytes.slice(), width: track.displayWidth, height: track.displayHeight });
      sentConfig = true;
    }
    const sink = new EncodedPacketSink(track);
    for await (const packet of sink.packets()) {
      if (this.#stopped) break;
      let data = packet.data;
      if (isAnnexB(data)) {
        // Chromium's MediaRecorder writes Annex B with in-band SPS/PPS and no
        // CodecPrivate: build the avcC from the first keyframe's parameter sets.
        const units = splitAnnexB(data);
        if (!sentConfig) {
          const sps = units.find((u) => (u[0]! & 0x1f) === 7);
          const pps = units.find((u) => (u[0]! & 0x1f) === 8);
          if (!sps || !pps) continue; // wait for a keyframe with parameter sets
          const avcC = buildAvcC(sps, pps);
          const codec = `avc1.${[sps[1]!, sps[2]!, sps[3]!].map((b) => b.toString(16).padStart(2, "0")).join("")}`;
          callbacks.onConfig({ codec, description: avcC, width: track.displayWidth, height: track.displayHeight });
          sentConfig = true;
        }
        data = toAvcc(units);
      }
      if (!sentConfig) throw new Error("the recording has no H.264 decoder configuration");
      callbacks.onChunk({ data, timestampUs: startedAtUs + Math.round(packet.timestamp * 1e6), key: packet.type === "key" });
    }
    await audio;
  }

  /** The AAC track of an H.264 + AAC recording, frames passed through as they are. */
  async #demuxAudio(input: Input, startedAtUs: number, callbacks: RecorderVideoCallbacks): Promise<void> {
    const track = await input.getPrimaryAudioTrack();
    if (!track) throw new Error("no audio track in the recording");
    const config = await track.getDecoderConfig();
    const description = config?.description;
    if (!config || !description || !config.codec.startsWith("mp4a.40")) throw new Error(`the recording's audio is ${config?.codec ?? "unknown"}, not AAC with an AudioSpecificConfig`);
    const bytes = ArrayBuffer.isView(description) ? new Uint8Array(description.buffer, description.byteOffset, description.byteLength) : new Uint8Array(description);
    callbacks.onAudioConfig?.({ codec: config.codec, description: bytes.slice(), sampleRate: config.sampleRate, channels: config.numberOfChannels });
    for await (const packet of new EncodedPacketSink(track).packets()) {
      if (this.#stopped) break;
      callbacks.onAudioChunk?.({ data: packet.data, timestampUs: startedAtUs + Math.round(packet.timestamp * 1e6) });
    }
  }
}
