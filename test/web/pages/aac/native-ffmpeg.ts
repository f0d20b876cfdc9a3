/**
 * Node-only helpers of the AAC tests: the system's ffmpeg as an encoder job
 * runner (the command ffmpeg-runner.ts gives ffmpeg.wasm, over pipes) and
 * as the decoder that judges what was encoded.
 */
import { spawn } from "node:child_process";
import type { AacJobRunner } from "../../../../web/audio/segmented-encoder.js";
import { requireBinary } from "../../../../server/testing/system.js";

/** Runs ffmpeg with `input` on stdin; resolves with stdout. */
export function runFfmpeg(args: string[], input: Uint8Array): Promise<Uint8Array> {
  const ffmpeg = requireBinary("ffmpeg");
  return new Promise((resolve, reject) => {
    const child = spawn(ffmpeg, ["-hide_banner", "-loglevel", "error", ...args], { stdio: ["pipe", "pipe", "pipe"] });
    const out: Buffer[] = [];
    let err = "";
    child.stdout.on("data", (b: Buffer) => out.push(b));
    child.stderr.on("data", (b: Buffer) => (err += b.toString()));
    child.on("error", reject);
    child.on("close", (code) => (code === 0 ? resolve(new Uint8Array(Buffer.concat(out))) : reject(new Error(`ffmpeg ${args.join(" ")} exited ${code}: ${err}`))));
    child.stdin.on("error", () => undefined);
    child.stdin.end(input);
  });
}

/** The system's ffmpeg as AacJobRunner; counts jobs. */
export function nativeRunner(): AacJobRunner & { jobs: number } {
  const runner = {
    jobs: 0,
    run(pcm: Uint8Array, { sampleRate, channels, bitrate }: { sampleRate: number; channels: number; bitrate: number }): Promise<Uint8Array> {
      runner.jobs += 1;
      return runFfmpeg(["-f", "f32le", "-ar", String(sampleRate), "-ac", String(channels), "-i", "pipe:0", "-c:a", "aac", "-b:a", String(bitrate), "-f", "adts", "pipe:1"], pcm);
    },
    close() {},
  };
  return runner;
}

/** Decodes an ADTS stream to interleaved float32: `ffmpeg -f aac -i - -f f32le -ac C -`. */
export async function decodeAdts(adts: Uint8Array, channels: number): Promise<Float32Array> {
  const pcm = await runFfmpeg(["-f", "aac", "-i", "pipe:0", "-f", "f32le", "-ac", String(channels), "pipe:1"], adts);
  return new Float32Array(pcm.buffer.slice(pcm.byteOffset, pcm.byteOffset + pcm.byteLength));
}

/** Concatenates byte arrays. */
export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.byteLength;
  }
  return out;
}
