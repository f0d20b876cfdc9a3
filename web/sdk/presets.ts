/**
 * Quality presets and H.264 profile/level selection.
 *
 * Bitrates follow the ingest services' guidance for H.264 (YouTube: 720p30
 * 1.5-4 Mbit/s, 1080p30 3-6, 1080p60 4.5-9; Twitch: up to 6; Facebook: up to
 * 4 at 720p, 6-9 at 1080p) at the conservative middle.
 */

export interface VideoQuality {
  width: number;
  height: number;
  framerate: number;
  /** Target video bitrate, bits/s. */
  bitrate: number;
}

export const PRESETS = {
  "480p30": { width: 854, height: 480, framerate: 30, bitrate: 1_500_000 },
  "720p30": { width: 1280, height: 720, framerate: 30, bitrate: 3_000_000 },
  "720p60": { width: 1280, height: 720, framerate: 60, bitrate: 4_500_000 },
  "1080p30": { width: 1920, height: 1080, framerate: 30, bitrate: 5_000_000 },
  "1080p60": { width: 1920, height: 1080, framerate: 60, bitrate: 7_500_000 },
} as const satisfies Record<string, VideoQuality>;
export type PresetName = keyof typeof PRESETS;

/** AAC bitrate for a preset (the services ask for 128 kbit/s stereo). */
export const AUDIO_BITRATE = 128_000;

/** Keyframe interval every ingest service asks for. */
export const KEYFRAME_INTERVAL_US = 2_000_000;

// H.264 Annex A, Table A-1: level -> [MaxFS (macroblocks), MaxMBPS (macroblocks/s)].
const LEVELS: ReadonlyArray<readonly [number, number, number]> = [
  [30, 1620, 40500],
  [31, 3600, 108000],
  [32, 5120, 216000],
  [40, 8192, 245760],
  [41, 8192, 245760],
  [42, 8704, 522240],
  [50, 22080, 589824],
  [51, 36864, 983040],
  [52, 36864, 2073600],
];

/**
 * The lowest level that fits `width`x`height` at `framerate`, and a profile:
 * Constrained Baseline up to 720p (every decoder has it), High above
 * (Baseline 3.1 cannot carry 1080p). Returns a WebCodecs codec string.
 */
export function avcCodecFor(width: number, height: number, framerate: number): string {
  const mbs = Math.ceil(width / 16) * Math.ceil(height / 16);
  const rate = mbs * framerate;
  const level = LEVELS.find(([, maxFs, maxMbps]) => mbs <= maxFs && rate <= maxMbps);
  if (!level) throw new RangeError(`${width}x${height}@${framerate} is beyond H.264 level 5.2`);
  const profile = mbs <= 3600 ? "42e0" : "6400"; // Constrained Baseline / High
  return `avc1.${profile}${level[0].toString(16).padStart(2, "0")}`;
}
