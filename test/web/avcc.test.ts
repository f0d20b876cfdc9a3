/**
 * web/sdk/annexb.ts, the AVCC side: splitAvcc (4-byte length-prefixed NAL
 * units, as WebCodecs' "avc" format emits) and avcCForKeyframe, which builds
 * the avcC from the keyframe's in-band SPS/PPS. The bytes are real: Firefox
 * 153's WebCodecs H.264 encoder at 1280x720, avc1.42e01f, whose
 * decoderConfig.description doubles each parameter set's NAL header byte.
 */
import { describe, expect, it } from "vitest";
import { parseAvcDecoderConfig } from "../../server/media/avc.js";
import { avcCForKeyframe, buildAvcC, splitAvcc } from "../../web/sdk/annexb.js";

/** Bytes from hex pairs separated by spaces. */
function hex(s: string): Uint8Array {
  return Uint8Array.from(s.trim().split(/\s+/), (b) => parseInt(b, 16));
}

const concat = (...parts: Uint8Array[]): Uint8Array => new Uint8Array(Buffer.concat(parts));

const SPS = hex("67 42 c0 1f d9 00 50 05 ba 10 00 00 03 00 10 01 e8 48 00 f1 83 24 80"); // 23 bytes
const PPS = hex("68 cb 8c b2");
const IDR = hex("65 88 84 00 ff"); // a stand-in IDR slice

/** Firefox 153's keyframe head: SPS, PPS, IDR, each after a 4-byte length. */
const KEYFRAME = concat(hex("00 00 00 17"), SPS, hex("00 00 00 04"), PPS, hex("00 00 00 05"), IDR);

/** Firefox 153's decoderConfig.description: each parameter set's NAL header byte doubled (67 67, 68 68). */
const BROKEN_DESCRIPTION = hex(
  "01 42 c0 1f 03 01 00 18 67 67 42 c0 1f d9 00 50 05 ba 10 00 00 03 00 10 01 e8 48 00 f1 83 24 80 01 00 05 68 68 cb 8c b2",
);

describe("splitAvcc", () => {
  it("splits Firefox's keyframe into SPS, PPS and IDR", () => {
    const units = splitAvcc(KEYFRAME);
    expect(units).toHaveLength(3);
    expect(units.map((u) => u[0]! & 0x1f)).toEqual([7, 8, 5]);
    expect(Array.from(units[0]!)).toEqual(Array.from(SPS));
    expect(Array.from(units[1]!)).toEqual(Array.from(PPS));
    expect(Array.from(units[2]!)).toEqual(Array.from(IDR));
  });

  it("stops at a length that runs past the end, keeping the complete units", () => {
    const truncated = KEYFRAME.subarray(0, KEYFRAME.length - 2); // the IDR says 5 bytes, 3 are there
    let units: Uint8Array[] = [];
    expect(() => (units = splitAvcc(truncated))).not.toThrow();
    expect(units.map((u) => Array.from(u))).toEqual([Array.from(SPS), Array.from(PPS)]);
  });

  it("stops at a length prefix that is itself cut short", () => {
    const units = splitAvcc(concat(hex("00 00 00 04"), PPS, hex("00 00")));
    expect(units.map((u) => Array.from(u))).toEqual([Array.from(PPS)]);
  });

  it("stops at a zero length", () => {
    const units = splitAvcc(concat(hex("00 00 00 04"), PPS, hex("00 00 00 00"), hex("00 00 00 05"), IDR));
    expect(units.map((u) => Array.from(u))).toEqual([Array.from(PPS)]);
  });

  it("returns nothing for empty input", () => {
    expect(splitAvcc(new Uint8Array(0))).toEqual([]);
  });
});

describe("buildAvcC", () => {
  it("lays out the AVCDecoderConfigurationRecord byte by byte", () => {
    expect(Array.from(buildAvcC(SPS, PPS))).toEqual(
      Array.from(
        concat(
          hex("01"), //       configurationVersion
          hex("42"), //       AVCProfileIndication: 66 (Baseline), from SPS[1]
          hex("c0"), //       profile_compatibility: constraint_set0+1 (Constrained Baseline), from SPS[2]
          hex("1f"), //       AVCLevelIndication: 31 (level 3.1), from SPS[3]
          hex("ff"), //       6 reserved bits set | lengthSizeMinusOne = 3
          hex("e1"), //       3 reserved bits set | numOfSequenceParameterSets = 1
          hex("00 17"), //    sequenceParameterSetLength = 23
          SPS, //             the SPS, its NAL header byte 67 once
          hex("01"), //       numOfPictureParameterSets = 1
          hex("00 04"), //    pictureParameterSetLength = 4
          PPS, //             the PPS, its NAL header byte 68 once
        ),
      ),
    );
  });
});

describe("avcCForKeyframe", () => {
  const EXPECTED = hex(
    "01 42 c0 1f ff e1 00 17 67 42 c0 1f d9 00 50 05 ba 10 00 00 03 00 10 01 e8 48 00 f1 83 24 80 01 00 04 68 cb 8c b2",
  );

  it("replaces Firefox's broken description with the avcC of the in-band SPS/PPS", () => {
    const avcC = avcCForKeyframe(KEYFRAME, BROKEN_DESCRIPTION);
    expect(avcC).toBeDefined();
    expect(Array.from(avcC!)).toEqual(Array.from(buildAvcC(SPS, PPS)));
    expect(Array.from(avcC!)).toEqual(Array.from(EXPECTED));
  });

  it("finds SPS/PPS after an access unit delimiter (WebKit)", () => {
    const keyframe = concat(hex("00 00 00 02 09 10"), KEYFRAME);
    const avcC = avcCForKeyframe(keyframe, BROKEN_DESCRIPTION);
    expect(Array.from(avcC!)).toEqual(Array.from(EXPECTED));
  });

  it("keeps the encoder's description when the keyframe has no in-band SPS/PPS", () => {
    const idrOnly = concat(hex("00 00 00 05"), IDR);
    expect(avcCForKeyframe(idrOnly, BROKEN_DESCRIPTION)).toBe(BROKEN_DESCRIPTION);
    expect(avcCForKeyframe(idrOnly, undefined)).toBeUndefined();
  });

  it("keeps the description when only one of SPS and PPS is in band", () => {
    const spsOnly = concat(hex("00 00 00 17"), SPS, hex("00 00 00 05"), IDR);
    expect(avcCForKeyframe(spsOnly, BROKEN_DESCRIPTION)).toBe(BROKEN_DESCRIPTION);
  });
});

describe("buildAvcC for the High profiles", () => {
  // SPS and PPS of `ffmpeg -f lavfi -i testsrc=size=1920x1080:rate=30 -frames:v 1
  //   -c:v libx264 -profile:v high -pix_fmt yuv420p -f h264 hp.h264`.
  const sps = Uint8Array.from("67 64 00 28 ac d9 40 78 02 27 e5 c0 44 00 00 03 00 04 00 00 03 00 f0 3c 60 c6 58".split(" ").map((h) => parseInt(h, 16)));
  const pps = Uint8Array.from([0x68, 0xeb, 0xe3, 0xcb, 0x22, 0xc0]);

  it("ends with chroma_format, the bit depths and no SequenceParameterSetExt, and the bridge's parser reads them back", () => {
    const avcC = buildAvcC(sps, pps);
    expect(avcC.length).toBe(11 + sps.length + pps.length + 4);
    expect(Array.from(avcC.subarray(avcC.length - 4))).toEqual([
      0xfd, // 111111 | chroma_format 1 (4:2:0)
      0xf8, // 11111 | bit_depth_luma_minus8 0
      0xf8, // 11111 | bit_depth_chroma_minus8 0
      0x00, // numOfSequenceParameterSetExt
    ]);
    const parsed = parseAvcDecoderConfig(avcC);
    expect(parsed.highProfileExtension).toMatchObject({ chromaFormat: 1, bitDepthLuma: 8, bitDepthChroma: 8 });
    expect([parsed.info.width, parsed.info.height, parsed.info.profileIdc]).toEqual([1920, 1080, 100]);
    expect(parsed.warnings).toEqual([]);
  });
});
