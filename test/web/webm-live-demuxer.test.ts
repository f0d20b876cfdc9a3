// WebmLiveDemuxer (web/sdk/webm-live-demuxer.ts): a live Matroska stream as
// MediaRecorder writes it, checked against ffprobe's packets of the same
// file, whole and split at every byte offset; frames handed over the moment
// their block is complete; unknown-size Clusters; bad input.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { readVint, WebmError, WebmLiveDemuxer, type WebmFrame, type WebmTrack } from "../../web/sdk/webm-live-demuxer.js";
import { requireBinary } from "../../server/testing/system.js";

interface Probed {
  ptsMs: number;
  size: number;
  key: boolean;
}

let file: Uint8Array;
let probed: Probed[];

beforeAll(() => {
  const dir = mkdtempSync(join(tmpdir(), "golive-webm-"));
  const path = join(dir, "live.mkv");
  // 1 s of 160x120 H.264 at 10 fps, a keyframe every 5 frames, "live" (Segment of unknown size):
  execFileSync(requireBinary("ffmpeg"), ["-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=160x120:rate=10", "-t", "1", "-c:v", "libx264", "-g", "5", "-bf", "0", "-f", "matroska", "-live", "1", path]);
  file = new Uint8Array(readFileSync(path));
  probed = execFileSync(requireBinary("ffprobe"), ["-v", "error", "-show_entries", "packet=pts_time,size,flags", "-of", "csv=p=0", path], { encoding: "utf8" })
    .trim()
    .split("\n")
    .map((l) => {
      const [pts, size, flags] = l.split(",");
      return { ptsMs: Math.round(Number(pts) * 1000), size: Number(size), key: flags!.startsWith("K") };
    });
});

function demux(chunks: Uint8Array[]): { tracks: WebmTrack[]; frames: WebmFrame[] } {
  const tracks: WebmTrack[] = [];
  const frames: WebmFrame[] = [];
  const d = new WebmLiveDemuxer({ onTrack: (t) => tracks.push(t), onFrame: (f) => frames.push(f) });
  for (const c of chunks) d.push(c);
  return { tracks, frames };
}

/** The file with its first Cluster's size replaced by "unknown" (8 bytes of 01 FF..FF), as MediaRecorder writes Clusters. */
function withUnknownClusterSize(bytes: Uint8Array): Uint8Array {
  const at = Buffer.from(bytes).indexOf(Buffer.from([0x1f, 0x43, 0xb6, 0x75]));
  const size = readVint(bytes, at + 4, false)!;
  return new Uint8Array(Buffer.concat([bytes.subarray(0, at + 4), Buffer.from([0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]), bytes.subarray(at + 4 + size.length)]));
}

describe("WebmLiveDemuxer", () => {
  it("reads the track and every frame ffprobe sees: timestamps, key flags, sizes", () => {
    const { tracks, frames } = demux([file]);
    expect(tracks).toEqual([expect.objectContaining({ number: 1, codecId: "V_MPEG4/ISO/AVC", width: 160, height: 120 })]);
    expect(tracks[0]!.codecPrivate?.[0]).toBe(1); // an avcC
    expect(frames.map((f) => ({ ptsMs: f.timestampMs, size: f.data.length, key: f.key }))).toEqual(probed);
    expect(probed).toHaveLength(10);
  });

  it("gives the same frames however the bytes are split (every split point)", () => {
    const whole = demux([file]).frames;
    for (let i = 1; i < file.length; i += 7) {
      const { frames } = demux([file.subarray(0, i), file.subarray(i)]);
      expect(frames.length, `split at ${i}`).toBe(whole.length);
      expect(frames.map((f) => f.data.length)).toEqual(whole.map((f) => f.data.length));
    }
    // And one byte at a time.
    const bytes = Array.from({ length: file.length }, (_, i) => file.subarray(i, i + 1));
    expect(demux(bytes).frames.map((f) => f.timestampMs)).toEqual(whole.map((f) => f.timestampMs));
  });

  it("hands a frame over as soon as its block's last byte arrives, not at the next Cluster", () => {
    const frames: WebmFrame[] = [];
    const d = new WebmLiveDemuxer({ onTrack: () => undefined, onFrame: (f) => frames.push(f) });
    const bytes = withUnknownClusterSize(file);
    // Find the end of the first SimpleBlock (ID A3) after the Cluster.
    const cluster = Buffer.from(bytes).indexOf(Buffer.from([0x1f, 0x43, 0xb6, 0x75]));
    const block = Buffer.from(bytes).indexOf(0xa3, cluster);
    const size = readVint(bytes, block + 1, false)!;
    const end = block + 1 + size.length + size.value;
    d.push(bytes.subarray(0, end - 1));
    expect(frames).toHaveLength(0);
    d.push(bytes.subarray(end - 1, end));
    expect(frames).toHaveLength(1);
    expect(frames[0]!.key).toBe(true);
    d.push(bytes.subarray(end));
    expect(frames).toHaveLength(10);
  });

  it("reads Clusters of unknown size (MediaRecorder's), ended by the next Cluster", () => {
    expect(demux([withUnknownClusterSize(file)]).frames.map((f) => [f.timestampMs, f.key, f.data.length])).toEqual(demux([file]).frames.map((f) => [f.timestampMs, f.key, f.data.length]));
  });

  it("refuses malformed input with a WebmError", () => {
    const d = new WebmLiveDemuxer({ onTrack: () => undefined, onFrame: () => undefined });
    expect(() => d.push(Uint8Array.of(0x00, 0x01))).toThrow(WebmError); // an EBML integer longer than 8 bytes
    // A laced SimpleBlock inside a Cluster.
    const laced = Uint8Array.of(0x1f, 0x43, 0xb6, 0x75, 0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xa3, 0x85, 0x81, 0x00, 0x00, 0x82, 0x00);
    expect(() => new WebmLiveDemuxer({ onTrack: () => undefined, onFrame: () => undefined }).push(laced)).toThrow("laced");
  });
});
