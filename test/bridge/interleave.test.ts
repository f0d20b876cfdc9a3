// Cross-track order: by default the bridge holds each frame until no frame of
// the other track can precede it (audio from a browser's encoder worker comes
// late; test/bridge/release-rule.test.ts has the rule in real time);
// a client that says `interleaved` in "start" already sends in time order,
// and its frames go out as they come. Checked on what the bridge wrote: its
// FLV recording, read while the session is live, and ffprobe at the end.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Bridge } from "../../server/bridge/bridge.js";
import { createLogger } from "../../server/log.js";
import { CloseCode, type MediaFrame } from "../../protocol/wire.js";
import { flvAsWire, type FlvAsWire } from "../support/flv-frames.js";
import { cachedTestFlv, ffprobeFrames } from "../support/ingest.js";
import { WireTestClient } from "../support/wire-client.js";

let bridge: Bridge;
let recordDir: string;
let media: FlvAsWire;

beforeAll(async () => {
  recordDir = await mkdtemp(join(tmpdir(), "golive-interleave-"));
  bridge = new Bridge({ port: 0, recordDir, logger: createLogger({ level: "silent" }) });
  await bridge.listen();
  media = await flvAsWire(await cachedTestFlv({ seconds: 3, gop: 60 }));
});

afterAll(async () => {
  await bridge?.close();
  if (recordDir) await rm(recordDir, { recursive: true, force: true });
});

/** A recording-only session; `interleaved` as given. Returns the client and the recording's path. */
async function started(interleaved?: boolean): Promise<{ c: WireTestClient; file: string }> {
  const c = await WireTestClient.connect(bridge.ingestUrl);
  c.send({ type: "start", version: 1, destinations: [], record: true, ...(interleaved !== undefined && { interleaved }) });
  const accepted = await c.waitFor("accepted");
  c.sendConfigs(media);
  return { c, file: join(recordDir, accepted.recording!) };
}

interface Written {
  type: "video" | "audio";
  ms: number;
}

/**
 * The media tags (AVC NALUs, AAC raw) of the complete tags written so far; a tag still being written is left out.
 * "accepted" names the recording before the file is opened, so a file not there yet has nothing written.
 */
async function written(file: string): Promise<Written[]> {
  const b = await readFile(file).catch((e: NodeJS.ErrnoException) => {
    if (e.code === "ENOENT") return Buffer.alloc(0);
    throw e;
  });
  const out: Written[] = [];
  let at = 13;
  while (at + 11 <= b.length) {
    const size = (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!;
    if (at + 11 + size + 4 > b.length) break;
    const ms = ((b[at + 4]! << 16) | (b[at + 5]! << 8) | b[at + 6]! | (b[at + 7]! << 24)) >>> 0;
    const body = b.subarray(at + 11, at + 11 + size);
    if (b[at] === 9 && (body[0]! & 0x0f) === 7 && body[1] === 1) out.push({ type: "video", ms });
    if (b[at] === 8 && body[0]! >> 4 === 10 && body[1] === 1) out.push({ type: "audio", ms });
    at += 11 + size + 4;
  }
  return out;
}

/** Polls the recording until `pred` holds or `ms` pass; returns the last read. */
async function writtenWhen(file: string, pred: (w: Written[]) => boolean, ms: number): Promise<Written[]> {
  const deadline = Date.now() + ms;
  for (;;) {
    const w = await written(file);
    if (pred(w) || Date.now() > deadline) return w;
    await new Promise((r) => setTimeout(r, 20));
  }
}

const isVideo = (f: MediaFrame): boolean => f.track === 0;
const ms = (f: MediaFrame): number => f.timestampUs / 1000;
const videoCount = (w: Written[]): number => w.filter((t) => t.type === "video").length;

/** Stops the session; the recording holds every frame of the file. */
async function stopAndProbe(c: WireTestClient, file: string): Promise<void> {
  c.send({ type: "stop" });
  await c.waitFor("ended");
  expect((await c.closed).code).toBe(CloseCode.Normal);
  const probe = await ffprobeFrames(file);
  expect(probe.counts).toEqual({ video: media.counts.video, audio: media.counts.audio });
}

describe("each track's timestamps", () => {
  it("a frame stamped at, or just before, its track's last one is written 1 ms after it: decode times strictly increase and FFmpeg reads the file without an error", async () => {
    const { c, file } = await started();
    // Two video frames in one millisecond (MediaRecorder's WebM has ms timestamps) and one 20 ms
    // back (jitter within the tolerance), as a MediaRecorder-fed client can send them.
    const video = media.frames.filter(isVideo);
    const sameAs = new Map<MediaFrame, number>([[video[5]!, video[4]!.timestampUs + 300], [video[9]!, video[8]!.timestampUs - 20_000]]);
    const frames = media.frames.map((f) => (sameAs.has(f) ? { ...f, timestampUs: sameAs.get(f)! } : f));
    await c.sendFrames(frames);
    await stopAndProbe(c, file);
    const v = (await written(file)).filter((t) => t.type === "video").map((t) => t.ms);
    expect(v[5]).toBe(ms(video[4]!) + 1);
    expect(v[9]).toBe(ms(video[8]!) + 1);
    for (let i = 1; i < v.length; i++) expect(v[i]!, `video frame ${i}`).toBeGreaterThan(v[i - 1]!);
    const { execFile } = await import("node:child_process");
    const { promisify } = await import("node:util");
    const { stderr } = await promisify(execFile)("ffmpeg", ["-v", "error", "-i", file, "-enc_time_base:v", "-1", "-f", "null", "-"]);
    expect(stderr.trim()).toBe("");
    expect(c.messages.filter((m) => m.type === "error")).toEqual([]);
  });
});

describe("cross-track order", () => {
  it("by default a video frame waits for the audio frame covering its time; with interleaved it is written at once", async () => {
    // The file's frames in order, up to and including its 10th video frame: nothing after it yet.
    const tenth = media.frames.filter(isVideo)[9]!;
    const cut = media.frames.indexOf(tenth) + 1;
    // The audio frame covering the 10th frame's time (the last one before it, 1024 samples long).
    const cover = media.frames.slice(0, cut).findLast((f) => !isVideo(f))!;
    expect(ms(tenth) - ms(cover)).toBeLessThan((1024 * 1000) / 44100);
    for (const interleaved of [false, true]) {
      const { c, file } = await started(interleaved);
      // By default without that audio frame (an in-order client sends it before the video).
      await c.sendFrames(media.frames.slice(0, cut).filter((f) => interleaved || f !== cover));
      await c.flushed();
      // Held: the audio covering the 10th frame's time has not come, so audio stamped before it may
      // still come; the 9 before it are written (each covered by audio sent before it), and a 10th
      // does not follow while nothing else comes (the audio is due by how late its frames were).
      await writtenWhen(file, (t) => videoCount(t) >= 9, 3000);
      const w = await writtenWhen(file, (t) => videoCount(t) === 10, interleaved ? 3000 : 300);
      expect(videoCount(w)).toBe(interleaved ? 10 : 9);
      if (!interleaved) {
        // The covering audio frame comes: the 10th is written right after it, before any later audio.
        c.sendFrame(cover);
        const after = await writtenWhen(file, (t) => videoCount(t) === 10, 3000);
        expect(after.slice(-2)).toEqual([{ type: "audio", ms: ms(cover) }, { type: "video", ms: ms(tenth) }]);
      }
      await c.sendFrames(media.frames.slice(cut));
      await stopAndProbe(c, file);
      expect(c.messages.filter((m) => m.type === "error")).toEqual([]);
    }
  });

  it("interleaved: a file's frames in decode order come out in the same order, each track complete", async () => {
    const { c, file } = await started(true);
    await c.sendFrames(media.frames);
    await stopAndProbe(c, file);
    const tags = await written(file);
    expect(tags.map((t) => `${t.type}@${t.ms}`)).toEqual(media.frames.map((f) => `${isVideo(f) ? "video" : "audio"}@${ms(f)}`));
  });

  it("a client that breaks its interleaved promise is told once (NOT_INTERLEAVED, not fatal) and is re-ordered from then on", async () => {
    const { c, file } = await started(true);
    const upTo = (f: MediaFrame, t: number): boolean => ms(f) < t;
    // The first second in order.
    await c.sendFrames(media.frames.filter((f) => upTo(f, 1000)));
    // Then the video of 1.0-1.5 s before its audio: the audio at 1.0 s comes after video at ~1.47 s.
    const v1 = media.frames.filter((f) => isVideo(f) && ms(f) >= 1000 && ms(f) < 1500);
    const a1 = media.frames.filter((f) => !isVideo(f) && ms(f) >= 1000 && ms(f) < 1500);
    await c.sendFrames(v1);
    await c.sendFrames(a1);
    const warning = await c.waitFor("error");
    expect(warning).toMatchObject({ code: "NOT_INTERLEAVED", fatal: false });
    expect(warning.message).toMatch(/track 1 sent a frame at 10\d\d ms after a frame at 14\d\d ms of another track/);
    // From now on video waits for audio again: 1.5-2.0 s of video alone stays unwritten.
    const v2 = media.frames.filter((f) => isVideo(f) && ms(f) >= 1500 && ms(f) < 2000);
    const before = videoCount(await writtenWhen(file, (t) => videoCount(t) >= media.frames.filter((f) => isVideo(f) && ms(f) < 1500).length, 3000));
    await c.sendFrames(v2);
    await c.flushed();
    const held = await writtenWhen(file, (t) => videoCount(t) > before, 500);
    expect(videoCount(held)).toBe(before);
    // The rest, in order; the session carries on to a complete recording and a clean end.
    await c.sendFrames(media.frames.filter((f) => ms(f) >= 1500 && !(isVideo(f) && ms(f) < 2000)));
    await stopAndProbe(c, file);
    expect(c.messages.filter((m) => m.type === "error")).toHaveLength(1);
    // Each track stayed in order; across tracks only the broken span is out of order.
    const tags = await written(file);
    for (const type of ["video", "audio"] as const) {
      const t = tags.filter((x) => x.type === type).map((x) => x.ms);
      expect(t).toEqual([...t].sort((a, b) => a - b));
    }
    const after = tags.filter((t) => t.ms >= 1500);
    for (let i = 1; i < after.length; i++) expect(after[i]!.ms).toBeGreaterThanOrEqual(after[i - 1]!.ms);
  });
});
