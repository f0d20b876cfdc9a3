/**
 * web/audio/pcm.ts: every WebCodecs sample format read into planar float32
 * (through an AudioData stand-in whose copyTo behaves as the spec says:
 * interleaved formats have one plane, planar ones one per channel), channel
 * fitting, and the f32le interleaving ffmpeg reads.
 */
import { describe, expect, it } from "vitest";
import { AacEncoderError, AacErrorCode } from "../../web/audio/errors.js";
import { fitChannels, interleaveF32le, readPlanarF32, type AudioDataLike } from "../../web/audio/pcm.js";

type Format = AudioSampleFormat;

/** An AudioData stand-in holding `stored` (already in `format`'s representation), one array per channel. */
function fakeData(format: Format | null, stored: number[][], sampleRate = 48000): AudioDataLike & { copies: { planeIndex: number; format?: Format }[] } {
  const channels = stored.length;
  const frames = stored[0]?.length ?? 0;
  const copies: { planeIndex: number; format?: Format }[] = [];
  const planar = format?.endsWith("-planar") ?? false;
  return {
    format,
    numberOfChannels: channels,
    numberOfFrames: frames,
    sampleRate,
    timestamp: 0,
    copies,
    copyTo(dest, options) {
      copies.push({ planeIndex: options.planeIndex, ...(options.format && { format: options.format }) });
      const f = options.format ?? format!;
      const buffer = dest instanceof ArrayBuffer ? dest : (dest as ArrayBufferView).buffer;
      const view = { u8: Uint8Array, s16: Int16Array, s32: Int32Array, f32: Float32Array }[f.replace("-planar", "") as "u8"];
      const out = new view(buffer as ArrayBuffer);
      const values = planar ? stored[options.planeIndex]! : Array.from({ length: frames * channels }, (_, i) => stored[i % channels]![Math.floor(i / channels)]!);
      if (!planar && options.planeIndex !== 0) throw new RangeError("interleaved AudioData has one plane");
      if (out.length < values.length) throw new RangeError("destination too small");
      out.set(values);
    },
  };
}

describe("readPlanarF32", () => {
  const cases: [Format, number[], number[]][] = [
    // stored values, then the floats they mean
    ["u8", [0, 64, 128, 192, 255], [-1, -0.5, 0, 0.5, 127 / 128]],
    ["s16", [-32768, -16384, 0, 16384, 32767], [-1, -0.5, 0, 0.5, 32767 / 32768]],
    ["s32", [-2147483648, -1073741824, 0, 1073741824, 2147483647], [-1, -0.5, 0, 0.5, 2147483647 / 2147483648]],
    ["f32", [-1, -0.5, 0, 0.5, 0.25], [-1, -0.5, 0, 0.5, 0.25]],
  ];
  for (const [base, stored, floats] of cases) {
    for (const format of [base, `${base}-planar`] as Format[]) {
      it(`reads ${format}, stereo, channels kept apart`, () => {
        const right = [...stored].reverse();
        const data = fakeData(format, [stored, right]);
        const planes = readPlanarF32(data);
        expect(planes).toHaveLength(2);
        expect(Array.from(planes[0]!)).toEqual(floats.map((v) => Math.fround(v)));
        expect(Array.from(planes[1]!)).toEqual([...floats].reverse().map((v) => Math.fround(v)));
        // One copy per plane, in the data's own format (no conversion asked of the browser).
        expect(data.copies).toEqual(format.endsWith("-planar") ? [{ planeIndex: 0, format }, { planeIndex: 1, format }] : [{ planeIndex: 0, format }]);
      });
    }
  }

  it("reads mono and empty data", () => {
    expect(Array.from(readPlanarF32(fakeData("f32", [[0.5, -0.5]]))[0]!)).toEqual([0.5, -0.5]);
    expect(readPlanarF32(fakeData("f32-planar", [[], []])).map((p) => p.length)).toEqual([0, 0]);
  });

  it("refuses closed data, unknown formats and no channels (AAC_UNSUPPORTED_INPUT)", () => {
    for (const data of [fakeData(null, [[0]]), fakeData("f64" as Format, [[0]]), fakeData("f32", [])]) {
      let error: unknown;
      try {
        readPlanarF32(data);
      } catch (err) {
        error = err;
      }
      expect(error).toBeInstanceOf(AacEncoderError);
      expect((error as AacEncoderError).code).toBe(AacErrorCode.UnsupportedInput);
    }
  });
});

describe("fitChannels", () => {
  const l = Float32Array.of(1, 0.5, -1);
  const r = Float32Array.of(0, 0.5, 1);
  it("keeps a matching count as is", () => {
    const planes = [l, r];
    expect(fitChannels(planes, 2)).toBe(planes);
  });
  it("copies mono to both sides of stereo", () => {
    expect(fitChannels([l], 2)).toEqual([l, l]);
  });
  it("downmixes stereo to mono as the mean", () => {
    expect(Array.from(fitChannels([l, r], 1)[0]!)).toEqual([0.5, 0.5, 0]);
  });
  it("keeps front left and right of more channels", () => {
    const c = Float32Array.of(9, 9, 9);
    expect(fitChannels([l, r, c, c, c, c], 2)).toEqual([l, r]);
    expect(Array.from(fitChannels([l, r, c], 1)[0]!)).toEqual([0.5, 0.5, 0]);
  });
});

describe("interleaveF32le", () => {
  it("writes L0 R0 L1 R1 as little-endian float32", () => {
    const bytes = interleaveF32le([Float32Array.of(1, -2, 7), Float32Array.of(0.5, 0, 7)], 0, 2);
    expect(Array.from(bytes)).toEqual([
      0x00, 0x00, 0x80, 0x3f, // L0  1.0  = 0x3F800000
      0x00, 0x00, 0x00, 0x3f, // R0  0.5  = 0x3F000000
      0x00, 0x00, 0x00, 0xc0, // L1 -2.0  = 0xC0000000
      0x00, 0x00, 0x00, 0x00, // R1  0.0
    ]);
  });
  it("reads from an offset and refuses ranges outside the planes", () => {
    const p = Float32Array.of(1, 2, 3, 4);
    expect(Array.from(new Float32Array(interleaveF32le([p], 1, 2).buffer))).toEqual([2, 3]);
    expect(interleaveF32le([p], 4, 0).byteLength).toBe(0);
    expect(() => interleaveF32le([p], 3, 2)).toThrow(RangeError);
    expect(() => interleaveF32le([p], -1, 1)).toThrow(RangeError);
  });
});
