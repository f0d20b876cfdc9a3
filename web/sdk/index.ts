/** The golive browser SDK. */
export { Broadcaster, type BroadcasterOptions, type BroadcastSource, type BroadcastState, type BroadcastStats, type StartOptions } from "./broadcaster.js";
export { BroadcastError } from "./errors.js";
export { PRESETS, avcCodecFor, type PresetName, type VideoQuality } from "./presets.js";
