/**
 * web/audio/adts.ts and aac-config.ts: splitting what `ffmpeg -f adts`
 * writes into raw AAC frames, wrapping raw frames back, and the 2-byte
 * AudioSpecificConfig (ISO/IEC 14496-3 §1.6.2.1, §1.A.2.2).
 *
 * 1. Golden: FFmpeg's AAC encoder at test time (command beside each);
 *    frame lengths compared with ffprobe's packet sizes, the AudioSpecificConfig
 *    with the one FFmpeg writes into an FLV sequence header.
 * 2. Hand vectors commented byte by byte; streaming split at every offset.
 * 3. One test per refusal.
 */
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { audioSpecificConfig, readAudioSpecificConfig, sampleRateIndex } from "../../web/audio/aac-config.js";
import { parseAdtsFrames, splitAdts, wrapAdts, type AdtsFrame } from "../../web/audio/adts.js";
import { AacEncoderError, AacErrorCode } from "../../web/audio/errors.js";
import { parseAudioSpecificConfig } from "../../server/media/aac.js";
import { parseAudioBody, readFlv } from "../support/flv-read.js";
import { requireBinary } from "../../server/testing/system.js";

const run = promisify(execFile);
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "golive-aac-adts-"));
});

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** 48 kHz stereo LC, 3-byte payload: aac_frame_length 10. */
const HAND_FRAME = Uint8Array.of(
  0xff, //  syncword 1111 1111
  0xf1, //  syncword 1111, ID 0 (MPEG-4), layer 00, protection_absent 1
  0x4c, //  profile 01 (LC), sampling_frequency_index 0011 (48000), private 0, channel_configuration 0 (msb)
  0x80, //  channel_configuration 10 (2), original/home/copyright 0000, aac_frame_length 00 (msb)
  0x01, //  aac_frame_length 0000 0001
  0x5f, //  aac_frame_length 010 (= 10), adts_buffer_fullness 11111
  0xfc, //  adts_buffer_fullness 111111 (0x7FF: VBR), number_of_raw_data_blocks_in_frame 00
  0x21, 0x10, 0x05, // raw_data_block
);

/** The same with protection_absent 0: a 16-bit CRC after the header, aac_frame_length 12. */
const HAND_CRC_FRAME = Uint8Array.of(
  0xff, 0xf0, // syncword, ID 0, layer 00, protection_absent 0
  0x4c, 0x80, // LC, 48000, channel_configuration 2
  0x01, 0x9f, // aac_frame_length 0000 0001 100 (= 12), fullness 11111
  0xfc, //       fullness 111111, one raw data block
  0xab, 0xcd, // crc_check (not verified)
  0x21, 0x10, 0x05,
);

/** The AacEncoderError `fn` throws; fails the test on anything else. */
function aacError(fn: () => unknown): AacEncoderError {
  try {
    fn();
  } catch (err) {
    if (!(err instanceof AacEncoderError)) throw new Error(`expected an AacEncoderError, got ${String(err)}`, { cause: err });
    return err;
  }
  throw new Error("did not throw");
}

/** HAND_FRAME with byte `i` replaced by `v`. */
function patched(i: number, v: number): Uint8Array {
  const b = HAND_FRAME.slice();
  b[i] = v;
  return b;
}

describe("ADTS hand vectors", () => {
  it("splits a frame into its header fields and raw payload", () => {
    const [frame, ...rest] = splitAdts(HAND_FRAME);
    expect(rest).toEqual([]);
    expect(frame).toMatchObject({ objectType: 2, sampleRate: 48000, channelConfiguration: 2, headerLength: 7, frameLength: 10 });
    expect(Array.from(frame!.payload)).toEqual([0x21, 0x10, 0x05]);
  });

  it("skips the CRC of a protected header", () => {
    const [frame] = splitAdts(HAND_CRC_FRAME);
    expect(frame).toMatchObject({ headerLength: 9, frameLength: 12 });
    expect(Array.from(frame!.payload)).toEqual([0x21, 0x10, 0x05]);
  });

  it("wrapAdts writes the hand vector byte for byte", () => {
    expect(wrapAdts(Uint8Array.of(0x21, 0x10, 0x05), { objectType: 2, sampleRate: 48000, channelConfiguration: 2 })).toEqual(HAND_FRAME);
  });

  it("wraps and splits back every length from 1 to 8184 bytes of payload and every rate and channel configuration", () => {
    for (const [rate, ch] of [[96000, 1], [44100, 2], [7350, 7], [22050, 3]] as const) {
      for (const n of [1, 2, 255, 256, 2047, 2048, 8184]) {
        const raw = Uint8Array.from({ length: n }, (_, i) => (i * 7 + n) & 0xff);
        const [frame] = splitAdts(wrapAdts(raw, { objectType: 2, sampleRate: rate, channelConfiguration: ch }));
        expect(frame).toMatchObject({ sampleRate: rate, channelConfiguration: ch, frameLength: n + 7 });
        expect(frame!.payload).toEqual(raw);
      }
    }
  });

  it("parses a stream split at every byte offset, consuming only whole frames", () => {
    const stream = new Uint8Array([...HAND_FRAME, ...HAND_CRC_FRAME, ...HAND_FRAME]);
    for (let cut = 0; cut <= stream.length; cut++) {
      const first = parseAdtsFrames(stream.subarray(0, cut));
      const rest = new Uint8Array([...stream.subarray(first.consumed, cut), ...stream.subarray(cut)]);
      const second = parseAdtsFrames(rest);
      expect(second.consumed).toBe(rest.length);
      const payloads = [...first.frames, ...second.frames].map((f) => Array.from(f.payload));
      expect(payloads, `cut at ${cut}`).toEqual([[0x21, 0x10, 0x05], [0x21, 0x10, 0x05], [0x21, 0x10, 0x05]]);
    }
  });
});

describe("ADTS refusals (AAC_BAD_ADTS)", () => {
  const cases: [string, Uint8Array, RegExp][] = [
    ["a wrong syncword", patched(1, 0xe1), /syncword is 0xffe/],
    ["no syncword at all", Uint8Array.of(0, 1, 2, 3, 4, 5, 6, 7), /syncword/],
    ["layer 1", patched(1, 0xf3), /layer is 1/],
    ["sampling_frequency_index 13 (reserved)", patched(2, 0x40 | (13 << 2)), /index 13/],
    ["sampling_frequency_index 15 (explicit)", patched(2, 0x40 | (15 << 2)), /index 15/],
    // aac_frame_length 0000 0000 111 (= 7): bytes 4, 5 = 0x00, 0xff
    ["aac_frame_length 7 (no payload)", patched(5, 0xff).map((b, i) => (i === 4 ? 0 : b)), /aac_frame_length 7/],
    ["two raw data blocks", patched(6, 0xfd), /2 raw data blocks/],
  ];
  for (const [what, bytes, message] of cases) {
    it(`refuses ${what}`, () => {
      const err = aacError(() => parseAdtsFrames(bytes));
      expect(err.code).toBe(AacErrorCode.BadAdts);
      expect(err.message).toMatch(message);
      expect(err.message).toMatch(/offset 0/);
    });
  }

  it("names the offset of a bad frame after good ones", () => {
    const err = aacError(() => splitAdts(new Uint8Array([...HAND_FRAME, 0x00, 0, 0, 0, 0, 0, 0])));
    expect(err.message).toMatch(/offset 10/);
  });

  it("splitAdts refuses a stream that ends inside a frame; parseAdtsFrames stops before it", () => {
    for (let n = 1; n < HAND_FRAME.length; n++) {
      const cut = new Uint8Array([...HAND_FRAME, ...HAND_FRAME.subarray(0, n)]);
      expect(aacError(() => splitAdts(cut)).message).toMatch(new RegExp(`${n} bytes left at offset 10`));
      expect(parseAdtsFrames(cut)).toMatchObject({ consumed: 10 });
    }
    expect(parseAdtsFrames(HAND_CRC_FRAME.subarray(0, 8))).toMatchObject({ consumed: 0, frames: [] });
  });

  it("wrapAdts refuses what ADTS cannot carry (TypeError)", () => {
    const raw = new Uint8Array(4);
    expect(() => wrapAdts(raw, { objectType: 2, sampleRate: 12345, channelConfiguration: 2 })).toThrow(TypeError);
    expect(() => wrapAdts(raw, { objectType: 5, sampleRate: 48000, channelConfiguration: 2 })).toThrow(TypeError);
    expect(() => wrapAdts(raw, { objectType: 2, sampleRate: 48000, channelConfiguration: 0 })).toThrow(TypeError);
    expect(() => wrapAdts(new Uint8Array(0), { objectType: 2, sampleRate: 48000, channelConfiguration: 2 })).toThrow(TypeError);
    expect(() => wrapAdts(new Uint8Array(8185), { objectType: 2, sampleRate: 48000, channelConfiguration: 2 })).toThrow(TypeError);
  });
});

describe("ADTS and AudioSpecificConfig against FFmpeg", () => {
  it("splits FFmpeg's ADTS into the packets ffprobe sees, and wraps them back bit-exact", async () => {
    // ffmpeg -f lavfi -i sine=frequency=440:duration=2:sample_rate=48000 -ac 2 -c:a aac -b:a 128k -f adts tone.aac
    const file = join(dir, "tone.aac");
    await run(requireBinary("ffmpeg"), ["-v", "error", "-f", "lavfi", "-i", "sine=frequency=440:duration=2:sample_rate=48000", "-ac", "2", "-c:a", "aac", "-b:a", "128k", "-f", "adts", file]);
    const bytes = new Uint8Array(await readFile(file));
    // ffprobe -show_entries packet=size -of csv=p=0 tone.aac
    const { stdout } = await run(requireBinary("ffprobe"), ["-v", "error", "-show_entries", "packet=size", "-of", "csv=p=0", file]);
    const sizes = stdout.trim().split("\n").map(Number);
    const frames: AdtsFrame[] = splitAdts(bytes);
    expect(frames.map((f) => f.frameLength)).toEqual(sizes);
    expect(frames.length).toBe(Math.ceil((2 * 48000) / 1024) + 1);
    for (const f of frames) expect(f).toMatchObject({ objectType: 2, sampleRate: 48000, channelConfiguration: 2, headerLength: 7 });
    const rewrapped = new Uint8Array(bytes.length);
    let o = 0;
    for (const f of frames) {
      rewrapped.set(wrapAdts(f.payload, f), o);
      o += f.frameLength;
    }
    // Index of the first differing byte (-1: identical); a typed-array diff of 35 kB would be unreadable.
    expect(rewrapped.findIndex((b, i) => b !== bytes[i])).toBe(-1);
    expect(rewrapped.length).toBe(bytes.length);
  });

  for (const [rate, channels] of [[48000, 2], [44100, 2], [48000, 1], [32000, 1], [16000, 2]] as const) {
    it(`audioSpecificConfig(${rate}, ${channels}) is what FFmpeg writes into FLV`, async () => {
      // ffmpeg -f lavfi -i sine=sample_rate=R:duration=0.2 -ac C -c:a aac -f flv x.flv
      const file = join(dir, `asc-${rate}-${channels}.flv`);
      await run(requireBinary("ffmpeg"), ["-v", "error", "-f", "lavfi", "-i", `sine=sample_rate=${rate}:duration=0.2`, "-ac", String(channels), "-c:a", "aac", "-f", "flv", file]);
      let golden: Uint8Array | undefined;
      for (const tag of readFlv(new Uint8Array(await readFile(file))).tags) {
        if (tag.type !== 8) continue;
        const body = parseAudioBody(tag.body);
        if (body.kind === "legacy" && body.aacPacketType === 0) golden = body.payload;
      }
      expect(golden).toBeDefined();
      expect(audioSpecificConfig(rate, channels)).toEqual(golden!.subarray(0, 2));
      expect(readAudioSpecificConfig(golden!)).toEqual({ objectType: 2, sampleRate: rate, channelConfiguration: channels });
      expect(parseAudioSpecificConfig(audioSpecificConfig(rate, channels))).toMatchObject({ objectType: 2, sampleRate: rate, channels });
    });
  }

  it("audioSpecificConfig: hand values and refusals", () => {
    // 00010 0011 0010 000: LC, index 3 (48000), stereo, GASpecificConfig 000
    expect(Array.from(audioSpecificConfig(48000, 2))).toEqual([0x11, 0x90]);
    // 00010 0100 0010 000: LC, index 4 (44100), stereo
    expect(Array.from(audioSpecificConfig(44100, 2))).toEqual([0x12, 0x10]);
    expect(sampleRateIndex(7350)).toBe(12);
    expect(() => audioSpecificConfig(44000, 2)).toThrow(TypeError);
    expect(() => audioSpecificConfig(48000, 3)).toThrow(TypeError);
    expect(aacError(() => readAudioSpecificConfig(Uint8Array.of(0x11))).code).toBe(AacErrorCode.BadEncoderOutput);
    expect(aacError(() => readAudioSpecificConfig(Uint8Array.of(0xf8, 0x00, 0x00))).code).toBe(AacErrorCode.BadEncoderOutput);
  });
});
