// golive's AAC-LC encoder (wasm/assembly/aac) in Node: its bitstream is
// decoded by FFmpeg's AAC decoder (`-v error` must print nothing) and what
// comes out is compared with what went in; the Huffman books are checked as
// codes and, one by one, through the decoder; the rate control, the block
// switching and the behaviour on silence, clipping and NaN are measured.
import { describe, expect, it } from "vitest";
import { execFile } from "node:child_process";
import { readFile, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { AacWasmError, createAacWasmEncoder, type AacEncodeConfig, type AacWasmEncoder } from "../../wasm/host/aac-encoder.js";
import { wrapAdts } from "../../web/audio/adts.js";
import { musicLike } from "../../bench/signals.js";

const run = promisify(execFile);

interface Encoded {
  frames: Uint8Array[];
  sequences: number[];
  encoder: AacWasmEncoder;
}

/** Encodes `planes` in blocks of `block` samples (as a browser would deliver them). */
async function encode(config: AacEncodeConfig, planes: Float32Array[], opts: { block?: number; forceBook?: number } = {}): Promise<Encoded> {
  const encoder = await createAacWasmEncoder(config);
  if (opts.forceBook) encoder.testForceBook(opts.forceBook);
  const block = opts.block ?? 480;
  const frames: Uint8Array[] = [];
  const sequences: number[] = [];
  for (let at = 0; at < planes[0]!.length; at += block) {
    for (const f of encoder.encode(planes.map((p) => p.subarray(at, at + block)))) {
      frames.push(f);
      sequences.push(encoder.lastWindowSequence);
    }
  }
  for (const f of encoder.flush()) {
    frames.push(f);
    sequences.push(encoder.lastWindowSequence);
  }
  return { frames, sequences, encoder };
}

/** FFmpeg's decode of the frames (as ADTS), planar, with the priming frame removed; stderr must be empty. */
async function decode(config: AacEncodeConfig, frames: Uint8Array[]): Promise<{ planes: Float32Array[]; stderr: string }> {
  const dir = await mkdtemp(join(tmpdir(), "golive-aac-"));
  try {
    const file = join(dir, "a.aac");
    await writeFile(file, Buffer.concat(frames.map((f) => wrapAdts(f, { objectType: 2, sampleRate: config.sampleRate, channelConfiguration: config.channels }))));
    const { stderr } = await run("ffmpeg", ["-v", "error", "-nostdin", "-f", "aac", "-i", file, "-f", "f32le", "-y", join(dir, "out.raw")], { maxBuffer: 1 << 26 });
    const raw = await readFile(join(dir, "out.raw"));
    const all = new Float32Array(raw.buffer, raw.byteOffset, raw.byteLength / 4);
    const n = all.length / config.channels - 1024;
    const planes = Array.from({ length: config.channels }, (_, c) => Float32Array.from({ length: Math.max(0, n) }, (_, i) => all[(i + 1024) * config.channels + c]!));
    return { planes, stderr };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** `planes` through `ffmpeg -c:a aac` at the config's bitrate and back (FFmpeg's delay left in). */
async function ffmpegAac(config: AacEncodeConfig, planes: Float32Array[]): Promise<Float32Array[]> {
  const dir = await mkdtemp(join(tmpdir(), "golive-aac-ref-"));
  try {
    const n = planes[0]!.length;
    const inter = new Float32Array(n * config.channels);
    for (let i = 0; i < n; i++) for (let c = 0; c < config.channels; c++) inter[i * config.channels + c] = planes[c]![i]!;
    await writeFile(join(dir, "in.raw"), inter);
    const fmt = ["-f", "f32le", "-ar", String(config.sampleRate), "-ac", String(config.channels)];
    await run("ffmpeg", ["-v", "error", "-nostdin", ...fmt, "-i", join(dir, "in.raw"), "-c:a", "aac", "-b:a", String(config.bitrate), "-f", "adts", join(dir, "ref.aac")]);
    await run("ffmpeg", ["-v", "error", "-nostdin", "-i", join(dir, "ref.aac"), "-f", "f32le", join(dir, "ref.raw")]);
    const raw = await readFile(join(dir, "ref.raw"));
    const all = new Float32Array(raw.buffer, raw.byteOffset, raw.byteLength / 4);
    return Array.from({ length: config.channels }, (_, c) => Float32Array.from({ length: all.length / config.channels }, (_, i) => all[i * config.channels + c]!));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** SNR of `out` against `ref` over [from, to), dB. */
function snr(ref: Float32Array, out: Float32Array, from = 2048, to = ref.length - 2048): number {
  let s = 0;
  let e = 0;
  for (let i = from; i < to; i++) {
    s += ref[i]! ** 2;
    e += (ref[i]! - (out[i] ?? 0)) ** 2;
  }
  return 10 * Math.log10(s / e);
}

const sine = (n: number, rate: number, f: number, a: number): Float32Array => Float32Array.from({ length: n }, (_, i) => a * Math.sin((2 * Math.PI * f * i) / rate));

describe("AAC-LC encoder (wasm)", () => {
  it("says what it makes: mp4a.40.2 and the AudioSpecificConfig of its rate and channels", async () => {
    expect((await createAacWasmEncoder({ sampleRate: 48000, channels: 2, bitrate: 128000 })).audioSpecificConfig).toEqual(new Uint8Array([0x11, 0x90]));
    expect((await createAacWasmEncoder({ sampleRate: 44100, channels: 1, bitrate: 64000 })).audioSpecificConfig).toEqual(new Uint8Array([0x12, 0x08]));
  });

  it("refuses what it cannot encode with a typed error", async () => {
    for (const config of [
      { sampleRate: 32000, channels: 2, bitrate: 128000 },
      { sampleRate: 48000, channels: 3, bitrate: 128000 },
      { sampleRate: 48000, channels: 1, bitrate: 4000 },
      { sampleRate: 48000, channels: 1, bitrate: 400000 },
      { sampleRate: 48000, channels: 2, bitrate: 1.5 },
    ] as AacEncodeConfig[]) {
      await expect(createAacWasmEncoder(config)).rejects.toMatchObject({ name: "AacWasmError", code: "AAC_WASM_CONFIG" });
    }
    const enc = await createAacWasmEncoder({ sampleRate: 48000, channels: 1, bitrate: 64000 });
    enc.close();
    expect(() => enc.encode([new Float32Array(10)])).toThrow(AacWasmError);
  });

  it("half a frame of lookahead: frame k leaves once input reaches (k + 1) * 1024 + 512", async () => {
    const enc = await createAacWasmEncoder({ sampleRate: 48000, channels: 2, bitrate: 128000 });
    const x = sine(4096, 48000, 440, 0.3);
    expect(enc.encode([x.subarray(0, 1535), x.subarray(0, 1535)])).toHaveLength(0);
    expect(enc.encode([x.subarray(1535, 1536), x.subarray(1535, 1536)])).toHaveLength(1);
    expect(enc.encode([x.subarray(1536, 2559), x.subarray(1536, 2559)])).toHaveLength(0);
    expect(enc.encode([x.subarray(2559, 2560), x.subarray(2559, 2560)])).toHaveLength(1);
  });

  it("a frame per 1024 samples; flush() returns the rest, one more than the input's frames", async () => {
    const enc = await createAacWasmEncoder({ sampleRate: 48000, channels: 1, bitrate: 64000 });
    const x = sine(1024 * 5 + 100, 48000, 440, 0.3);
    expect(enc.encode([x.subarray(0, 1024)])).toHaveLength(0);
    expect(enc.encode([x.subarray(1024, 2048)])).toHaveLength(1);
    expect(enc.encode([x.subarray(2048, 2048 + 1500)])).toHaveLength(1);
    expect(enc.encode([x.subarray(2048 + 1500)])).toHaveLength(2);
    expect(enc.flush()).toHaveLength(7 - 4);
    expect(enc.framesOut).toBe(7);
  });

  it("the bitstream's first fields: a CPE with a common window for stereo, an SCE for mono, then END", async () => {
    for (const channels of [1, 2] as const) {
      const { frames, sequences } = await encode({ sampleRate: 48000, channels, bitrate: 64000 * channels }, Array.from({ length: channels }, () => sine(48000, 48000, 1000, 0.3)));
      const f = frames[10]!;
      expect(f[0]! >> 5, "id_syn_ele").toBe(channels === 1 ? 0 : 1);
      expect((f[0]! >> 1) & 0xf, "element_instance_tag").toBe(0);
      if (channels === 2) {
        expect(f[0]! & 1, "common_window").toBe(1);
        expect(f[1]! >> 7, "ics_reserved_bit").toBe(0);
        expect((f[1]! >> 5) & 3, "window_sequence").toBe(sequences[10]);
        expect((f[1]! >> 4) & 1, "window_shape (sine)").toBe(0);
      }
    }
  });

  it("a 1 kHz tone comes back at > 50 dB SNR (48 kHz mono 64 kbit/s, 44.1 kHz stereo 128 kbit/s)", async () => {
    for (const config of [
      { sampleRate: 48000, channels: 1, bitrate: 64000 },
      { sampleRate: 44100, channels: 2, bitrate: 128000 },
    ] as AacEncodeConfig[]) {
      const input = Array.from({ length: config.channels }, (_, c) => sine(config.sampleRate * 2, config.sampleRate, 1000 + 500 * c, 0.5));
      const { frames } = await encode(config, input);
      const { planes, stderr } = await decode(config, frames);
      expect(stderr).toBe("");
      // From 0.25 s: the rate control starts at a neutral offset and settles within a few frames.
      for (let c = 0; c < config.channels; c++) expect(snr(input[c]!, planes[c]!, config.sampleRate / 4)).toBeGreaterThan(50);
    }
  });

  it("a music-like mix (tones, noise, clicks) decodes cleanly and follows the input (SNR >= 10 dB; the perceptual comparison with FFmpeg is bench:aac's)", async () => {
    // SNR is not what the encoder optimises (it spends bits by noise-to-mask ratio, so noisy
    // high bands get as much care as loud low ones); it is a floor that catches a broken stream.
    for (const config of [
      { sampleRate: 48000, channels: 2, bitrate: 128000 },
      { sampleRate: 44100, channels: 1, bitrate: 64000 },
    ] as AacEncodeConfig[]) {
      const input = Array.from({ length: config.channels }, (_, c) => musicLike(config.sampleRate * 3, config.sampleRate, 1 + c));
      const { frames } = await encode(config, input);
      const { planes, stderr } = await decode(config, frames);
      expect(stderr).toBe("");
      for (let c = 0; c < config.channels; c++) expect(snr(input[c]!, planes[c]!), `${JSON.stringify(config)} channel ${c}`).toBeGreaterThan(10);
    }
    // FFmpeg's own encoder on the same input, through the same decode and SNR, as a reference point.
    const reference = await ffmpegAac({ sampleRate: 48000, channels: 1, bitrate: 64000 }, [musicLike(48000 * 3, 48000, 1)]);
    expect(Math.max(...[0, 1024, 2048].map((lag) => snr(musicLike(48000 * 3, 48000, 1), reference[0]!.subarray(lag))))).toBeGreaterThan(10);
  });

  it("holds its bitrate: 10 s within 5 % of the target, no frame over 6144 bits per channel", async () => {
    for (const config of [
      { sampleRate: 48000, channels: 2, bitrate: 128000 },
      { sampleRate: 44100, channels: 1, bitrate: 64000 },
      { sampleRate: 48000, channels: 2, bitrate: 256000 },
    ] as AacEncodeConfig[]) {
      const n = config.sampleRate * 10;
      const input = Array.from({ length: config.channels }, (_, c) => musicLike(n, config.sampleRate, 7 + c));
      const { frames } = await encode(config, input);
      const bits = frames.reduce((s, f) => s + f.length * 8, 0);
      const seconds = (frames.length * 1024) / config.sampleRate;
      expect(Math.abs(bits / seconds / config.bitrate - 1), JSON.stringify(config)).toBeLessThan(0.05);
      for (const f of frames) expect(f.length * 8).toBeLessThanOrEqual(6144 * config.channels);
      const { stderr } = await decode(config, frames);
      expect(stderr).toBe("");
    }
  });

  it("switches to short blocks on transients: START before, EIGHT_SHORT at, STOP after each click; long blocks on a steady tone", async () => {
    const rate = 48000;
    const n = rate * 3;
    const x = new Float32Array(n);
    const clicks = [0.5, 1.25, 2.0].map((t) => Math.round(t * rate));
    for (const at of clicks) for (let i = 0; i < 32; i++) x[at + i]! += 0.8 * (i % 2 ? 1 : -1) * Math.exp(-i / 8);
    const { frames, sequences } = await encode({ sampleRate: rate, channels: 1, bitrate: 96000 }, [x]);
    for (const at of clicks) {
      // Frame k decodes to samples from (k - 1) * 1024: the click is in frame k = floor(at / 1024) + 1 or its neighbour.
      const k = Math.floor(at / 1024) + 1;
      const around = sequences.slice(k - 2, k + 3);
      expect(around, `sequences around the click at ${at}`).toContain(2);
      const first = sequences.indexOf(2, k - 2);
      expect(sequences[first - 1], "LONG_START before the short blocks").toBe(1);
      let last = first;
      while (sequences[last + 1] === 2) last++;
      expect(sequences[last + 1], "LONG_STOP after them").toBe(3);
    }
    // A click into silence is an attack and then a sound that stops dead: up to four short blocks each.
    expect(sequences.filter((s) => s === 2).length).toBeLessThanOrEqual(clicks.length * 4);
    const { planes, stderr } = await decode({ sampleRate: rate, channels: 1, bitrate: 96000 }, frames);
    expect(stderr).toBe("");
    // Little pre-echo: before the short window holding a click (256 samples) the decoded sound,
    // where the input is silent, stays 40 dB under the click; a long block would spread its
    // quantisation noise up to 1024 samples before it.
    for (const at of clicks) {
      let echo = 0;
      let click = 0;
      for (let i = at - 1024; i < at - 256; i++) echo += planes[0]![i]! ** 2;
      for (let i = at; i < at + 32; i++) click += x[i]! ** 2;
      expect(10 * Math.log10(click / echo), `pre-echo before ${at}`).toBeGreaterThan(40);
    }
    // A soft click on a loud low tone (the tone 10 dB above the click's energy): still a transient.
    const loud = sine(n, rate, 660, 0.4);
    for (let i = 0; i < 24; i++) loud[30000 + i]! += 0.5 * Math.exp(-i / 6);
    const onTone = await encode({ sampleRate: rate, channels: 1, bitrate: 64000 }, [loud]);
    const k = Math.floor(30000 / 1024) + 1;
    expect(onTone.sequences.slice(k - 2, k + 3), "sequences around a click on a loud tone").toContain(2);
    const steady = await encode({ sampleRate: rate, channels: 1, bitrate: 96000 }, [sine(n, rate, 440, 0.3)]);
    // (The last frames are flush()'s silence after the tone: a sound that stops dead.)
    expect(steady.sequences.slice(2, -4).every((s) => s === 0)).toBe(true);
  });

  it("every Huffman book codes a real stream: each of books 1-11 alone decodes cleanly and follows the input", async () => {
    const config: AacEncodeConfig = { sampleRate: 48000, channels: 1, bitrate: 128000 };
    const input = [musicLike(48000, 48000, 3)];
    // With values limited to the book's range the coarser books cannot reach a high SNR; a wrong
    // codeword would desynchronise the decoder (errors, or output unrelated to the input).
    const floor: Record<number, number> = { 1: 0.5, 2: 0.5, 3: 2, 4: 2, 5: 4, 6: 4, 7: 8, 8: 8, 9: 10, 10: 10, 11: 14 };
    for (let cb = 1; cb <= 11; cb++) {
      const { frames } = await encode(config, input, { forceBook: cb });
      const { planes, stderr } = await decode(config, frames);
      expect(stderr, `book ${cb}`).toBe("");
      expect(snr(input[0]!, planes[0]!), `book ${cb}`).toBeGreaterThan(floor[cb]!);
    }
  });

  it("silence, full-scale clipping and NaN/Inf give valid frames, never garbage", async () => {
    const config: AacEncodeConfig = { sampleRate: 48000, channels: 2, bitrate: 128000 };
    const n = 48000;
    const silent = [new Float32Array(n), new Float32Array(n)];
    const square = Float32Array.from({ length: n }, (_, i) => (Math.floor(i / 60) % 2 ? 1.7 : -1.7));
    const broken = sine(n, 48000, 440, 0.5);
    for (let i = 0; i < n; i += 97) broken[i] = [NaN, Infinity, -Infinity][i % 3]!;
    for (const [name, input, check] of [
      ["silence", silent, (p: Float32Array[]) => expect(Math.max(...p[0]!.map(Math.abs))).toBe(0)],
      ["a square wave at 1.7x full scale", [square, square], (p: Float32Array[]) => expect(snr(square.map((v) => Math.sign(v)), p[0]!)).toBeGreaterThan(10)],
      ["a tone with NaN and infinities", [broken, broken], (p: Float32Array[]) => expect(snr(broken.map((v) => (Number.isFinite(v) ? v : 0)), p[1]!)).toBeGreaterThan(15)],
    ] as const) {
      const { frames, encoder } = await encode(config, input as Float32Array[]);
      const { planes, stderr } = await decode(config, frames);
      expect(stderr, name).toBe("");
      check(planes);
      if (name.includes("NaN")) expect(encoder.nonFiniteSamples).toBe(2 * Math.ceil(n / 97));
      if (name.includes("square")) expect(encoder.clippedSamples).toBe(2 * n);
    }
  });
});

describe("Huffman books (ISO/IEC 14496-3 Tables 4.A.1-4.A.12) as written in wasm/assembly/aac/huffman-tables.ts", async () => {
  const text = await readFile(new URL("../../wasm/assembly/aac/huffman-tables.ts", import.meta.url), "utf8");
  const arrays = new Map<string, number[]>();
  for (const m of text.matchAll(/export const (\w+): StaticArray<\w+> = \[([^\]]*)\]/g)) arrays.set(m[1]!, m[2]!.split(",").map((v) => v.trim()).filter(Boolean).map(Number));
  const sizes: Record<string, number> = { SF: 121, HCB1: 81, HCB2: 81, HCB3: 81, HCB4: 81, HCB5: 81, HCB6: 81, HCB7: 64, HCB8: 64, HCB9: 169, HCB10: 169, HCB11: 289 };

  it.each(Object.keys(sizes))("%s: the standard's size, a complete prefix code (Kraft sum exactly 1), no codeword a prefix of another", (name) => {
    const lens = arrays.get(`${name}_LEN`)!;
    const codes = arrays.get(`${name}_CODE`)!;
    expect(lens).toHaveLength(sizes[name]!);
    expect(codes).toHaveLength(sizes[name]!);
    // Exact Kraft sum in integers: sum of 2^(maxLen - len) == 2^maxLen.
    const max = Math.max(...lens);
    expect(lens.reduce((s, l) => s + 2 ** (max - l), 0)).toBe(2 ** max);
    const words = lens.map((l, i) => {
      expect(codes[i]!).toBeLessThan(2 ** l);
      return codes[i]!.toString(2).padStart(l, "0");
    });
    const sorted = [...words].sort();
    for (let i = 1; i < sorted.length; i++) expect(sorted[i]!.startsWith(sorted[i - 1]!), `${sorted[i - 1]} prefixes ${sorted[i]}`).toBe(false);
  });

  it("spot values of the standard: scalefactor difference 0 is '0', +1 is '1010'; book 1's (0,0,0,0) is '0'; book 11's escape pair (16,16) is 5 bits", () => {
    expect([arrays.get("SF_LEN")![60], arrays.get("SF_CODE")![60]]).toEqual([1, 0]);
    expect([arrays.get("SF_LEN")![61], arrays.get("SF_CODE")![61]]).toEqual([4, 0b1010]);
    expect([arrays.get("HCB1_LEN")![40], arrays.get("HCB1_CODE")![40]]).toEqual([1, 0]);
    expect(arrays.get("HCB11_LEN")![288]).toBe(5);
  });
});
