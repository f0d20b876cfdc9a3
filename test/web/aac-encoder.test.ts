/**
 * The AAC encoders' plumbing, with stand-ins for ffmpeg and WebCodecs:
 *   - SegmentedAacEncoder: kept packets become chunks in timeline order with
 *     sample-count timestamps; one job in flight; the backlog limit; every
 *     error reported once through onError with its code; close() and flush();
 *   - WebCodecsAacEncoder / createAacEncoder: the platform encoder is chosen
 *     when isConfigSupported says yes, its decoderConfig becomes the
 *     description, chunks are copied out.
 * The stand-in runner writes, as each packet's payload, the first input
 * sample that packet decodes to (FFmpeg's one-frame delay: packet m of a job
 * decodes to the job's samples [(m-1)F, mF)), so a chunk names the audio it
 * carries and the tests can check that chunk k carries samples from k * 1024.
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import { wrapAdts } from "../../web/audio/adts.js";
import { AacEncoderError, AacErrorCode } from "../../web/audio/errors.js";
import { createAacEncoder } from "../../web/audio/index.js";
import { ChunkClock, WebCodecsAacEncoder } from "../../web/audio/webcodecs-aac.js";
import type { AudioDataLike } from "../../web/audio/pcm.js";
import { SegmentedAacEncoder, type AacChunk, type AacJobRunner, type SegmentedEncoderOptions } from "../../web/audio/segmented-encoder.js";

const F = 1024;
const RATE = 48000;
/** Sample i of channel ch: the index, recoverable from a float32 (i < 2^24). */
const sample = (ch: number, i: number): number => (ch === 0 ? i : -i - 1) / 16_777_216;
const indexOf = (v: number): number => Math.round(v * 16_777_216);

function data(start: number, frames: number, channels = 2, timestamp = 0, sampleRate = RATE): AudioDataLike {
  return {
    format: "f32-planar",
    numberOfChannels: channels,
    numberOfFrames: frames,
    sampleRate,
    timestamp,
    copyTo(dest, { planeIndex }) {
      const out = new Float32Array(dest as ArrayBuffer);
      for (let i = 0; i < frames; i++) out[i] = sample(planeIndex, start + i);
    },
  };
}

/** Packet payload: float32 of the left sample the packet decodes first (-1 for priming and padding). */
function fakeAdts(pcm: Uint8Array, channels: number, options: { extraPackets?: number; channelConfiguration?: number } = {}): Uint8Array {
  const samples = new Float32Array(pcm.buffer, pcm.byteOffset, pcm.byteLength / 4);
  const n = samples.length / channels;
  const packets = Math.ceil(n / F) + 1 + (options.extraPackets ?? 0);
  const parts: Uint8Array[] = [];
  for (let m = 0; m < packets; m++) {
    const i = (m - 1) * F;
    const payload = new Uint8Array(Float32Array.of(i >= 0 && i < n ? samples[i * channels]! : -1).buffer);
    parts.push(wrapAdts(payload, { objectType: 2, sampleRate: RATE, channelConfiguration: options.channelConfiguration ?? channels }));
  }
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  parts.reduce((o, p) => (out.set(p, o), o + p.length), 0);
  return out;
}

interface FakeRunner extends AacJobRunner {
  jobs: number;
  inFlight: number;
  maxInFlight: number;
  closed: boolean;
  /** Channels of every job's input, from its byte length. */
  jobChannels: number[];
}

/** A runner answering after a macrotask (so jobs queue up) with `adts(pcm)`. */
function fakeRunner(adts: (pcm: Uint8Array, channels: number) => Uint8Array | Promise<Uint8Array> = fakeAdts): FakeRunner {
  const r: FakeRunner = {
    jobs: 0,
    inFlight: 0,
    maxInFlight: 0,
    closed: false,
    jobChannels: [],
    async run(pcm, { channels }) {
      r.jobs++;
      r.inFlight++;
      r.maxInFlight = Math.max(r.maxInFlight, r.inFlight);
      r.jobChannels.push(channels);
      try {
        await new Promise((resolve) => setTimeout(resolve, 1));
        return await adts(pcm.slice(), channels);
      } finally {
        r.inFlight--;
      }
    },
    close() {
      r.closed = true;
    },
  };
  return r;
}

function encoder(runner: AacJobRunner, options: Partial<SegmentedEncoderOptions> = {}) {
  const chunks: AacChunk[] = [];
  const errors: Error[] = [];
  // 8 frames per job: 8 * 1024 / 48 ms.
  const enc = new SegmentedAacEncoder(runner, { sampleRate: RATE, channels: 2, bitrate: 128_000, segmentMs: (8 * F) / 48, ...options }, (c) => chunks.push(c), (e) => errors.push(e));
  return { enc, chunks, errors };
}

const firstSampleOf = (c: AacChunk): number => indexOf(new Float32Array(c.data.slice().buffer)[0]!);

describe("SegmentedAacEncoder", () => {
  it("delivers frame k of the input as chunk k, stamped by sample count", async () => {
    const runner = fakeRunner();
    const { enc, chunks, errors } = encoder(runner);
    const total = 50 * F + 300;
    const t0 = 7_000_000;
    // 480-sample AudioData whose own timestamps jitter: only the first one counts.
    for (let s = 0; s < total; s += 480) enc.encode(data(s, Math.min(480, total - s), 2, t0 + Math.round((s * 1e6) / RATE) + (s ? 777 : 0)));
    await enc.flush();
    expect(errors).toEqual([]);
    expect(enc.segmentFrames).toBe(8);
    expect(chunks).toHaveLength(Math.ceil(total / F));
    chunks.forEach((c, k) => {
      expect(firstSampleOf(c), `chunk ${k}`).toBe(k * F);
      expect(c.timestampUs).toBe(t0 + Math.round((k * F * 1e6) / RATE));
      expect(c.timestampUs + c.durationUs).toBe(t0 + Math.round(((k + 1) * F * 1e6) / RATE));
      expect([21333, 21334]).toContain(c.durationUs);
    });
    expect(runner.maxInFlight).toBe(1);
    expect(runner.jobs).toBe(Math.ceil(chunks.length / 8));
  });

  it("runs one job at a time and queues the rest", async () => {
    const runner = fakeRunner();
    const { enc, chunks } = encoder(runner);
    enc.encode(data(0, 40 * F));
    expect(enc.backlogSamples).toBe(40 * F);
    await enc.flush();
    expect(runner.maxInFlight).toBe(1);
    expect(enc.backlogSamples).toBe(0);
    expect(chunks).toHaveLength(40);
  });

  it("mixes mono AudioData to both channels of a stereo encoder, and stereo to a mono one", async () => {
    for (const [dataChannels, channels] of [[1, 2], [2, 1]] as const) {
      const inputs: Float32Array[] = [];
      const runner = fakeRunner((pcm, ch) => {
        inputs.push(new Float32Array(pcm.buffer));
        return fakeAdts(pcm, ch);
      });
      const { enc, chunks, errors } = encoder(runner, { channels });
      enc.encode(data(0, 3 * F, dataChannels));
      await enc.flush();
      expect(errors).toEqual([]);
      expect(chunks).toHaveLength(3);
      const pcm = inputs[0]!;
      if (channels === 2) expect([pcm[2], pcm[3]]).toEqual([Math.fround(sample(0, 1)), Math.fround(sample(0, 1))]);
      else expect(pcm[1]).toBeCloseTo((sample(0, 1) + sample(1, 1)) / 2, 9);
    }
  });

  it("starts a new timeline after flush(), from the next AudioData's timestamp", async () => {
    const { enc, chunks } = encoder(fakeRunner());
    enc.encode(data(0, 2 * F + 5, 2, 1_000));
    await enc.flush();
    expect(chunks.map((c) => c.timestampUs)).toEqual([1_000, 22_333, 43_667]);
    enc.encode(data(0, F, 2, 5_000_000));
    await enc.flush();
    expect(chunks.slice(3).map((c) => [c.timestampUs, firstSampleOf(c)])).toEqual([[5_000_000, 0]]);
    await enc.flush(); // nothing pending: resolves at once
  });

  it("reports output with the wrong packet count as AAC_BAD_ENCODER_OUTPUT, once, and stops", async () => {
    const runner = fakeRunner((pcm, ch) => fakeAdts(pcm, ch, { extraPackets: 1 }));
    const { enc, chunks, errors } = encoder(runner);
    enc.encode(data(0, 30 * F));
    const flushed = enc.flush();
    await expect(flushed).rejects.toMatchObject({ code: AacErrorCode.BadEncoderOutput });
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBeInstanceOf(AacEncoderError);
    expect(errors[0]!.message).toMatch(/made 12 AAC frames of 10240 samples; the segment plan needs 11/);
    expect(chunks).toEqual([]);
    expect(runner.closed).toBe(true);
    enc.encode(data(30 * F, F)); // ignored after a failure, no throw
    await expect(enc.flush()).rejects.toBe(errors[0]);
    expect(errors).toHaveLength(1);
  });

  it("reports output in another channel configuration as AAC_BAD_ENCODER_OUTPUT", async () => {
    const { enc, errors } = encoder(fakeRunner((pcm, ch) => fakeAdts(pcm, ch, { channelConfiguration: 1 })));
    enc.encode(data(0, 2 * F));
    await expect(enc.flush()).rejects.toMatchObject({ code: AacErrorCode.BadEncoderOutput });
    expect(errors[0]!.message).toMatch(/channel configuration 1; configured AAC-LC \(2\), 48000 Hz, 2/);
  });

  it("passes a failed job's error (AAC_FFMPEG_EXEC) to onError", async () => {
    const failure = new AacEncoderError(AacErrorCode.FfmpegExec, "ffmpeg.wasm exited with status 1");
    const { enc, errors } = encoder(fakeRunner(() => Promise.reject(failure)));
    enc.encode(data(0, 20 * F));
    await expect(enc.flush()).rejects.toBe(failure);
    expect(errors).toEqual([failure]);
  });

  it("refuses AudioData at another sample rate (AAC_UNSUPPORTED_INPUT)", () => {
    const { enc, errors } = encoder(fakeRunner());
    enc.encode(data(0, 480, 2, 0, 44100));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ code: AacErrorCode.UnsupportedInput });
    expect(errors[0]!.message).toMatch(/44100 Hz given to an AAC encoder configured for 48000 Hz/);
  });

  it("throws TypeError for a closed AudioData (API misuse) and stays usable", async () => {
    const { enc, chunks, errors } = encoder(fakeRunner());
    expect(() => enc.encode({ ...data(0, 480), format: null })).toThrow(TypeError);
    enc.encode(data(0, F));
    await enc.flush();
    expect(errors).toEqual([]);
    expect(chunks).toHaveLength(1);
  });

  it("fails with AAC_BACKLOG when more audio waits than maxBacklogMs", () => {
    const never: AacJobRunner = { run: () => new Promise(() => undefined), close: () => undefined };
    const { enc, errors } = encoder(never, { maxBacklogMs: 1000 });
    for (let s = 0; s < RATE; s += 480) enc.encode(data(s, 480));
    expect(errors).toEqual([]);
    enc.encode(data(RATE, 480));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ code: AacErrorCode.Backlog });
    expect(errors[0]!.message).toMatch(/1010 ms of audio wait for the AAC encoder \(limit 1000 ms\)/);
  });

  it("close() drops queued audio, closes the runner, and refuses further use (TypeError)", async () => {
    const runner = fakeRunner();
    const { enc, chunks, errors } = encoder(runner);
    enc.encode(data(0, 30 * F));
    const flushed = enc.flush();
    enc.close();
    await expect(flushed).rejects.toThrow(TypeError);
    await new Promise((resolve) => setTimeout(resolve, 10)); // the job in flight answers after close
    expect(chunks).toEqual([]);
    expect(errors).toEqual([]);
    expect(runner.closed).toBe(true);
    expect(() => enc.encode(data(0, 480))).toThrow(TypeError);
    await expect(enc.flush()).rejects.toThrow(TypeError);
    enc.close(); // twice is fine
  });

  it("refuses configs AAC or the plan cannot take (TypeError)", () => {
    const r = fakeRunner();
    const base = { sampleRate: RATE, channels: 2 as const, bitrate: 128_000 };
    expect(() => new SegmentedAacEncoder(r, { ...base, sampleRate: 44000 }, () => {}, () => {})).toThrow(TypeError);
    expect(() => new SegmentedAacEncoder(r, { ...base, bitrate: 1000 }, () => {}, () => {})).toThrow(TypeError);
    expect(() => new SegmentedAacEncoder(r, { ...base, segmentMs: 0 }, () => {}, () => {})).toThrow(TypeError);
    expect(() => new SegmentedAacEncoder(r, { ...base, segmentMs: 500, maxBacklogMs: 400 }, () => {}, () => {})).toThrow(TypeError);
    expect(() => new SegmentedAacEncoder(r, { ...base, prerollFrames: -1 }, () => {}, () => {})).toThrow(TypeError);
  });
});

/** A WebCodecs AudioEncoder stand-in: encode() answers with one 4-byte chunk per AudioData. */
class FakeAudioEncoder {
  /** Accepts configs this says yes to. */
  static supports: (c: AudioEncoderConfig) => boolean = () => true;
  static configs: AudioEncoderConfig[] = [];
  static instances: FakeAudioEncoder[] = [];
  state: CodecState = "unconfigured";
  encoded: AudioData[] = [];
  constructor(readonly init: AudioEncoderInit) {
    FakeAudioEncoder.instances.push(this);
  }
  static isConfigSupported(config: AudioEncoderConfig): Promise<AudioEncoderSupport> {
    FakeAudioEncoder.configs.push(config);
    return Promise.resolve({ supported: FakeAudioEncoder.supports(config), config });
  }
  configured: AudioEncoderConfig | undefined;
  configure(config: AudioEncoderConfig): void {
    this.configured = config;
    this.state = "configured";
  }
  encode(data: AudioData): void {
    this.encoded.push(data);
    const n = this.encoded.length;
    const chunk = { byteLength: 4, timestamp: data.timestamp, duration: 21333, copyTo: (dest: Uint8Array) => dest.set([n, n, n, n]) } as unknown as EncodedAudioChunk;
    this.init.output(chunk, n === 1 ? { decoderConfig: { codec: "mp4a.40.2", sampleRate: 48000, numberOfChannels: 2, description: Uint8Array.of(0x11, 0x90, 0x56, 0xe5, 0x00) } } : {});
  }
  flush(): Promise<void> {
    return Promise.resolve();
  }
  close(): void {
    this.state = "closed";
  }
}

describe("WebCodecs path", () => {
  afterEach(() => {
    vi.unstubAllGlobals();
    FakeAudioEncoder.instances = [];
    FakeAudioEncoder.configs = [];
    FakeAudioEncoder.supports = () => true;
  });

  it("createAacEncoder uses AudioEncoder when it supports mp4a.40.2; the description follows its decoderConfig", async () => {
    vi.stubGlobal("AudioEncoder", FakeAudioEncoder);
    const chunks: AacChunk[] = [];
    const errors: Error[] = [];
    const enc = await createAacEncoder({ sampleRate: 48000, channels: 2, bitrate: 128_000 }, (c) => chunks.push(c), (e) => errors.push(e));
    expect(enc.kind).toBe("webcodecs");
    expect(enc.codec).toBe("mp4a.40.2");
    expect(FakeAudioEncoder.configs).toEqual([{ codec: "mp4a.40.2", sampleRate: 48000, numberOfChannels: 2, bitrate: 128_000, bitrateMode: "constant", aac: { format: "aac" } }]);
    expect(FakeAudioEncoder.instances[0]!.configured).toEqual(FakeAudioEncoder.configs[0]);
    expect(Array.from(enc.description)).toEqual([0x11, 0x90]); // computed until the encoder says
    enc.encode(data(0, 480, 2, 1234));
    enc.encode(data(480, 480, 2, 11234));
    await enc.flush();
    expect(Array.from(enc.description)).toEqual([0x11, 0x90, 0x56, 0xe5, 0x00]);
    // Stamped by sample count from the first input (1024 frames a chunk), not by the platform: see "chunk timestamps" below.
    expect(chunks.map((c) => [Array.from(c.data), c.timestampUs, c.durationUs])).toEqual([[[1, 1, 1, 1], 1234, 21333], [[2, 2, 2, 2], 1234 + 21333, 21333]]);
    expect(errors).toEqual([]);
    enc.close();
    expect(FakeAudioEncoder.instances[0]!.state).toBe("closed");
    expect(() => enc.encode(data(0, 480) as AudioData)).toThrow(TypeError);
  });

  it("falls back to the platform's default bitrate mode when it refuses constant bitrate", async () => {
    vi.stubGlobal("AudioEncoder", FakeAudioEncoder);
    FakeAudioEncoder.supports = (c) => c.bitrateMode === undefined;
    const enc = await createAacEncoder({ sampleRate: 44100, channels: 1, bitrate: 96_000 }, () => {}, () => {});
    expect(enc.kind).toBe("webcodecs");
    expect(FakeAudioEncoder.configs.map((c) => c.bitrateMode)).toEqual(["constant", undefined]);
    expect(FakeAudioEncoder.instances[0]!.configured).toEqual({ codec: "mp4a.40.2", sampleRate: 44100, numberOfChannels: 1, bitrate: 96_000, aac: { format: "aac" } });
    expect(Array.from(enc.description)).toEqual([0x12, 0x08]); // LC, 44100, mono
  });

  it("reports the platform encoder's errors (AAC_WEBCODECS) and another sample rate (AAC_UNSUPPORTED_INPUT)", async () => {
    vi.stubGlobal("AudioEncoder", FakeAudioEncoder);
    const errors: Error[] = [];
    const a = await createAacEncoder({ sampleRate: 48000, channels: 2, bitrate: 128_000 }, () => {}, (e) => errors.push(e));
    FakeAudioEncoder.instances[0]!.init.error(new DOMException("boom", "EncodingError"));
    expect(errors[0]).toMatchObject({ code: AacErrorCode.WebCodecs, message: "the platform AAC encoder failed: boom" });
    a.encode(data(0, 480)); // ignored after the failure
    const b = await createAacEncoder({ sampleRate: 48000, channels: 2, bitrate: 128_000 }, () => {}, (e) => errors.push(e));
    b.encode(data(0, 480, 2, 0, 44100));
    expect(errors[1]).toMatchObject({ code: AacErrorCode.UnsupportedInput });
    expect(errors).toHaveLength(2);
  });

  it("createAacEncoder refuses configs AAC cannot carry (TypeError) before touching an encoder", async () => {
    vi.stubGlobal("AudioEncoder", FakeAudioEncoder);
    await expect(createAacEncoder({ sampleRate: 44000, channels: 2, bitrate: 128_000 }, () => {}, () => {})).rejects.toThrow(TypeError);
    await expect(createAacEncoder({ sampleRate: 48000, channels: 3 as 2, bitrate: 128_000 }, () => {}, () => {})).rejects.toThrow(TypeError);
    await expect(createAacEncoder({ sampleRate: 48000, channels: 2, bitrate: 12.5 }, () => {}, () => {})).rejects.toThrow(TypeError);
    expect(FakeAudioEncoder.configs).toEqual([]);
  });
});

/**
 * A platform AAC encoder as WebKitGTK's behaves (measured): it counts
 * samples into 1024-frame chunks and stamps each chunk with the timestamp of
 * the AudioData that completed it.
 */
class CompletingAudioEncoder {
  static instances: CompletingAudioEncoder[] = [];
  state: CodecState = "unconfigured";
  #held = 0;
  constructor(readonly init: AudioEncoderInit) {
    CompletingAudioEncoder.instances.push(this);
  }
  static isConfigSupported(config: AudioEncoderConfig): Promise<AudioEncoderSupport> {
    return Promise.resolve({ supported: true, config });
  }
  configure(): void {
    this.state = "configured";
  }
  encode(data: AudioData): void {
    this.#held += data.numberOfFrames;
    for (; this.#held >= F; this.#held -= F) this.#out(data.timestamp);
  }
  flush(): Promise<void> {
    if (this.#held > 0) this.#out(-1);
    this.#held = 0;
    return Promise.resolve();
  }
  close(): void {
    this.state = "closed";
  }
  #out(timestamp: number): void {
    const chunk = { byteLength: 1, timestamp, duration: 21333, copyTo: (dest: Uint8Array) => dest.set([0]) } as unknown as EncodedAudioChunk;
    this.init.output(chunk, {});
  }
}

describe("WebCodecs path: chunk timestamps", () => {
  afterEach(() => {
    vi.unstubAllGlobals();
    CompletingAudioEncoder.instances = [];
  });
  const us = (frames: number): number => Math.round((frames * 1e6) / RATE);
  /** An AudioDataLike of `frames` frames (stereo silence) at `timestamp`. */
  const pcm = (timestamp: number, frames: number): AudioDataLike => ({ format: "f32-planar", sampleRate: RATE, numberOfChannels: 2, numberOfFrames: frames, timestamp, copyTo: () => {} });

  it("ChunkClock: chunk m is stamped at its first sample's time, less the delay, whatever the inputs' sizes", () => {
    const clock = new ChunkClock(RATE, 1600);
    clock.input(5_000_000, 1022);
    clock.input(5_000_000 + us(1022), 1024);
    clock.input(5_000_000 + us(2046), 3000);
    expect([clock.next(), clock.next(), clock.next(), clock.next()]).toEqual([0, 1, 2, 3].map((m) => 5_000_000 + us(m * F - 1600)));
  });

  it("ChunkClock: after restart() the chunks whose first sample is past the join are stamped from the new timeline; reset() starts over", () => {
    const clock = new ChunkClock(RATE, 0);
    clock.input(1_000_000, 1500);
    clock.restart();
    clock.input(9_000_000, 2000); // a hole: this timeline starts at stream position 1500
    // chunk 0: [0, 1024) old; chunk 1: [1024, 2048) starts in the old one; chunk 2: [2048, ...) 548 frames into the new one
    expect([clock.next(), clock.next(), clock.next(), clock.next()]).toEqual([1_000_000, 1_000_000 + us(F), 9_000_000 + us(2048 - 1500), 9_000_000 + us(3072 - 1500)]);
    clock.reset();
    clock.input(20_000_000, F);
    expect(clock.next()).toBe(20_000_000);
  });

  it("a platform encoder that stamps chunks by the input that completed them: golive stamps them by sample count, less the measured delay", async () => {
    vi.stubGlobal("AudioEncoder", CompletingAudioEncoder);
    const chunks: AacChunk[] = [];
    const enc = new WebCodecsAacEncoder({ sampleRate: RATE, channels: 2, bitrate: 128_000 }, { codec: "mp4a.40.2", sampleRate: RATE, numberOfChannels: 2 }, (c) => chunks.push(c), (e) => { throw e; }, 1600);
    expect(enc.delayFrames).toBe(1600);
    // The capture's first block is 1022 frames, then whole blocks (seen in WebKitGTK).
    let at = 0;
    for (const frames of [1022, 1024, 1024, 1024, 1024]) {
      enc.encode(pcm(7_000_000 + us(at), frames));
      at += frames;
    }
    expect(chunks.map((c) => c.timestampUs)).toEqual([0, 1, 2, 3].map((m) => 7_000_000 + us(m * F - 1600)));
    // What the platform said (the completing input's time: 21 ms later for chunk 0) is not used.
    expect(chunks[0]!.timestampUs).not.toBe(7_000_000 + us(1022));
    await enc.flush();
    expect(chunks).toHaveLength(5);
    expect(chunks[4]!.timestampUs).toBe(7_000_000 + us(4 * F - 1600));
  });

  it("a delay that could not be measured: stamped by sample count alone", () => {
    vi.stubGlobal("AudioEncoder", CompletingAudioEncoder);
    const chunks: AacChunk[] = [];
    const enc = new WebCodecsAacEncoder({ sampleRate: RATE, channels: 2, bitrate: 128_000 }, { codec: "mp4a.40.2", sampleRate: RATE, numberOfChannels: 2 }, (c) => chunks.push(c), (e) => { throw e; });
    expect(enc.delayFrames).toBeUndefined();
    enc.encode(pcm(3_000_000, 700));
    enc.encode(pcm(3_000_000 + us(700), 1400));
    expect(chunks.map((c) => c.timestampUs)).toEqual([3_000_000, 3_000_000 + us(F)]);
  });

  it("after a hole (restartTimeline), chunks past the join follow the new timeline", () => {
    vi.stubGlobal("AudioEncoder", CompletingAudioEncoder);
    const chunks: AacChunk[] = [];
    const enc = new WebCodecsAacEncoder({ sampleRate: RATE, channels: 2, bitrate: 128_000 }, { codec: "mp4a.40.2", sampleRate: RATE, numberOfChannels: 2 }, (c) => chunks.push(c), (e) => { throw e; }, 0);
    enc.encode(pcm(1_000_000, 2 * F));
    enc.restartTimeline();
    enc.encode(pcm(4_000_000, 2 * F));
    expect(chunks.map((c) => c.timestampUs)).toEqual([1_000_000, 1_000_000 + us(F), 4_000_000, 4_000_000 + us(F)]);
  });
});
