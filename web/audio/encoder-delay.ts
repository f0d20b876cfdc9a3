/**
 * How late a platform AAC encoder puts the sound against the timestamps it
 * gives its chunks, measured in the page before going live.
 *
 * An AAC encoder starts with priming: its first frames carry its MDCT's
 * start-up and lookahead, so the sound that went in at time t comes out of a
 * decoder some frames after the chunk stamped t. MP4 has an edit list to say
 * so; FLV has nothing, and RTMP ingests and players decode every sample. So
 * each encoder has to stamp its chunks that much early. golive's wasm
 * encoder knows its own delay (one frame, like FFmpeg's); WebCodecs'
 * AudioEncoder stamps its chunks with the input's timestamps and tells
 * nothing of its delay, which differs per platform (measured: WebKitGTK's
 * GStreamer encoder, 1600 frames = 33 ms at 48 kHz).
 *
 * The measurement: encode a Hann-windowed chirp placed at a known frame in
 * silence with the same configuration, decode it with the platform's
 * decoder, and find the chirp in the decoded samples by cross-correlation.
 * It counts only when the decoder gave back every sample (one frame of 1024
 * per chunk, as FFmpeg's decoder does at the ingest): a decoder that trims
 * priming itself would hide what the ingest will hear.
 */
import { AAC_FRAME_SAMPLES, readAudioSpecificConfig } from "./aac-config.js";
import { wrapAdts } from "./adts.js";

/** Where the chirp starts in the calibration signal, frames. */
export const CHIRP_AT = 4 * AAC_FRAME_SAMPLES;
/** The chirp's length, frames. */
export const CHIRP_FRAMES = 2048;
/** Longest delay looked for, frames (Apple's encoders: 2112; FDK's: up to 2048 + lookahead). */
export const MAX_DELAY_FRAMES = 4 * AAC_FRAME_SAMPLES;

/**
 * The calibration signal at `sampleRate`: silence, a Hann-windowed linear
 * chirp from 300 Hz to 3 kHz (well inside AAC-LC's band at any bitrate) at
 * CHIRP_AT, then silence to a whole number of AAC frames that covers the
 * longest delay looked for.
 */
export function calibrationSignal(sampleRate: number): Float32Array {
  const total = Math.ceil((CHIRP_AT + CHIRP_FRAMES + MAX_DELAY_FRAMES + AAC_FRAME_SAMPLES) / AAC_FRAME_SAMPLES) * AAC_FRAME_SAMPLES;
  const out = new Float32Array(total);
  const f0 = 300;
  const f1 = 3000;
  const duration = CHIRP_FRAMES / sampleRate;
  for (let n = 0; n < CHIRP_FRAMES; n++) {
    const t = n / sampleRate;
    const window = 0.5 - 0.5 * Math.cos((2 * Math.PI * n) / (CHIRP_FRAMES - 1));
    out[CHIRP_AT + n] = 0.5 * window * Math.sin(2 * Math.PI * (f0 * t + ((f1 - f0) * t * t) / (2 * duration)));
  }
  return out;
}

/**
 * Where the chirp of `signal` is in `decoded` against where it went in,
 * frames (0..MAX_DELAY_FRAMES), or undefined when no lag matches well (a
 * normalised correlation under 0.5: not this signal, or too distorted).
 */
export function findDelay(signal: Float32Array, decoded: Float32Array): number | undefined {
  const chirp = signal.subarray(CHIRP_AT, CHIRP_AT + CHIRP_FRAMES);
  let chirpEnergy = 0;
  for (const v of chirp) chirpEnergy += v * v;
  let best: { lag: number; score: number } | undefined;
  for (let lag = 0; lag <= MAX_DELAY_FRAMES; lag++) {
    const at = CHIRP_AT + lag;
    if (at + CHIRP_FRAMES > decoded.length) break;
    let dot = 0;
    let energy = 0;
    for (let n = 0; n < CHIRP_FRAMES; n++) {
      const d = decoded[at + n]!;
      dot += d * chirp[n]!;
      energy += d * d;
    }
    const score = energy > 0 ? dot / Math.sqrt(energy * chirpEnergy) : 0;
    if (!best || score > best.score) best = { lag, score };
  }
  return best && best.score >= 0.5 ? best.lag : undefined;
}

/**
 * Measures the delay of the platform encoder `config` describes, frames, or
 * undefined when it cannot be measured here (no OfflineAudioContext, a
 * decoder that trims or resamples, an error, or no answer within
 * `timeoutMs`).
 *
 * The chunks are decoded by WebAudio's decodeAudioData, as ADTS, in an
 * OfflineAudioContext at the encoder's rate (so nothing is resampled):
 * WebCodecs' AudioDecoder would do, but in WebKitGTK 2.50 AudioData.copyTo()
 * on its output kills the page.
 */
export async function measureWebCodecsAacDelay(config: AudioEncoderConfig, timeoutMs = 2000): Promise<number | undefined> {
  if (typeof AudioEncoder === "undefined" || typeof OfflineAudioContext === "undefined") return undefined;
  let encoder: AudioEncoder | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timedOut = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), timeoutMs)));
  const measure = async (): Promise<number | undefined> => {
    const rate = config.sampleRate;
    const channels = config.numberOfChannels;
    const signal = calibrationSignal(rate);
    const chunks: Uint8Array[] = [];
    let description: AllowSharedBufferSource | undefined;
    let failed = false;
    encoder = new AudioEncoder({
      output: (chunk, metadata) => {
        description ??= metadata?.decoderConfig?.description;
        const data = new Uint8Array(chunk.byteLength);
        chunk.copyTo(data);
        chunks.push(data);
      },
      error: () => (failed = true),
    });
    encoder.configure(config);
    for (let at = 0; at < signal.length; at += AAC_FRAME_SAMPLES) {
      const planar = new Float32Array(AAC_FRAME_SAMPLES * channels);
      for (let ch = 0; ch < channels; ch++) planar.set(signal.subarray(at, at + AAC_FRAME_SAMPLES), ch * AAC_FRAME_SAMPLES);
      const data = new AudioData({ format: "f32-planar", sampleRate: rate, numberOfChannels: channels, numberOfFrames: AAC_FRAME_SAMPLES, timestamp: Math.round((at * 1e6) / rate), data: planar });
      encoder.encode(data);
      data.close();
    }
    await encoder.flush();
    if (failed || chunks.length === 0) return undefined;
    const asc = description ? readAudioSpecificConfig(bytesOf(description)) : { objectType: 2, sampleRate: rate, channelConfiguration: channels };
    const adts = chunks.map((c) => wrapAdts(c, asc));
    const stream = new Uint8Array(adts.reduce((n, a) => n + a.length, 0));
    let at = 0;
    for (const a of adts) {
      stream.set(a, at);
      at += a.length;
    }
    const decoded = await new OfflineAudioContext(1, AAC_FRAME_SAMPLES, rate).decodeAudioData(stream.buffer);
    // Every sample back at the encoder's rate, and no more: what FFmpeg's decoder gives at the ingest.
    if (decoded.sampleRate !== rate || decoded.length !== chunks.length * AAC_FRAME_SAMPLES) return undefined;
    return findDelay(signal, decoded.getChannelData(0));
  };
  try {
    return await Promise.race([measure().catch(() => undefined), timedOut]);
  } finally {
    clearTimeout(timer);
    if (encoder && encoder.state !== "closed") encoder.close();
  }
}

function bytesOf(source: AllowSharedBufferSource): Uint8Array {
  return ArrayBuffer.isView(source) ? new Uint8Array(source.buffer, source.byteOffset, source.byteLength) : new Uint8Array(source);
}
