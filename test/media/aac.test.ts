/**
 * parseAudioSpecificConfig / buildAudioSpecificConfig / parseAdtsHeader
 * (ISO/IEC 14496-3 §1.6.2.1, §4.4.1, §1.A.2.2).
 *
 * 1. Golden: FFmpeg's native AAC encoder at test time (the command beside
 *    each), the AudioSpecificConfig taken from the FLV sequence header and
 *    compared with ffprobe; the same encoder's ADTS output walked frame by
 *    frame, and the config built from its header compared with FFmpeg's.
 * 2. Hand vectors, commented bit by bit, for what FFmpeg's encoder never
 *    writes: HE-AAC v1/v2 explicit signalling, backward-compatible SBR/PS
 *    signalling, explicit frequencies, escaped object types, 960-sample
 *    frames, dependsOnCoreCoder, CRC-protected ADTS.
 * 3. One test per error code and refusal; every truncation; fast-check fuzz.
 */
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  AAC_SAMPLE_RATES,
  buildAudioSpecificConfig,
  parseAdtsHeader,
  parseAudioSpecificConfig,
  type AacConfig,
} from "../../server/media/aac.js";
import { MediaError, MediaErrorCode } from "../../server/media/errors.js";
import { parseAudioBody, readFlv } from "../support/flv-read.js";
import { requireBinary } from "../../server/testing/system.js";

const run = promisify(execFile);
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "golive-media-aac-"));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

// ---------------------------------------------------------------- helpers

/** Bytes from a bit string ("00010 0100"); spaces are ignored, the last byte is zero-padded. */
function bits(s: string): Uint8Array {
  const b = s.replace(/\s+/g, "");
  if (!/^[01]*$/.test(b)) throw new Error(`not a bit string: ${s}`);
  const out = new Uint8Array(Math.ceil(b.length / 8));
  for (let i = 0; i < b.length; i++) if (b[i] === "1") out[i >> 3]! |= 0x80 >> (i & 7);
  return out;
}

/** n-bit binary of v. */
const bin = (v: number, n: number): string => v.toString(2).padStart(n, "0");

/** The MediaError `fn` throws; fails the test if it throws anything else (RangeError, TypeError) or nothing. */
function mediaError(fn: () => unknown): MediaError {
  try {
    fn();
  } catch (err) {
    if (!(err instanceof MediaError)) throw new Error(`expected a MediaError, got ${String(err)}`, { cause: err });
    return err;
  }
  throw new Error("did not throw");
}

/** The AudioSpecificConfig of an FLV file's AAC sequence header (AACPacketType 0). */
function ascOf(flv: Uint8Array): Uint8Array {
  for (const tag of readFlv(flv).tags) {
    if (tag.type !== 8) continue;
    const body = parseAudioBody(tag.body);
    if (body.kind === "legacy" && body.format === 10 && body.aacPacketType === 0) return body.payload;
  }
  throw new Error("no AAC sequence header in the FLV file");
}

const ffmpegArgs = ["-hide_banner", "-loglevel", "error", "-nostdin", "-y"];

async function readBytes(path: string): Promise<Uint8Array> {
  const b = await readFile(path);
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

// ---------------------------------------------------------------- golden

interface GoldenCase {
  readonly name: string;
  /** Input and encoder arguments; the test appends `-f flv X.flv` and `-f adts X.aac`. */
  readonly args: readonly string[];
  readonly file: string;
  /** The AudioSpecificConfig FFmpeg 5.1 writes: 2 bytes + its "no SBR" sync extension (0x2b7, type 5, sbrPresentFlag 0). */
  readonly asc: readonly number[];
  readonly channels: number;
  readonly sampleRate: number;
}

const GOLDEN: readonly GoldenCase[] = [
  {
    // ffmpeg -f lavfi -i sine=frequency=440:sample_rate=44100 -ac 2 -t 0.2 -c:a aac -f flv s44.flv   (and -f adts s44.aac)
    name: "LC 44100 Hz stereo",
    args: ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100", "-ac", "2", "-t", "0.2", "-c:a", "aac"],
    file: "s44",
    asc: [0x12, 0x10, 0x56, 0xe5, 0x00],
    channels: 2,
    sampleRate: 44100,
  },
  {
    // ffmpeg -f lavfi -i sine=frequency=440:sample_rate=48000 -ac 1 -t 0.2 -c:a aac -f flv s48m.flv   (and -f adts s48m.aac)
    name: "LC 48000 Hz mono",
    args: ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-ac", "1", "-t", "0.2", "-c:a", "aac"],
    file: "s48m",
    asc: [0x11, 0x88, 0x56, 0xe5, 0x00],
    channels: 1,
    sampleRate: 48000,
  },
  {
    // ffmpeg -f lavfi -i sine=frequency=440:sample_rate=22050 -ac 2 -t 0.2 -c:a aac -f flv s22.flv   (and -f adts s22.aac)
    name: "LC 22050 Hz stereo",
    args: ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=22050", "-ac", "2", "-t", "0.2", "-c:a", "aac"],
    file: "s22",
    asc: [0x13, 0x90, 0x56, 0xe5, 0x00],
    channels: 2,
    sampleRate: 22050,
  },
  {
    // ffmpeg -f lavfi -i sine=frequency=440:sample_rate=48000 -af "pan=5.1|c0=c0|c1=c0|c2=c0|c3=c0|c4=c0|c5=c0" -t 0.2 -c:a aac -f flv s51.flv
    name: "LC 48000 Hz 5.1 (channelConfiguration 6)",
    args: ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-af", "pan=5.1|c0=c0|c1=c0|c2=c0|c3=c0|c4=c0|c5=c0", "-t", "0.2", "-c:a", "aac"],
    file: "s51",
    asc: [0x11, 0xb0, 0x56, 0xe5, 0x00],
    channels: 6,
    sampleRate: 48000,
  },
  {
    // ffmpeg -f lavfi -i sine=frequency=440:sample_rate=48000 -af "pan=7.1|c0=c0|c1=c0|c2=c0|c3=c0|c4=c0|c5=c0|c6=c0|c7=c0" -t 0.2 -c:a aac -f flv s71.flv
    name: "LC 48000 Hz 7.1 (channelConfiguration 7 = 8 channels)",
    args: ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-af", "pan=7.1|c0=c0|c1=c0|c2=c0|c3=c0|c4=c0|c5=c0|c6=c0|c7=c0", "-t", "0.2", "-c:a", "aac"],
    file: "s71",
    asc: [0x11, 0xb8, 0x56, 0xe5, 0x00],
    channels: 8,
    sampleRate: 48000,
  },
];

interface Probe {
  sample_rate: string;
  channels: number;
  profile: string;
}

/**
 *   ffprobe -v error -select_streams a:0 -show_entries stream=sample_rate,channels,profile -of json FILE
 */
async function ffprobe(path: string): Promise<Probe> {
  const { stdout } = await run(requireBinary("ffprobe"), ["-v", "error", "-select_streams", "a:0", "-show_entries", "stream=sample_rate,channels,profile", "-of", "json", path]);
  const stream = (JSON.parse(stdout) as { streams?: Probe[] }).streams?.[0];
  if (!stream) throw new Error(`ffprobe found no audio stream in ${path}`);
  return stream;
}

/**
 * Packets (= ADTS frames) ffprobe reads from a file:
 *   ffprobe -v error -select_streams a:0 -count_packets -show_entries stream=nb_read_packets -of json FILE
 */
async function packetCount(path: string): Promise<number> {
  const { stdout } = await run(requireBinary("ffprobe"), ["-v", "error", "-select_streams", "a:0", "-count_packets", "-show_entries", "stream=nb_read_packets", "-of", "json", path]);
  return Number((JSON.parse(stdout) as { streams: { nb_read_packets: string }[] }).streams[0]!.nb_read_packets);
}

interface GoldenResult {
  readonly asc: Uint8Array;
  readonly probe: Probe;
  readonly adts: Uint8Array;
  readonly adtsPackets: number;
}

const golden = new Map<string, GoldenResult>();

describe("golden: FFmpeg's AAC encoder", () => {
  beforeAll(async () => {
    const ffmpeg = requireBinary("ffmpeg");
    await Promise.all(
      GOLDEN.map(async (c) => {
        const flv = join(dir, `${c.file}.flv`);
        const adts = join(dir, `${c.file}.aac`);
        await run(ffmpeg, [...ffmpegArgs, ...c.args, "-f", "flv", flv]);
        await run(ffmpeg, [...ffmpegArgs, ...c.args, "-f", "adts", adts]);
        golden.set(c.name, { asc: ascOf(await readBytes(flv)), probe: await ffprobe(flv), adts: await readBytes(adts), adtsPackets: await packetCount(adts) });
      }),
    );
  }, 60_000);

  it.each(GOLDEN)("$name: the AudioSpecificConfig is what ffprobe says", (c) => {
    const { asc, probe } = golden.get(c.name)!;
    expect(Array.from(asc)).toEqual(c.asc);
    const cfg = parseAudioSpecificConfig(asc);
    expect(probe).toEqual({ sample_rate: String(c.sampleRate), channels: c.channels, profile: "LC" });
    expect(cfg).toEqual<AacConfig>({
      objectType: 2,
      coreObjectType: 2,
      sampleRate: Number(probe.sample_rate),
      coreSampleRate: Number(probe.sample_rate),
      channels: probe.channels,
      channelConfiguration: c.channels === 8 ? 7 : c.channels,
      samplesPerFrame: 1024,
      // FFmpeg's trailing 0x2b7 extension says "no SBR" explicitly.
      sbr: false,
      ps: false,
      codecString: "mp4a.40.2",
    });
  });

  it.each(GOLDEN)("$name: every ADTS header of the .aac file, and the config built from it is FFmpeg's", (c) => {
    const { asc, adts, adtsPackets } = golden.get(c.name)!;
    let at = 0;
    let frames = 0;
    while (at < adts.byteLength) {
      const h = parseAdtsHeader(adts.subarray(at));
      expect(h).toMatchObject({ objectType: 2, sampleRate: c.sampleRate, channels: c.channels, headerLength: 7, crcPresent: false, mpegVersion: 4 });
      expect(at + h.frameLength).toBeLessThanOrEqual(adts.byteLength);
      if (frames === 0) expect(buildAudioSpecificConfig(h)).toEqual(asc.subarray(0, 2));
      at += h.frameLength;
      frames++;
    }
    expect(at).toBe(adts.byteLength);
    expect(frames).toBe(adtsPackets);
  });

  it("every truncation of every golden config: a MediaError below 2 bytes; the optional sync extension either parses as plain LC or is a MediaError", () => {
    for (const c of GOLDEN) {
      const asc = golden.get(c.name)!.asc;
      for (let n = 0; n < asc.byteLength; n++) {
        const prefix = asc.slice(0, n);
        if (n < 2) {
          expect(mediaError(() => parseAudioSpecificConfig(prefix)).code).toBe("BAD_AAC_CONFIG");
          continue;
        }
        try {
          expect(parseAudioSpecificConfig(prefix)).toMatchObject({ sampleRate: c.sampleRate, channels: c.channels, sbr: false });
        } catch (err) {
          expect(err, `${c.name} cut at ${n}`).toBeInstanceOf(MediaError);
          expect(n, "only a cut inside the sync extension may fail").toBeGreaterThanOrEqual(4);
        }
      }
    }
  });
});

// ---------------------------------------------------------------- hand vectors

interface HandCase {
  readonly name: string;
  readonly bytes: Uint8Array;
  readonly expected: AacConfig;
  /** Byte length from which a prefix may still parse (optional trailing signalling); else every prefix must fail. */
  readonly optionalFrom?: number;
}

const LC = { objectType: 2, coreObjectType: 2, samplesPerFrame: 1024, sbr: false, ps: false, codecString: "mp4a.40.2" } as const;

const HAND: readonly HandCase[] = [
  {
    name: "0x12 0x10: AAC LC, 44100 Hz, stereo",
    // 00010 audioObjectType 2 | 0100 samplingFrequencyIndex 4 (44100) | 0010 channelConfiguration 2
    // | 0 frameLengthFlag | 0 dependsOnCoreCoder | 0 extensionFlag
    bytes: Uint8Array.of(0x12, 0x10),
    expected: { ...LC, sampleRate: 44100, coreSampleRate: 44100, channels: 2, channelConfiguration: 2 },
  },
  {
    name: "0x11 0x90: AAC LC, 48000 Hz, stereo",
    // 00010 type 2 | 0011 index 3 (48000) | 0010 stereo | 000
    bytes: Uint8Array.of(0x11, 0x90),
    expected: { ...LC, sampleRate: 48000, coreSampleRate: 48000, channels: 2, channelConfiguration: 2 },
  },
  {
    name: "explicit frequency: AAC LC at 50000 Hz (index 15 + 24 bits)",
    // 00010 type 2 | 1111 index 15 | 0000 0000 1100 0011 0101 0000 samplingFrequency 50000
    // | 0010 stereo | 000  -> 40 bits
    bytes: Uint8Array.of(0x17, 0x80, 0x61, 0xa8, 0x10),
    expected: { ...LC, sampleRate: 50000, coreSampleRate: 50000, channels: 2, channelConfiguration: 2 },
  },
  {
    name: "HE-AAC, explicit hierarchical SBR: 0x2B 0x11 0x88 0x00",
    // 00101 audioObjectType 5 (SBR) | 0110 samplingFrequencyIndex 6 (24000, the core rate)
    // | 0010 channelConfiguration 2 | 0011 extensionSamplingFrequencyIndex 3 (48000)
    // | 00010 audioObjectType 2 (the core: LC) | 000 GASpecificConfig | 0000000 padding
    bytes: Uint8Array.of(0x2b, 0x11, 0x88, 0x00),
    expected: {
      objectType: 5, coreObjectType: 2, sampleRate: 48000, coreSampleRate: 24000, channels: 2, channelConfiguration: 2,
      samplesPerFrame: 2048, sbr: true, ps: false, codecString: "mp4a.40.5",
    },
  },
  {
    name: "HE-AAC v2, explicit hierarchical PS: 0xEB 0x09 0x88 0x00",
    // 11101 audioObjectType 29 (PS) | 0110 index 6 (24000) | 0001 channelConfiguration 1 (mono core)
    // | 0011 extension index 3 (48000) | 00010 core type 2 | 000 | 0000000 padding
    bytes: Uint8Array.of(0xeb, 0x09, 0x88, 0x00),
    expected: {
      objectType: 29, coreObjectType: 2, sampleRate: 48000, coreSampleRate: 24000, channels: 2, channelConfiguration: 1,
      samplesPerFrame: 2048, sbr: true, ps: true, codecString: "mp4a.40.29",
    },
  },
  {
    name: "backward-compatible SBR signalling after an LC config",
    // 00010 type 2 | 0110 index 6 (24000) | 0010 stereo | 000 GASpecificConfig
    // | 01010110111 syncExtensionType 0x2b7 | 00101 extensionAudioObjectType 5 | 1 sbrPresentFlag
    // | 0011 extensionSamplingFrequencyIndex 3 (48000) | 000 padding
    bytes: Uint8Array.of(0x13, 0x10, 0x56, 0xe5, 0x98),
    expected: { ...LC, sampleRate: 48000, coreSampleRate: 24000, channels: 2, channelConfiguration: 2, samplesPerFrame: 2048, sbr: true },
    optionalFrom: 2,
  },
  {
    name: "backward-compatible SBR and PS signalling after a mono LC config",
    // 00010 type 2 | 0110 index 6 | 0001 mono | 000 | 01010110111 0x2b7 | 00101 type 5 | 1 sbrPresentFlag
    // | 0011 index 3 | 10101001000 syncExtensionType 0x548 | 1 psPresentFlag | 0000000 padding
    bytes: Uint8Array.of(0x13, 0x08, 0x56, 0xe5, 0x9d, 0x48, 0x80),
    expected: { ...LC, sampleRate: 48000, coreSampleRate: 24000, channels: 2, channelConfiguration: 1, samplesPerFrame: 2048, sbr: true, ps: true },
    optionalFrom: 2,
  },
  {
    name: "frameLengthFlag 1: 960-sample frames (0x12 0x14)",
    // 00010 type 2 | 0100 index 4 | 0010 stereo | 1 frameLengthFlag | 0 | 0
    bytes: Uint8Array.of(0x12, 0x14),
    expected: { ...LC, sampleRate: 44100, coreSampleRate: 44100, channels: 2, channelConfiguration: 2, samplesPerFrame: 960 },
  },
  {
    name: "dependsOnCoreCoder: the 14-bit coreCoderDelay is skipped",
    // 00010 type 2 | 0100 index 4 | 0010 stereo | 0 frameLengthFlag | 1 dependsOnCoreCoder
    // | 00000000000101 coreCoderDelay 5 | 0 extensionFlag | 00 padding
    bytes: Uint8Array.of(0x12, 0x12, 0x00, 0x28),
    expected: { ...LC, sampleRate: 44100, coreSampleRate: 44100, channels: 2, channelConfiguration: 2 },
  },
  {
    name: "AAC Main, 8000 Hz, 7.1 (channelConfiguration 7 = 8 channels)",
    // 00001 type 1 | 1011 index 11 (8000) | 0111 configuration 7 | 000
    bytes: bits("00001 1011 0111 000"),
    expected: { ...LC, objectType: 1, coreObjectType: 1, codecString: "mp4a.40.1", sampleRate: 8000, coreSampleRate: 8000, channels: 8, channelConfiguration: 7 },
  },
  {
    name: "AAC LTP, 7350 Hz (index 12), mono",
    // 00100 type 4 | 1100 index 12 | 0001 mono | 000
    bytes: bits("00100 1100 0001 000"),
    expected: { ...LC, objectType: 4, coreObjectType: 4, codecString: "mp4a.40.4", sampleRate: 7350, coreSampleRate: 7350, channels: 1, channelConfiguration: 1 },
  },
];

describe("hand vectors", () => {
  it.each(HAND)("$name", (c) => {
    expect(parseAudioSpecificConfig(c.bytes)).toEqual(c.expected);
  });

  it("every truncation of every hand vector is a MediaError (or, inside optional trailing signalling, a parse without it)", () => {
    for (const c of HAND) {
      for (let n = 0; n < c.bytes.byteLength; n++) {
        const prefix = c.bytes.slice(0, n);
        if (c.optionalFrom !== undefined && n >= c.optionalFrom) {
          try {
            // The cut drops (some of) the optional signalling: the core is the same, the result is not the full one.
            const cfg = parseAudioSpecificConfig(prefix);
            expect(cfg).toMatchObject({ coreSampleRate: c.expected.coreSampleRate, channelConfiguration: c.expected.channelConfiguration });
            expect(cfg).not.toEqual(c.expected);
          } catch (err) {
            expect(err, `${c.name} cut at ${n}`).toBeInstanceOf(MediaError);
          }
          continue;
        }
        expect(mediaError(() => parseAudioSpecificConfig(prefix)).code, `${c.name} cut at ${n}`).toBe("BAD_AAC_CONFIG");
      }
    }
  });

  it("every standard sampling frequency index maps to its rate (Table 1.18)", () => {
    AAC_SAMPLE_RATES.forEach((rate, index) => {
      expect(parseAudioSpecificConfig(bits(`00010 ${bin(index, 4)} 0010 000`)).sampleRate).toBe(rate);
    });
  });
});

// ---------------------------------------------------------------- errors

describe("BAD_AAC_CONFIG: a malformed AudioSpecificConfig", () => {
  const bad = (bytes: Uint8Array): string => {
    const err = mediaError(() => parseAudioSpecificConfig(bytes));
    expect(err.code).toBe(MediaErrorCode.BadAacConfig);
    return err.message;
  };

  it("shorter than 2 bytes", () => {
    expect(bad(new Uint8Array(0))).toBe("AudioSpecificConfig too short: 0 bytes, need at least 2");
    expect(bad(Uint8Array.of(0x12))).toBe("AudioSpecificConfig too short: 1 byte, need at least 2");
  });

  it("reserved sampling frequency indices 13 and 14", () => {
    expect(bad(bits("00010 1101 0010 000"))).toBe("AudioSpecificConfig: samplingFrequencyIndex 13 is reserved");
    expect(bad(bits("00010 1110 0010 000"))).toBe("AudioSpecificConfig: samplingFrequencyIndex 14 is reserved");
  });

  it("an explicit frequency of 0 Hz", () => {
    expect(bad(bits(`00010 1111 ${bin(0, 24)} 0010 000`))).toBe("AudioSpecificConfig: explicit samplingFrequency is 0 Hz");
  });

  it("reserved channel configurations (8, 9, 10, 13, 15)", () => {
    for (const configuration of [8, 9, 10, 13, 15]) {
      expect(bad(bits(`00010 0100 ${bin(configuration, 4)} 000`))).toBe(`AudioSpecificConfig: channelConfiguration ${configuration} is reserved`);
    }
  });

  it("a reserved extension sampling frequency index under SBR", () => {
    expect(bad(bits("00101 0110 0010 1101 00010 000"))).toBe("AudioSpecificConfig: extensionSamplingFrequencyIndex 13 is reserved");
  });

  it("an SBR rate that is neither the core rate nor twice it", () => {
    // 00101 SBR | 0110 24000 | 0010 | 0100 extension 44100 | 00010 | 000
    expect(bad(bits("00101 0110 0010 0100 00010 000"))).toBe("AudioSpecificConfig: SBR output rate 44100 Hz must be the core rate 24000 Hz or twice it");
  });

  it("truncated GASpecificConfig", () => {
    // 00010 0100 0010, then the 3 GASpecificConfig bits are missing: only 13 + 3 bits in 2 bytes, so cut dependsOnCoreCoder's delay.
    expect(bad(bits("00010 0100 0010 0 1 0000000"))).toMatch(/^AudioSpecificConfig: truncated: reading coreCoderDelay needs 14 bits/);
  });
});

describe("UNSUPPORTED_AUDIO: valid, but not what the bridge forwards", () => {
  const unsupported = (bytes: Uint8Array): string => {
    const err = mediaError(() => parseAudioSpecificConfig(bytes));
    expect(err.code).toBe(MediaErrorCode.UnsupportedAudio);
    return err.message;
  };

  it("channelConfiguration 0 (a program_config_element)", () => {
    expect(unsupported(bits("00010 0100 0000 000"))).toBe(
      "AudioSpecificConfig: channelConfiguration 0 (channel layout in a program_config_element) is not supported: use channel configuration 1..7",
    );
  });

  it("channel configurations of later editions (11, 12, 14)", () => {
    for (const configuration of [11, 12, 14]) {
      expect(unsupported(bits(`00010 0100 ${bin(configuration, 4)} 000`))).toBe(`AudioSpecificConfig: channelConfiguration ${configuration} is not supported: use channel configuration 1..7`);
    }
  });

  it.each([
    [0, "0 (null)"],
    [6, "6 (AAC Scalable)"],
    [17, "17 (ER AAC LC)"],
    [23, "23 (ER AAC LD)"],
  ])("object type %i", (type, named) => {
    expect(unsupported(bits(`${bin(type, 5)} 0100 0010 000`))).toBe(`AudioSpecificConfig: audioObjectType ${named} is not supported: send AAC LC (2), HE-AAC (5) or HE-AAC v2 (29)`);
  });

  it("an escaped object type: 31 + 6 bits, 32 + 10 = 42 (USAC)", () => {
    // 11111 escape | 001010 -> 32 + 10 | 0011 | 0010 | 000
    expect(unsupported(Uint8Array.of(0xf9, 0x46, 0x40))).toBe("AudioSpecificConfig: audioObjectType 42 (USAC (xHE-AAC)) is not supported: send AAC LC (2), HE-AAC (5) or HE-AAC v2 (29)");
    // ER AAC ELD: 32 + 7 = 39
    expect(unsupported(bits("11111 000111 0011 0010 000"))).toMatch(/audioObjectType 39 \(ER AAC ELD\)/);
  });

  it("an SBR core that is not AAC Main/LC/SSR/LTP", () => {
    // 00101 SBR | 0110 | 0010 | 0011 | 10110 core type 22 (ER BSAC)
    expect(unsupported(bits("00101 0110 0010 0011 10110 000"))).toBe(
      "AudioSpecificConfig: the core audioObjectType under 5 (SBR) is 22 (ER BSAC); only AAC Main, LC, SSR or LTP (1..4) is supported",
    );
  });
});

// ---------------------------------------------------------------- build

describe("buildAudioSpecificConfig", () => {
  it("LC 44100 stereo is 0x12 0x10; LC 48000 stereo is 0x11 0x90; 7.1 is configuration 7", () => {
    expect(buildAudioSpecificConfig({ objectType: 2, sampleRate: 44100, channels: 2 })).toEqual(Uint8Array.of(0x12, 0x10));
    expect(buildAudioSpecificConfig({ objectType: 2, sampleRate: 48000, channels: 2 })).toEqual(Uint8Array.of(0x11, 0x90));
    expect(buildAudioSpecificConfig({ objectType: 2, sampleRate: 48000, channels: 8 })).toEqual(Uint8Array.of(0x11, 0xb8));
  });

  it("a non-standard rate uses the explicit 24-bit frequency; 960-sample frames set frameLengthFlag", () => {
    expect(buildAudioSpecificConfig({ objectType: 2, sampleRate: 50000, channels: 2 })).toEqual(Uint8Array.of(0x17, 0x80, 0x61, 0xa8, 0x10));
    expect(buildAudioSpecificConfig({ objectType: 2, sampleRate: 44100, channels: 2, samplesPerFrame: 960 })).toEqual(Uint8Array.of(0x12, 0x14));
  });

  it("round trip: what it builds parses back (fast-check)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 4 }),
        fc.oneof(fc.constantFrom(...AAC_SAMPLE_RATES), fc.integer({ min: 1, max: 0xffffff })),
        fc.constantFrom(1, 2, 3, 4, 5, 6, 8),
        fc.constantFrom(1024 as const, 960 as const),
        (objectType, sampleRate, channels, samplesPerFrame) => {
          const asc = buildAudioSpecificConfig({ objectType, sampleRate, channels, samplesPerFrame });
          expect(asc.byteLength).toBe(AAC_SAMPLE_RATES.includes(sampleRate) ? 2 : 5);
          expect(parseAudioSpecificConfig(asc)).toMatchObject({ objectType, sampleRate, channels, samplesPerFrame, sbr: false, ps: false });
        },
      ),
      { numRuns: 2000 },
    );
  });

  it("refuses what a plain AudioSpecificConfig cannot say: UNSUPPORTED_AUDIO", () => {
    const refused = (f: Parameters<typeof buildAudioSpecificConfig>[0]): string => {
      const err = mediaError(() => buildAudioSpecificConfig(f));
      expect(err.code).toBe(MediaErrorCode.UnsupportedAudio);
      return err.message;
    };
    expect(refused({ objectType: 5, sampleRate: 48000, channels: 2 })).toMatch(/audioObjectType 5 \(SBR\); only 1\.\.4/);
    expect(refused({ objectType: 2, sampleRate: 0, channels: 2 })).toMatch(/sample rate 0 Hz cannot be signalled/);
    expect(refused({ objectType: 2, sampleRate: 2 ** 24, channels: 2 })).toMatch(/sample rate 16777216 Hz/);
    expect(refused({ objectType: 2, sampleRate: 44100.5, channels: 2 })).toMatch(/sample rate 44100.5 Hz/);
    for (const channels of [0, 7, 9, 1.5]) expect(refused({ objectType: 2, sampleRate: 48000, channels })).toMatch(/channels have no channelConfiguration/);
  });
});

// ---------------------------------------------------------------- ADTS

interface AdtsFields {
  sync?: number;
  id?: number;
  layer?: number;
  crc?: boolean;
  profile?: number;
  index?: number;
  channels?: number;
  frameLength?: number;
  blocks?: number;
}

/** An ADTS header (§1.A.2.2.1), bit by bit; with crc, the 16-bit crc_check 0xABCD follows. */
function adts(f: AdtsFields = {}): Uint8Array {
  const crc = f.crc ?? false;
  return bits(
    bin(f.sync ?? 0xfff, 12) + // syncword
      bin(f.id ?? 0, 1) + // ID: 0 MPEG-4
      bin(f.layer ?? 0, 2) + // layer
      (crc ? "0" : "1") + // protection_absent
      bin(f.profile ?? 1, 2) + // profile_ObjectType: 1 = LC
      bin(f.index ?? 3, 4) + // sampling_frequency_index: 3 = 48000
      "0" + // private_bit
      bin(f.channels ?? 2, 3) + // channel_configuration
      "0000" + // original_copy, home, copyright_identification_bit, copyright_identification_start
      bin(f.frameLength ?? 200, 13) + // aac_frame_length
      bin(0x7ff, 11) + // adts_buffer_fullness: VBR
      bin(f.blocks ?? 0, 2) + // number_of_raw_data_blocks_in_frame
      (crc ? bin(0xabcd, 16) : ""), // crc_check
  );
}

describe("parseAdtsHeader", () => {
  it("a 7-byte header without CRC", () => {
    expect(parseAdtsHeader(adts())).toEqual({
      objectType: 2, sampleRate: 48000, channels: 2, channelConfiguration: 2, frameLength: 200, headerLength: 7, crcPresent: false, mpegVersion: 4,
    });
  });

  it("with protection_absent 0 the header is 9 bytes (the CRC is not checked)", () => {
    expect(parseAdtsHeader(adts({ crc: true }))).toMatchObject({ headerLength: 9, crcPresent: true, frameLength: 200 });
    const err = mediaError(() => parseAdtsHeader(adts({ crc: true }).subarray(0, 8)));
    expect(err.code).toBe("BAD_AAC_CONFIG");
    expect(err.message).toMatch(/truncated: reading crc_check/);
  });

  it("MPEG-2 ADTS (ID 1), AAC Main, 7.1", () => {
    expect(parseAdtsHeader(adts({ id: 1, profile: 0, channels: 7, index: 4 }))).toMatchObject({ mpegVersion: 2, objectType: 1, channels: 8, channelConfiguration: 7, sampleRate: 44100 });
  });

  it("a header followed by its frame data parses the same", () => {
    const frame = new Uint8Array(200);
    frame.set(adts());
    expect(parseAdtsHeader(frame).frameLength).toBe(200);
  });

  const bad = (bytes: Uint8Array, code: string = MediaErrorCode.BadAacConfig): string => {
    const err = mediaError(() => parseAdtsHeader(bytes));
    expect(err.code).toBe(code);
    return err.message;
  };

  it("BAD_AAC_CONFIG: shorter than 7 bytes, every prefix of a valid header", () => {
    expect(bad(new Uint8Array(6))).toBe("ADTS header too short: 6 bytes, need at least 7");
    const h = adts({ crc: true });
    for (let n = 0; n < h.byteLength; n++) bad(h.slice(0, n));
  });

  it("BAD_AAC_CONFIG: a bad syncword (raw AAC without ADTS is named)", () => {
    expect(bad(adts({ sync: 0xffe }))).toBe(
      "ADTS header: syncword is 0xffe, must be 0xfff (is this raw AAC without ADTS headers? then send an AudioSpecificConfig)",
    );
    expect(bad(Uint8Array.of(0x12, 0x10, 0, 0, 0, 0, 0))).toMatch(/syncword is 0x121/);
  });

  it("BAD_AAC_CONFIG: layer other than 0 (MPEG audio, not AAC)", () => {
    expect(bad(adts({ layer: 1 }))).toBe("ADTS header: layer is 1, must be 0 (this looks like MPEG audio layer 3, not AAC)");
  });

  it("BAD_AAC_CONFIG: reserved or explicit sampling frequency index", () => {
    expect(bad(adts({ index: 13 }))).toBe("ADTS header: sampling_frequency_index 13 is reserved");
    expect(bad(adts({ index: 15 }))).toBe("ADTS header: sampling_frequency_index 15 is not allowed in ADTS");
  });

  it("BAD_AAC_CONFIG: profile 3 in MPEG-2 ADTS", () => {
    expect(bad(adts({ id: 1, profile: 3 }))).toBe("ADTS header: profile 3 is reserved in MPEG-2 ADTS");
    expect(parseAdtsHeader(adts({ id: 0, profile: 3 })).objectType).toBe(4);
  });

  it("BAD_AAC_CONFIG: aac_frame_length not longer than the header", () => {
    expect(bad(adts({ frameLength: 7 }))).toBe("ADTS header: aac_frame_length 7 leaves no room for data after the 7-byte header");
    expect(bad(adts({ frameLength: 9, crc: true }))).toBe("ADTS header: aac_frame_length 9 leaves no room for data after the 9-byte header");
  });

  it("UNSUPPORTED_AUDIO: channel_configuration 0", () => {
    expect(bad(adts({ channels: 0 }), MediaErrorCode.UnsupportedAudio)).toMatch(/^ADTS header: channel_configuration 0 \(channel layout in a program_config_element\) is not supported/);
  });

  it("UNSUPPORTED_AUDIO: several raw data blocks in one frame", () => {
    expect(bad(adts({ blocks: 3 }), MediaErrorCode.UnsupportedAudio)).toBe("ADTS header: 4 raw data blocks in one frame are not supported: one per frame");
  });

  it("fuzz: random 7..12 byte headers starting 0xFFF throw only MediaError; what parses is consistent", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 5, maxLength: 10 }), fc.boolean(), (rest, sync) => {
        const bytes = sync ? Uint8Array.from([0xff, 0xf0 | (rest[0]! & 0x0f), ...rest.subarray(1)]) : rest;
        try {
          const h = parseAdtsHeader(bytes);
          expect(h.frameLength).toBeGreaterThan(h.headerLength);
          expect([7, 9]).toContain(h.headerLength);
          expect(AAC_SAMPLE_RATES).toContain(h.sampleRate);
          // What ADTS says can always be turned into an AudioSpecificConfig that says the same.
          expect(parseAudioSpecificConfig(buildAudioSpecificConfig(h))).toMatchObject({ objectType: h.objectType, sampleRate: h.sampleRate, channels: h.channels });
        } catch (err) {
          if (!(err instanceof MediaError)) throw err;
        }
      }),
      { numRuns: 3000 },
    );
  });
});

// ---------------------------------------------------------------- fuzz

describe("fuzz: parseAudioSpecificConfig throws only MediaError", () => {
  /** Within bounds: what a successful parse may say. */
  function checkOrMediaError(bytes: Uint8Array): void {
    try {
      const cfg = parseAudioSpecificConfig(bytes);
      expect([1, 2, 3, 4, 5, 29]).toContain(cfg.objectType);
      expect([1, 2, 3, 4]).toContain(cfg.coreObjectType);
      expect(cfg.sampleRate).toBeGreaterThan(0);
      expect([1, 2, 3, 4, 5, 6, 8]).toContain(cfg.channels);
      expect([960, 1024, 1920, 2048]).toContain(cfg.samplesPerFrame);
      expect(cfg.codecString).toBe(`mp4a.40.${cfg.objectType}`);
    } catch (err) {
      if (!(err instanceof MediaError)) throw err;
      expect([MediaErrorCode.BadAacConfig, MediaErrorCode.UnsupportedAudio]).toContain(err.code);
    }
  }

  it("random bytes", () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 12 }), checkOrMediaError), { numRuns: 5000 });
  });

  it("mutated valid configs (hand and FFmpeg vectors)", () => {
    const vectors = [...HAND.map((c) => c.bytes), ...GOLDEN.map((c) => Uint8Array.from(c.asc))];
    fc.assert(
      fc.property(
        fc.constantFrom(...vectors),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 7 })), { minLength: 1, maxLength: 4 }),
        fc.nat(8),
        (vector, flips, cut) => {
          const bytes = Uint8Array.from(vector);
          for (const [at, bit] of flips) bytes[at % bytes.byteLength]! ^= 1 << bit;
          checkOrMediaError(bytes.subarray(0, Math.max(0, bytes.byteLength - (cut % 3))));
        },
      ),
      { numRuns: 5000 },
    );
  });
});
