/**
 * The onMetaData script data of an FLV stream (Adobe FLV v10.1 Annex E.5,
 * "onMetaData"; Enhanced RTMP v2 §"Enhancing onMetaData"), built from what
 * the codec configs say (parseSps, parseAudioSpecificConfig), with the
 * properties and order of FFmpeg's flvenc.c (flv_write_header ->
 * flv_write_metadata), so that servers and players that only ever saw
 * FFmpeg/OBS streams find what they expect:
 *
 *   duration, width, height, videodatarate, framerate, videocodecid,
 *   audiodatarate, audiosamplerate, audiosamplesize, stereo, audiocodecid,
 *   encoder, filesize
 *
 * Pure: returns plain values; the caller wraps them in an AMF0 ECMA array.
 */

/** Video codecs: avc1 is legacy FLV CodecID 7; the others are Enhanced RTMP FourCCs. */
export type MetadataVideoCodec = "avc1" | "hvc1" | "av01" | "vp09";
/** Audio codecs: mp4a is legacy FLV SoundFormat 10 (AAC); Opus is an Enhanced RTMP FourCC. */
export type MetadataAudioCodec = "mp4a" | "Opus";

/** What onMetaData says about the video track. */
export interface MetadataVideo {
  readonly codec: MetadataVideoCodec;
  /** Displayed size in pixels (the SPS's, after cropping). */
  readonly width: number;
  readonly height: number;
  /** Frames per second; left out of onMetaData when unknown, as FFmpeg does. */
  readonly frameRate?: number;
  /** Written as videodatarate unchanged (FFmpeg writes bit_rate / 1024); 0 when unknown, as FFmpeg does. */
  readonly bitrateKbps?: number;
}

/** What onMetaData says about the audio track. */
export interface MetadataAudio {
  readonly codec: MetadataAudioCodec;
  /** Output sampling rate in Hz (for HE-AAC, the SBR rate). */
  readonly sampleRate: number;
  readonly channels: number;
  /** Written as audiodatarate unchanged; 0 when unknown. */
  readonly bitrateKbps?: number;
}

/** Input of buildOnMetaData: either track may be absent. */
export interface OnMetaDataInput {
  readonly video?: MetadataVideo;
  readonly audio?: MetadataAudio;
  /** Written as the `encoder` string if given. */
  readonly encoder?: string;
}

/** onMetaData properties, in insertion (= wire) order. */
export type OnMetaData = Record<string, number | boolean | string>;

/** FLV VideoTagHeader CodecID of AVC (FLV v10.1 E.4.3.1). */
export const FLV_CODEC_ID_AVC = 7;
/** FLV AudioTagHeader SoundFormat of AAC (FLV v10.1 E.4.2.1). */
export const FLV_SOUND_FORMAT_AAC = 10;

/**
 * A FourCC as Enhanced RTMP writes it in videocodecid/audiocodecid: the four
 * ASCII bytes as a big-endian UI32 ('av01' = 0x61763031 = 1635135537).
 */
export function fourCcNumber(fourcc: string): number {
  if (!/^[\x20-\x7e]{4}$/.test(fourcc)) throw new TypeError(`fourCcNumber: "${fourcc}" is not four printable ASCII characters`);
  return ((fourcc.charCodeAt(0) << 24) | (fourcc.charCodeAt(1) << 16) | (fourcc.charCodeAt(2) << 8) | fourcc.charCodeAt(3)) >>> 0;
}

function videoCodecId(codec: MetadataVideoCodec): number {
  return codec === "avc1" ? FLV_CODEC_ID_AVC : fourCcNumber(codec);
}

function audioCodecId(codec: MetadataAudioCodec): number {
  return codec === "mp4a" ? FLV_SOUND_FORMAT_AAC : fourCcNumber(codec);
}

function check(ok: boolean, message: string): void {
  if (!ok) throw new TypeError(`buildOnMetaData: ${message}`);
}

const positiveInteger = (v: number): boolean => Number.isInteger(v) && v > 0;
const nonNegative = (v: number): boolean => Number.isFinite(v) && v >= 0;

/**
 * Builds the onMetaData properties for a live stream, in FFmpeg flvenc's
 * order. duration and filesize are 0 (a live stream has neither); stereo is
 * `channels === 2`, as FFmpeg writes it; audiosamplesize is 16 (compressed
 * formats decode to 16 bits, FLV E.4.2.1). Properties of an absent track are
 * left out. Non-finite or non-positive sizes and rates are API misuse
 * (TypeError): they come from parsed configs, never from the browser.
 */
export function buildOnMetaData(input: OnMetaDataInput): OnMetaData {
  const { video, audio, encoder } = input;
  const meta: OnMetaData = { duration: 0 };
  if (video) {
    check(positiveInteger(video.width) && positiveInteger(video.height), `video size ${video.width}x${video.height} must be positive integers`);
    check(video.frameRate === undefined || (Number.isFinite(video.frameRate) && video.frameRate > 0), `video frameRate ${video.frameRate} must be > 0`);
    check(video.bitrateKbps === undefined || nonNegative(video.bitrateKbps), `video bitrateKbps ${video.bitrateKbps} must be >= 0`);
    meta.width = video.width;
    meta.height = video.height;
    meta.videodatarate = video.bitrateKbps ?? 0;
    if (video.frameRate !== undefined) meta.framerate = video.frameRate;
    meta.videocodecid = videoCodecId(video.codec);
  }
  if (audio) {
    check(positiveInteger(audio.sampleRate), `audio sampleRate ${audio.sampleRate} must be a positive integer`);
    check(positiveInteger(audio.channels), `audio channels ${audio.channels} must be a positive integer`);
    check(audio.bitrateKbps === undefined || nonNegative(audio.bitrateKbps), `audio bitrateKbps ${audio.bitrateKbps} must be >= 0`);
    meta.audiodatarate = audio.bitrateKbps ?? 0;
    meta.audiosamplerate = audio.sampleRate;
    meta.audiosamplesize = 16;
    meta.stereo = audio.channels === 2;
    meta.audiocodecid = audioCodecId(audio.codec);
  }
  if (encoder !== undefined) meta.encoder = encoder;
  meta.filesize = 0;
  return meta;
}
