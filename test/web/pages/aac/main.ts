// Test page for aac-ffmpeg.test.ts: synthesises the test tone as WebCodecs
// AudioData, encodes it with the SDK's AAC encoder (ffmpeg.wasm, bundled by
// Vite and served from this page's origin), and hands the kept frames back
// to the test as one ADTS stream with their timestamps. The test decodes and
// judges them in Node.
import { createAacEncoder, createFfmpegAacEncoder, wrapAdts, type AacChunk, type AacEncoder } from "../../../../web/audio/index.js";
import { splitAdts } from "../../../../web/audio/adts.js";
import { tone, TONE_RATE } from "./analysis.js";

/** What the test asks for. */
export interface RunOptions {
  /** "auto": createAacEncoder (WebCodecs if it has AAC, else ffmpeg.wasm); "ffmpeg": force ffmpeg.wasm. */
  path: "auto" | "ffmpeg";
  seconds: number;
  channels: 1 | 2;
  /** Channels of the AudioData fed (may differ from the encoder's). */
  dataChannels: number;
  format: "f32" | "f32-planar" | "s16";
  /** Frames per AudioData. */
  piece: number;
  segmentMs: number;
  /** Timestamp of the first AudioData, microseconds. */
  firstTimestampUs: number;
}

/** What the page hands back. */
export interface RunResult {
  kind: string;
  codec: string;
  description: number[];
  webCodecsAac: boolean;
  inputSamples: number;
  /** The kept frames, each wrapped in a 7-byte ADTS header, concatenated; base64. */
  adtsBase64: string;
  timestamps: number[];
  durations: number[];
  /** ms: createAacEncoder (ffmpeg.wasm load) and first encode() to flush() resolved. */
  loadMs: number;
  encodeMs: number;
  errors: string[];
}

/** The naive segmenting the SDK must beat: each segment encoded alone, the priming frame dropped. */
export interface NaiveResult {
  adtsBase64: string;
  inputSamples: number;
  segmentFrames: number;
}

function toneData(format: RunOptions["format"], channels: number, start: number, frames: number, timestamp: number): AudioData {
  let data: Float32Array<ArrayBuffer> | Int16Array<ArrayBuffer>;
  if (format === "f32-planar") {
    data = new Float32Array(frames * channels);
    for (let ch = 0; ch < channels; ch++) for (let i = 0; i < frames; i++) data[ch * frames + i] = tone(ch, start + i);
  } else {
    // Interleaved: L0 R0 L1 R1 ...; s16 full scale is 0x7fff.
    const s16 = format === "s16";
    data = s16 ? new Int16Array(frames * channels) : new Float32Array(frames * channels);
    for (let i = 0; i < frames; i++) for (let ch = 0; ch < channels; ch++) data[i * channels + ch] = s16 ? Math.round(tone(ch, start + i) * 0x7fff) : tone(ch, start + i);
  }
  return new AudioData({ format, sampleRate: TONE_RATE, numberOfFrames: frames, numberOfChannels: channels, timestamp, data });
}

function base64(parts: Uint8Array[]): string {
  let s = "";
  for (const p of parts) for (let i = 0; i < p.length; i += 0x8000) s += String.fromCharCode(...p.subarray(i, i + 0x8000));
  return btoa(s);
}

async function run(o: RunOptions): Promise<RunResult> {
  const chunks: AacChunk[] = [];
  const errors: string[] = [];
  const config = { sampleRate: TONE_RATE, channels: o.channels, bitrate: 128_000, ffmpeg: { segmentMs: o.segmentMs } };
  const webCodecsAac = typeof AudioEncoder !== "undefined" && (await AudioEncoder.isConfigSupported({ codec: "mp4a.40.2", sampleRate: TONE_RATE, numberOfChannels: o.channels, bitrate: 128_000 }).then((s) => s.supported === true, () => false));
  const t0 = performance.now();
  const create = o.path === "auto" ? createAacEncoder : createFfmpegAacEncoder;
  const encoder: AacEncoder = await create(config, (c) => chunks.push(c), (e) => errors.push(`${(e as { code?: string }).code ?? e.name}: ${e.message}`));
  const t1 = performance.now();
  const total = Math.round(o.seconds * TONE_RATE);
  for (let start = 0; start < total; start += o.piece) {
    const frames = Math.min(o.piece, total - start);
    const data = toneData(o.format, o.dataChannels, start, frames, o.firstTimestampUs + Math.round((start * 1e6) / TONE_RATE));
    encoder.encode(data);
    data.close();
  }
  await encoder.flush();
  const t2 = performance.now();
  encoder.close();
  return {
    kind: encoder.kind,
    codec: encoder.codec,
    description: Array.from(encoder.description),
    webCodecsAac,
    inputSamples: total,
    adtsBase64: base64(chunks.map((c) => wrapAdts(c.data, { objectType: 2, sampleRate: TONE_RATE, channelConfiguration: o.channels }))),
    timestamps: chunks.map((c) => c.timestampUs),
    durations: chunks.map((c) => c.durationUs),
    loadMs: t1 - t0,
    encodeMs: t2 - t1,
    errors,
  };
}

async function runNaive(seconds: number, segmentMs: number): Promise<NaiveResult> {
  // Imported here, as index.ts does, so that ffmpeg.wasm stays out of the page's first chunk.
  const { loadFfmpegInstance } = await import("../../../../web/audio/ffmpeg-runner.js");
  const runner = await loadFfmpegInstance();
  const total = Math.round(seconds * TONE_RATE);
  const segment = Math.round((segmentMs * TONE_RATE) / 1000 / 1024) * 1024;
  const kept: Uint8Array[] = [];
  for (let start = 0; start < total; start += segment) {
    const n = Math.min(segment, total - start);
    const pcm = new Float32Array(n * 2);
    for (let i = 0; i < n; i++) for (let ch = 0; ch < 2; ch++) pcm[i * 2 + ch] = tone(ch, start + i);
    const frames = splitAdts(await runner.run(new Uint8Array(pcm.buffer), { sampleRate: TONE_RATE, channels: 2, bitrate: 128_000 }));
    for (const f of frames.slice(1, 1 + Math.ceil(n / 1024))) kept.push(wrapAdts(f.payload, { objectType: 2, sampleRate: TONE_RATE, channelConfiguration: 2 }));
  }
  runner.close();
  return { adtsBase64: base64(kept), inputSamples: total, segmentFrames: segment / 1024 };
}

/** What soak() reports. */
export interface SoakResult {
  /** Jobs that succeeded before the first failure (all of them if none failed). */
  ok: number;
  error?: string;
  ms: number;
  /** ffmpeg.wasm instances the recycling runner went through. */
  instances?: number;
}

/**
 * Runs `jobs` mono jobs of `frames` frames each through one runner:
 * recycling (what the encoder uses) or a single ffmpeg.wasm instance.
 */
async function soak(jobs: number, frames: number, recycling: boolean): Promise<SoakResult> {
  const { loadFfmpegRunner, loadFfmpegInstance } = await import("../../../../web/audio/ffmpeg-runner.js");
  const runner = recycling ? await loadFfmpegRunner() : await loadFfmpegInstance();
  const pcm = new Float32Array(frames * 1024);
  for (let i = 0; i < pcm.length; i++) pcm[i] = tone(0, i);
  const t0 = performance.now();
  let ok = 0;
  let error: string | undefined;
  for (; ok < jobs; ok++) {
    try {
      await runner.run(new Uint8Array(pcm.slice().buffer), { sampleRate: TONE_RATE, channels: 1, bitrate: 128_000 });
    } catch (err) {
      error = `${(err as { code?: string }).code ?? ""} ${err instanceof Error ? err.message : String(err)}`;
      break;
    }
  }
  const instances = (runner as { instances?: number }).instances;
  runner.close();
  return { ok, ...(error && { error }), ms: performance.now() - t0, ...(instances && { instances }) };
}

declare global {
  interface Window {
    aacTest: { run: typeof run; runNaive: typeof runNaive; soak: typeof soak };
  }
}

window.aacTest = { run, runNaive, soak };
document.getElementById("status")!.textContent = "ready";
