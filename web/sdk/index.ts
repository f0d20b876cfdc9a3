/** The golive browser SDK. */
export { Broadcaster, type AudioPath, type BroadcasterOptions, type BroadcastSource, type BroadcastState, type BroadcastStats, type BrowserSupport, type StartOptions, type VideoPath } from "./broadcaster.js";
export { BroadcastError } from "./errors.js";
export { PRESETS, avcCodecFor, type PresetName, type VideoQuality } from "./presets.js";
