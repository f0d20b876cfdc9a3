/**
 * An FLV file as wire-protocol input: the avcC and AudioSpecificConfig, and
 * every frame with microsecond timestamps, ready for encodeMediaFrame.
 */
import { readFile } from "node:fs/promises";
import type { MediaFrame } from "../../protocol/wire.js";
import { parseAudioBody, parseVideoBody, readFlv } from "./flv-read.js";

export interface FlvAsWire {
  avcC: Uint8Array;
  asc: Uint8Array;
  frames: MediaFrame[];
  counts: { video: number; audio: number; keyframes: number };
}

/** Track numbers used: video 0, audio 1. */
export async function flvAsWire(path: string): Promise<FlvAsWire> {
  const flv = readFlv(new Uint8Array(await readFile(path)));
  let avcC: Uint8Array | undefined;
  let asc: Uint8Array | undefined;
  const frames: MediaFrame[] = [];
  const counts = { video: 0, audio: 0, keyframes: 0 };
  for (const tag of flv.tags) {
    if (tag.type === 9) {
      const v = parseVideoBody(tag.body);
      if (v.kind !== "legacy" || v.codecId !== 7) continue;
      if (v.avcPacketType === 0) avcC = v.payload;
      else if (v.avcPacketType === 1) {
        frames.push({ track: 0, keyframe: v.frameType === 1, timestampUs: tag.timestamp * 1000, compositionUs: (v.cts ?? 0) * 1000, payload: v.payload });
        counts.video++;
        if (v.frameType === 1) counts.keyframes++;
      }
    } else if (tag.type === 8) {
      const a = parseAudioBody(tag.body);
      if (a.kind !== "legacy" || a.format !== 10) continue;
      if (a.aacPacketType === 0) asc = a.payload;
      else {
        frames.push({ track: 1, keyframe: false, timestampUs: tag.timestamp * 1000, compositionUs: 0, payload: a.payload });
        counts.audio++;
      }
    }
  }
  if (!avcC || !asc) throw new Error(`${path}: no AVC or AAC sequence header`);
  return { avcC, asc, frames, counts };
}
