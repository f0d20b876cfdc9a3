/**
 * Turns "config" messages into validated tracks. The codec configuration is
 * parsed, never trusted: width, height and frame rate come from the SPS, the
 * sample rate and channels from the AudioSpecificConfig. onMetaData is built
 * from what was parsed.
 */
import { fromBase64, WireError, WireErrorCode, type ConfigMessage } from "../../protocol/wire.js";
import { parseAudioSpecificConfig } from "../media/aac.js";
import { parseAvcDecoderConfig } from "../media/avc.js";
import { buildOnMetaData } from "../media/metadata.js";
import type { AudioTrack, Track, TrackSet, VideoTrack } from "./media-types.js";

/** Validates a config message; throws WireError or MediaError. */
export function buildTrack(msg: ConfigMessage): Track {
  let description: Uint8Array;
  try {
    description = fromBase64(msg.description);
  } catch {
    throw new WireError(WireErrorCode.BadMessage, `track ${msg.track}: "description" is not base64`);
  }
  const codec = msg.codec.toLowerCase();
  if (msg.kind === "video") {
    if (!/^avc[13]\./.test(codec)) {
      throw new WireError(WireErrorCode.UnsupportedCodec, `track ${msg.track}: video codec "${msg.codec}" is not supported; send H.264 ("avc1.*", avc format)`);
    }
    const avc = parseAvcDecoderConfig(description);
    const track: VideoTrack = {
      kind: "video",
      track: msg.track,
      codec: "avc1",
      codecString: msg.codec,
      config: description,
      width: avc.info.width,
      height: avc.info.height,
    };
    const frameRate = msg.framerate ?? avc.info.frameRate;
    if (frameRate !== undefined && frameRate > 0) track.frameRate = frameRate;
    if (msg.bitrate !== undefined) track.bitrate = msg.bitrate;
    return track;
  }
  if (!/^mp4a\.40\.(2|5|29)$/.test(codec)) {
    throw new WireError(WireErrorCode.UnsupportedCodec, `track ${msg.track}: audio codec "${msg.codec}" is not supported; send AAC ("mp4a.40.2")`);
  }
  const asc = parseAudioSpecificConfig(description);
  const track: AudioTrack = {
    kind: "audio",
    track: msg.track,
    codec: "mp4a",
    codecString: msg.codec,
    config: description,
    sampleRate: asc.sampleRate,
    channels: asc.channels,
  };
  if (msg.bitrate !== undefined) track.bitrate = msg.bitrate;
  return track;
}

/** The session's tracks and their onMetaData. */
export function buildTrackSet(tracks: readonly Track[], generation: number): TrackSet {
  const video = tracks.find((t): t is VideoTrack => t.kind === "video");
  const audio = tracks.find((t): t is AudioTrack => t.kind === "audio");
  const metadata = buildOnMetaData({
    ...(video && {
      video: {
        codec: "avc1" as const,
        width: video.width,
        height: video.height,
        ...(video.frameRate !== undefined && { frameRate: video.frameRate }),
        ...(video.bitrate !== undefined && { bitrateKbps: video.bitrate / 1000 }),
      },
    }),
    ...(audio && {
      audio: {
        codec: "mp4a" as const,
        sampleRate: audio.sampleRate,
        channels: audio.channels,
        ...(audio.bitrate !== undefined && { bitrateKbps: audio.bitrate / 1000 }),
      },
    }),
    encoder: "golive",
  });
  return { ...(video && { video }), ...(audio && { audio }), metadata, generation };
}
