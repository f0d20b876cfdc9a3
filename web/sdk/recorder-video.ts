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
    let sentConfig = false;
    return new WebmLiveDemuxer({
      onTrack: (t) => {
        if (videoTrack || !t.codecId.startsWith("V_MPEG4/ISO/AVC")) return;
        videoTrack = t;
        if (t.codecPrivate && t.codecPrivate[0] === 1 && t.codecPrivate.length >= 4) {
          const p = t.codecPrivate;
          const codec = `avc1.${[p[1]!, p[2]!, p[3]!].map((b) => b.toString(16).padStart(2, "0")).join("")}`;
          callbacks.onConfig({ codec, description: p, width: t.width ?? 0, height: t.height ?? 0 });
          sentConfig = true;
        }
      },
      onFrame: (f) => {
        if (!videoTrack || f.track !== videoTrack.number) return;
        let data = f.data;
        if (isAnnexB(data)) {
          const units = splitAnnexB(data);
          if (!sentConfig) {
            const sps = units.find((u) => (u[0]! & 0x1f) === 7);
            const pps = units.find((u) => (u[0]! & 0x1f) === 8);
            if (!sps || !pps) return; // wait for a keyframe with parameter sets
            const codec = `avc1.${[sps[1]!, sps[2]!, sps[3]!].map((b) => b.toString(16).padStart(2, "0")).join("")}`;
            callbacks.onConfig({ codec, description: buildAvcC(sps, pps), width: videoTrack.width ?? 0, height: videoTrack.height ?? 0 });
            sentConfig = true;
          }
          data = toAvcc(units);
        }
        if (!sentConfig) return;
        callbacks.onChunk({ data, timestampUs: startedAtUs + Math.round(f.timestampMs * 1000), key: f.key });
      },
    });
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
    // Until the recording ends (the stream closes after stop()'s last blob).
    for await (const packet of sink.packets()) {
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
      callbacks.onAudioChunk?.({ data: packet.data, timestampUs: startedAtUs + Math.round(packet.timestamp * 1e6) });
    }
  }
}
