/**
 * Flash/beep pairs of a recording made while the page's main thread was
 * blocked. The kit's synthetic camera is drawn on the main thread, so a
 * flash due while it is blocked is drawn late or not at all, and engines that
 * take frames on the main thread stamp what shows up then by when it is let
 * through: pairs within a video freeze, or half a second after it, say
 * nothing about lip sync and are left out.
 */
import type { StreamReport } from "../server/testing/analyze.js";
import { ffprobeFrames } from "../test/support/ingest.js";

export interface SyncPair {
  /** Flash time in the recording, s. */
  flash: number;
  /** Beep - flash, ms (positive: sound late). */
  offsetMs: number;
}

/** The video freezes (gaps over 300 ms) of `file`, s. */
export async function videoFreezes(file: string): Promise<Array<[number, number]>> {
  const probe = await ffprobeFrames(file);
  const video = probe.packets.filter((p) => p.stream === "video").map((p) => p.ptsMs / 1000).sort((x, y) => x - y);
  const freezes: Array<[number, number]> = [];
  for (let i = 1; i < video.length; i++) if (video[i]! - video[i - 1]! > 0.3) freezes.push([video[i - 1]!, video[i]!]);
  return freezes;
}

/** Every flash with a beep within 500 ms, and those of them clear of `freezes`. */
export function syncPairs(report: StreamReport, freezes: ReadonlyArray<readonly [number, number]>): { all: SyncPair[]; clear: SyncPair[] } {
  const sync = report.sync;
  if (!sync) throw new Error("the report has no sync measurement (analyzeRecording with sync: true)");
  const all = sync.flashes.flatMap((f) => {
    const beep = sync.beeps.find((b) => Math.abs(b - f) < 0.5);
    return beep === undefined ? [] : [{ flash: f, offsetMs: Math.round((beep - f) * 1000) }];
  });
  const clear = all.filter((p) => !freezes.some(([from, to]) => p.flash >= from - 0.1 && p.flash <= to + 0.5));
  return { all, clear };
}
