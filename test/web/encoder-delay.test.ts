/**
 * The measurement behind a platform AAC encoder's delay (web/audio/encoder-delay.ts),
 * on real encoders whose delay is known: FFmpeg's native AAC encoder
 * (initial_padding: 1024 frames) and golive's wasm encoder (one frame, like
 * FFmpeg's), each decoded by FFmpeg as an ingest would. The browser half
 * (WebCodecs AudioEncoder + AudioDecoder) is exercised in WebKitGTK by the
 * engines e2e tests.
 */
import { execFileSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { createAacWasmEncoder } from "../../wasm/host/aac-encoder.js";
import { wrapAdts } from "../../web/audio/adts.js";
import { calibrationSignal, CHIRP_AT, findDelay, MAX_DELAY_FRAMES } from "../../web/audio/encoder-delay.js";
import { requireBinary } from "../../server/testing/system.js";

const RATE = 48000;

/** FFmpeg's decode of ADTS to mono float32, every sample (no priming skipped: ADTS does not say). */
function decodeAdts(adts: Uint8Array): Float32Array {
  const pcm = execFileSync(requireBinary("ffmpeg"), ["-v", "error", "-f", "aac", "-i", "-", "-f", "f32le", "-ac", "1", "-"], { input: adts });
  return new Float32Array(pcm.buffer.slice(pcm.byteOffset, pcm.byteOffset + pcm.length));
}

describe("measuring an AAC encoder's delay", () => {
  const signal = calibrationSignal(RATE);

  it("the signal: whole AAC frames, silent but for the chirp, long enough for the longest delay looked for", () => {
    expect(signal.length % 1024).toBe(0);
    expect(signal.length).toBeGreaterThanOrEqual(CHIRP_AT + 2048 + MAX_DELAY_FRAMES);
    expect(signal.subarray(0, CHIRP_AT).every((v) => v === 0)).toBe(true);
    expect(Math.max(...signal.map(Math.abs))).toBeGreaterThan(0.3);
  });

  it("finds a delayed copy to the frame, through noise; nothing where the chirp is absent", () => {
    for (const delay of [0, 1, 1024, 1600, 2112, MAX_DELAY_FRAMES]) {
      const decoded = new Float32Array(signal.length + MAX_DELAY_FRAMES);
      let seed = 7;
      for (let i = 0; i < decoded.length; i++) {
        seed = (seed * 1103515245 + 12345) % 2 ** 31;
        decoded[i] = (i >= delay ? signal[i - delay] ?? 0 : 0) * 0.8 + (seed / 2 ** 31 - 0.5) * 0.05;
      }
      expect(findDelay(signal, decoded), `delay ${delay}`).toBe(delay);
    }
    expect(findDelay(signal, new Float32Array(signal.length + MAX_DELAY_FRAMES))).toBeUndefined();
    const tone = new Float32Array(signal.length + MAX_DELAY_FRAMES).map((_, i) => 0.3 * Math.sin((2 * Math.PI * 440 * i) / RATE));
    expect(findDelay(signal, tone)).toBeUndefined();
  });

  it("FFmpeg's AAC encoder: 1024 frames (its initial_padding), at 64 and 128 kbit/s", () => {
    for (const bitrate of ["64k", "128k"]) {
      const stereo = new Float32Array(signal.length * 2);
      signal.forEach((v, i) => stereo.set([v, v], i * 2));
      const adts = execFileSync(requireBinary("ffmpeg"), ["-v", "error", "-f", "f32le", "-ar", String(RATE), "-ac", "2", "-i", "-", "-c:a", "aac", "-b:a", bitrate, "-f", "adts", "-"], { input: Buffer.from(stereo.buffer) });
      expect(findDelay(signal, decodeAdts(adts)), bitrate).toBe(1024);
    }
  });

  it("golive's wasm encoder: 1024 frames, the one frame its timestamps account for", async () => {
    const encoder = await createAacWasmEncoder({ sampleRate: RATE, channels: 2, bitrate: 128_000 });
    const frames = [...encoder.encode([signal, signal]), ...encoder.flush()];
    encoder.close();
    const adts = Buffer.concat(frames.map((f) => wrapAdts(f, { objectType: 2, sampleRate: RATE, channelConfiguration: 2 })));
    expect(findDelay(signal, decodeAdts(adts))).toBe(1024);
  });
});
