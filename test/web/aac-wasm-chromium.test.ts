// Frames of golive's AAC encoder decode in Chromium's own AudioDecoder (the
// decoder a viewer's browser would use on an HLS/DASH rendition of the
// stream): every frame out, no error, and the sound that comes back is the
// sound that went in.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser } from "playwright-core";
import { createAacWasmEncoder, type AacEncodeConfig } from "../../wasm/host/aac-encoder.js";
import { launchChromium } from "../support/browser.js";
import { serveStatic, type StaticServer } from "../support/static-server.js";

interface Decoded {
  error: string | null;
  outputs: number;
  /** Channel 0, all outputs joined. */
  samples: number[];
}

describe("golive's AAC in Chromium's AudioDecoder", () => {
  let dir: string;
  let server: StaticServer;
  let browser: Browser;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "golive-aacdec-"));
    await writeFile(join(dir, "index.html"), "<!doctype html><title>decode</title>");
    server = await serveStatic(dir);
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it.each([
    { sampleRate: 48000, channels: 2, bitrate: 128000 },
    { sampleRate: 44100, channels: 1, bitrate: 64000 },
  ] as AacEncodeConfig[])("$sampleRate Hz, $channels channel(s), $bitrate bit/s: every frame decodes, the tones come back", async (config) => {
    const n = config.sampleRate * 2;
    const tone = Float32Array.from({ length: n }, (_, i) => 0.4 * Math.sin((2 * Math.PI * 660 * i) / config.sampleRate) + 0.1 * Math.sin((2 * Math.PI * 3100 * i) / config.sampleRate) * Math.sin((2 * Math.PI * 3 * i) / config.sampleRate));
    const encoder = await createAacWasmEncoder(config);
    const frames = [...encoder.encode(Array.from({ length: config.channels }, () => tone)), ...encoder.flush()];
    const page = await browser.newPage();
    await page.goto(server.url);
    const decoded = await page.evaluate(
      async ({ frames, description, sampleRate, numberOfChannels }): Promise<Decoded> => {
        const samples: number[] = [];
        let outputs = 0;
        let error: string | null = null;
        const decoder = new AudioDecoder({
          output: (data) => {
            outputs++;
            const plane = new Float32Array(data.numberOfFrames);
            data.copyTo(plane, { planeIndex: 0, format: "f32-planar" });
            for (const v of plane) samples.push(v);
            data.close();
          },
          error: (e) => {
            error = e.message;
          },
        });
        decoder.configure({ codec: "mp4a.40.2", sampleRate, numberOfChannels, description: new Uint8Array(description) });
        frames.forEach((f, i) => decoder.decode(new EncodedAudioChunk({ type: "key", timestamp: Math.round((i * 1024 * 1e6) / sampleRate), data: new Uint8Array(f) })));
        await decoder.flush().catch((e: Error) => {
          error ??= e.message;
        });
        return { error, outputs, samples };
      },
      { frames: frames.map((f) => Array.from(f)), description: Array.from(encoder.audioSpecificConfig), sampleRate: config.sampleRate, numberOfChannels: config.channels },
    );
    await page.close();
    expect(decoded.error).toBeNull();
    expect(decoded.outputs).toBe(frames.length);
    // Frame k decodes to the input from sample (k - 1) * 1024: the first frame is priming.
    const out = decoded.samples.slice(1024);
    let s = 0;
    let e = 0;
    for (let i = config.sampleRate / 4; i < n - 2048; i++) {
      s += tone[i]! ** 2;
      e += (tone[i]! - out[i]!) ** 2;
    }
    expect(10 * Math.log10(s / e)).toBeGreaterThan(30);
  });
});
