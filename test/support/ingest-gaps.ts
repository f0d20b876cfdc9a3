/**
 * What a broadcast looked like at the ingest across publishes: nginx-rtmp
 * with `record_unique on` writes each publish of KEY to its own
 * `KEY-<unix time>.flv`, frame by frame as they arrive. A file's last frame
 * arrived at its modification time; its first at that time minus the media
 * span it holds (the sender sent in real time). The gap between two
 * publishes is the wall time from the last frame of one to the first frame
 * of the next: what a viewer of the ingest missed.
 */
import { readdir, stat } from "node:fs/promises";
import { join } from "node:path";
import { ffprobeFrames } from "./ingest.js";

export interface PublishSpan {
  file: string;
  /** Wall time of the first and last frame, ms since 1970. */
  startMs: number;
  endMs: number;
  /** Media span, ms. */
  mediaMs: number;
  /** Wall time of the first and last video frame (video restarts at a keyframe: later than the sound). */
  videoStartMs: number;
  videoEndMs: number;
}

export interface PublishGaps {
  files: number;
  spans: PublishSpan[];
  /** Between consecutive publishes, ms: from the last frame of one to the first of the next (the sound comes back first). */
  gapsMs: number[];
  /** The same for video alone: to the next publish's first (key)frame. */
  videoGapsMs: number[];
}

/** The publishes of `key` in `recordDir`, oldest first, and the gaps between them. */
export async function publishGaps(recordDir: string, key: string): Promise<PublishGaps> {
  const names = (await readdir(recordDir)).filter((f) => f.startsWith(`${key}-`) && f.endsWith(".flv"));
  const spans: PublishSpan[] = [];
  for (const name of names) {
    const file = join(recordDir, name);
    const { mtimeMs } = await stat(file);
    const probe = await ffprobeFrames(file);
    const dts = probe.packets.map((p) => p.dtsMs);
    const video = probe.packets.filter((p) => p.stream === "video").map((p) => p.dtsMs);
    const last = dts.length > 0 ? Math.max(...dts) : 0;
    const mediaMs = dts.length > 0 ? last - Math.min(...dts) : 0;
    const videoStartMs = video.length > 0 ? mtimeMs - (last - Math.min(...video)) : mtimeMs;
    const videoEndMs = video.length > 0 ? mtimeMs - (last - Math.max(...video)) : mtimeMs - mediaMs;
    spans.push({ file, startMs: mtimeMs - mediaMs, endMs: mtimeMs, mediaMs, videoStartMs, videoEndMs });
  }
  spans.sort((a, b) => a.startMs - b.startMs);
  const gapsMs = spans.slice(1).map((s, i) => Math.round(s.startMs - spans[i]!.endMs));
  const videoGapsMs = spans.slice(1).map((s, i) => Math.round(s.videoStartMs - spans[i]!.videoEndMs));
  return { files: spans.length, spans, gapsMs, videoGapsMs };
}
