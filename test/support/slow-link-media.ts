/**
 * Media helpers for the long resilience tests (a slow link, an ingest
 * outage): a cached 720p30 FLV at a given video bitrate, the frames of an
 * FLV recording and how they compare with the input, the recording's newest
 * tag while nginx-rtmp is still writing it, and arrival times of the
 * bridge's messages.
 */
import { mkdir, open, readFile, rename, stat, type FileHandle } from "node:fs/promises";
import { join } from "node:path";
import type { MediaFrame } from "../../protocol/wire.js";
import { exitStatus, run } from "../../server/testing/ingest/process.js";
import { requireBinary } from "../../server/testing/system.js";
import { parseAudioBody, parseVideoBody, readFlv } from "./flv-read.js";
import { TEST_MEDIA_CACHE_DIR } from "./ingest.js";
import type { WireTestClient } from "./wire-client.js";

/** Options of {@link cachedLinkTestFlv}. */
export interface LinkTestFlvOptions {
  /** Duration, s. */
  seconds: number;
  /** libx264 `-b:v` and `-maxrate`, kbit/s (`-bufsize` is half of it: a tight CBR-like rate). */
  videoKbps: number;
}

/**
 * A 1280x720 30 fps H.264 + AAC FLV, cached in TEST_MEDIA_CACHE_DIR (for
 * `videoKbps` 2400, `seconds` 62):
 *
 *     ffmpeg -f lavfi -i testsrc2=size=1280x720:rate=30 -f lavfi -i sine=frequency=440:sample_rate=44100 \
 *       -t 62 -c:v libx264 -preset ultrafast -tune zerolatency -b:v 2400k -maxrate 2400k -bufsize 1200k \
 *       -g 60 -keyint_min 60 -sc_threshold 0 -bf 0 -pix_fmt yuv420p -c:a aac -b:a 128k -ar 44100 -f flv out.flv
 *
 * A keyframe every 2 s; with audio at 128 kbit/s the whole is ~2.5 Mbit/s.
 */
export async function cachedLinkTestFlv(options: LinkTestFlvOptions): Promise<string> {
  const { seconds, videoKbps } = options;
  if (!(seconds > 0) || !Number.isInteger(videoKbps) || videoKbps < 1) throw new TypeError(`cachedLinkTestFlv: bad options ${JSON.stringify(options)}`);
  const out = join(TEST_MEDIA_CACHE_DIR, `testsrc2-1280x720-30fps-${seconds}s-gop60-${videoKbps}k-aac128k-v1.flv`);
  if (((await stat(out).catch(() => undefined))?.size ?? 0) > 0) return out;
  await mkdir(TEST_MEDIA_CACHE_DIR, { recursive: true });
  const temp = `${out}.${process.pid}.tmp.flv`;
  const result = await run(`ffmpeg (${videoKbps} kbit/s flv)`, requireBinary("ffmpeg"), [
    "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
    "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100",
    "-t", String(seconds), "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency",
    "-b:v", `${videoKbps}k`, "-maxrate", `${videoKbps}k`, "-bufsize", `${Math.round(videoKbps / 2)}k`,
    "-g", "60", "-keyint_min", "60", "-sc_threshold", "0", "-bf", "0", "-pix_fmt", "yuv420p",
    "-c:a", "aac", "-b:a", "128k", "-ar", "44100", "-f", "flv", temp,
  ], { timeoutMs: 180_000 });
  if (result.code !== 0) throw new Error(`ffmpeg failed (status ${exitStatus(result)}):\n${result.output}`);
  await rename(temp, out);
  return out;
}

/** A media frame of a recording: its FLV timestamp (ms), keyframe flag and payload. */
export interface RecordedFrame {
  ts: number;
  key: boolean;
  payload: Uint8Array;
}

/** Video and audio frames of an FLV file (sequence headers left out). */
export async function recordedFrames(path: string): Promise<{ video: RecordedFrame[]; audio: RecordedFrame[] }> {
  const flv = readFlv(new Uint8Array(await readFile(path)));
  const video: RecordedFrame[] = [];
  const audio: RecordedFrame[] = [];
  for (const tag of flv.tags) {
    if (tag.type === 9) {
      const v = parseVideoBody(tag.body);
      if (v.kind === "legacy" && v.avcPacketType === 1) video.push({ ts: tag.timestamp, key: v.frameType === 1, payload: v.payload });
    } else if (tag.type === 8) {
      const a = parseAudioBody(tag.body);
      if (a.kind === "legacy" && a.aacPacketType === 1) audio.push({ ts: tag.timestamp, key: true, payload: a.payload });
    }
  }
  return { video, audio };
}

/** Same payload, byte for byte. */
export const samePayload = (a: { payload: Uint8Array }, b: { payload: Uint8Array }): boolean => Buffer.compare(a.payload, b.payload) === 0;

/**
 * First index where `got` and `want` differ by payload (or where one ends
 * before the other); -1 when they are the same frames in the same order.
 */
export function firstDifference(got: readonly { payload: Uint8Array }[], want: readonly { payload: Uint8Array }[]): number {
  const n = Math.min(got.length, want.length);
  for (let i = 0; i < n; i++) if (!samePayload(got[i]!, want[i]!)) return i;
  return got.length === want.length ? -1 : n;
}

/**
 * How the recorded video of a congested destination differs from the input:
 * which input frames are missing, and the first violation of "only whole
 * tails of GOPs are missing" (an inter frame recorded after an earlier frame
 * of its GOP was dropped, a keyframe missing, or a frame that is not the
 * input's next one), if any.
 */
export function gopTailCheck(got: readonly RecordedFrame[], input: readonly MediaFrame[]): { missing: number; violation: string | undefined } {
  let at = 0;
  let dropping = false;
  let missing = 0;
  for (const want of input) {
    const g = got[at];
    if (g && samePayload(g, want)) {
      if (dropping && !want.keyframe) return { missing, violation: `inter frame at ${want.timestampUs / 1000} ms recorded after a drop in its GOP` };
      dropping = false;
      at++;
    } else {
      if (want.keyframe) return { missing, violation: `keyframe at ${want.timestampUs / 1000} ms missing` };
      dropping = true;
      missing++;
    }
  }
  if (at !== got.length) return { missing, violation: `${got.length - at} recorded frames not matched to the input in order (first at recorded index ${at})` };
  return { missing, violation: undefined };
}

/**
 * Follows an FLV file that nginx-rtmp is still writing: each `poll()` reads
 * what was appended since the last one and returns the timestamp of the
 * newest complete tag (undefined while there is none). A tag cut by the
 * read waits for the next poll.
 */
export class FlvTail {
  readonly path: string;
  #file: FileHandle | undefined;
  #offset = 0;
  #pending = Buffer.alloc(0);
  #headerDone = false;
  #lastTs: number | undefined;
  /** Complete tags read so far. */
  tags = 0;

  constructor(path: string) {
    this.path = path;
  }

  async poll(): Promise<number | undefined> {
    if (!this.#file) {
      try {
        this.#file = await open(this.path, "r");
      } catch {
        return undefined; // not created yet
      }
    }
    const size = (await this.#file.stat()).size;
    if (size > this.#offset) {
      const chunk = Buffer.alloc(size - this.#offset);
      const { bytesRead } = await this.#file.read(chunk, 0, chunk.length, this.#offset);
      this.#offset += bytesRead;
      this.#pending = Buffer.concat([this.#pending, chunk.subarray(0, bytesRead)]);
    }
    this.#parse();
    return this.#lastTs;
  }

  #parse(): void {
    let at = 0;
    const b = this.#pending;
    if (!this.#headerDone) {
      if (b.length < 13) return;
      if (b.toString("latin1", 0, 3) !== "FLV") throw new Error(`${this.path}: not an FLV file`);
      at = b.readUInt32BE(5) + 4; // DataOffset, then PreviousTagSize0
      if (b.length < at) return;
      this.#headerDone = true;
    }
    // Tag header (E.4.1): type (1), DataSize (3), Timestamp (3), TimestampExtended (1), StreamID (3); body; PreviousTagSize (4).
    while (b.length - at >= 11) {
      const size = b.readUIntBE(at + 1, 3);
      const end = at + 11 + size + 4;
      if (end > b.length) break;
      this.#lastTs = ((b[at + 7]! << 24) | b.readUIntBE(at + 4, 3)) >>> 0;
      this.tags++;
      at = end;
    }
    this.#pending = b.subarray(at);
  }

  async close(): Promise<void> {
    await this.#file?.close();
    this.#file = undefined;
  }
}

/**
 * Records when each control message of `client` arrived: entry i is the
 * performance.now() of client.messages[i]. (The client's own listener runs
 * first, so the message is already in its list.)
 */
export function arrivalTimes(client: WireTestClient): number[] {
  const times: number[] = [];
  client.ws.on("message", (data: Buffer, binary: boolean) => {
    if (!binary && data.length > 0) times[client.messages.length - 1] = performance.now();
  });
  return times;
}
