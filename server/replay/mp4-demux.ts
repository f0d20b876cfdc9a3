/**
 * MP4 / QuickTime demuxing for `golive replay`, on mediabunny's Input and
 * EncodedPacketSink (ISO/IEC 14496-12 and -14; the codec mappings of
 * 14496-15 for H.264 and 14496-3 for AAC are mediabunny's).
 *
 * Takes the primary video track (H.264 with an avcC: the sample entry
 * `avc1`) and the primary audio track (AAC), each with its decoder
 * configuration and its packets in decode order. Packet data are views of
 * the file's bytes: nothing is copied. A file whose media data ends before
 * its sample tables say is refused as truncated (mediabunny would stop
 * there quietly).
 *
 * mediabunny gives presentation timestamps (edit lists applied) and decode
 * order, not decode timestamps. The decode timestamps are rebuilt the way a
 * muxer assigns them: the presentation timestamps sorted ascending, shifted
 * back by the least amount that keeps every frame's decode time at or before
 * its presentation time. Without B-frames that is the identity; with them it
 * is the file's own decode timeline up to a constant (ffmpeg's mov muxer
 * starts it one or two frames earlier).
 */
import { BufferSource, EncodedPacketSink, Input, MP4, QTFF, type EncodedPacket, type InputAudioTrack, type InputVideoTrack } from "mediabunny";
import { ReplayError, ReplayErrorCode } from "./errors.js";

/** One coded frame of an MP4 track. */
export interface Mp4Frame {
  /** Decode timestamp, µs (rebuilt, see the module comment). */
  readonly dtsUs: number;
  /** Presentation timestamp, µs, as mediabunny gives it (may be negative: encoder priming). */
  readonly ptsUs: number;
  readonly durationUs: number;
  readonly keyframe: boolean;
  /** AVCC-framed NAL units (video) or one raw AAC access unit (audio); a view of the file. */
  readonly data: Uint8Array;
}

/** A demuxed track: its WebCodecs codec string, decoder configuration and frames. */
export interface Mp4Track {
  /** e.g. "avc1.64001f", "mp4a.40.2" (mediabunny's, from the sample entry). */
  readonly codec: string;
  /** avcC (video) or AudioSpecificConfig (audio). */
  readonly description: Uint8Array;
  /** Frames in decode order. */
  readonly frames: readonly Mp4Frame[];
}

/** What `demuxMp4` found. */
export interface Mp4File {
  readonly video?: Mp4Track;
  readonly audio?: Mp4Track;
}

function bad(message: string, cause?: unknown): ReplayError {
  return new ReplayError(ReplayErrorCode.Mp4Bad, message, cause === undefined ? undefined : { cause });
}

/** The bytes of a WebCodecs `description` (BufferSource in the DOM typings). */
function descriptionBytes(description: AllowSharedBufferSource | undefined): Uint8Array | undefined {
  if (description === undefined) return undefined;
  if (ArrayBuffer.isView(description)) return new Uint8Array(description.buffer, description.byteOffset, description.byteLength);
  return new Uint8Array(description);
}

const us = (seconds: number): number => Math.round(seconds * 1e6);

/** Decode timestamps for frames whose presentation timestamps are given in decode order (see the module comment). */
export function decodeTimestamps(ptsUs: readonly number[]): number[] {
  const sorted = [...ptsUs].sort((a, b) => a - b);
  let shift = 0;
  for (let i = 0; i < sorted.length; i++) shift = Math.max(shift, sorted[i]! - ptsUs[i]!);
  return sorted.map((t) => t - shift);
}

async function readTrack(track: InputVideoTrack | InputAudioTrack, kind: string): Promise<Mp4Frame[]> {
  const packets: EncodedPacket[] = [];
  for await (const packet of new EncodedPacketSink(track).packets()) packets.push(packet);
  // mediabunny stops quietly where the data ends; the sample table says how many there should be.
  let listed = 0;
  for await (const _ of new EncodedPacketSink(track).packets(undefined, undefined, { metadataOnly: true })) listed++;
  if (packets.length < listed) throw bad(`the file is truncated: the ${kind} track lists ${listed} samples, the data holds ${packets.length}`);
  const dts = decodeTimestamps(packets.map((p) => us(p.timestamp)));
  return packets.map((p, i) => ({
    dtsUs: dts[i]!,
    ptsUs: us(p.timestamp),
    durationUs: us(p.duration),
    keyframe: p.type === "key",
    data: p.data,
  }));
}

/** The sample entry type of a codec mediabunny does not know, e.g. "'mp4v'". */
async function codecName(track: InputVideoTrack | InputAudioTrack): Promise<string> {
  const id = await track.getInternalCodecId();
  return typeof id === "string" ? `'${id}'` : "of an unknown codec";
}

async function videoTrack(track: InputVideoTrack): Promise<Mp4Track> {
  const codec = await track.getCodec();
  if (codec !== "avc") {
    throw new ReplayError(ReplayErrorCode.UnsupportedCodec, `the video track is ${codec ?? await codecName(track)}, not H.264: replay H.264 (re-encode with ffmpeg -c:v libx264)`);
  }
  const config = await track.getDecoderConfig();
  const description = descriptionBytes(config?.description);
  if (!config || !description) {
    throw new ReplayError(ReplayErrorCode.UnsupportedCodec, "the H.264 track has no avcC (an avc3 sample entry with in-band parameter sets): not supported");
  }
  return { codec: config.codec, description, frames: await readTrack(track, "video") };
}

async function audioTrack(track: InputAudioTrack): Promise<Mp4Track> {
  const codec = await track.getCodec();
  if (codec !== "aac") {
    throw new ReplayError(ReplayErrorCode.UnsupportedCodec, `the audio track is ${codec ?? await codecName(track)}, not AAC: replay AAC (re-encode with ffmpeg -c:a aac)`);
  }
  const config = await track.getDecoderConfig();
  const description = descriptionBytes(config?.description);
  if (!config || !description) throw new ReplayError(ReplayErrorCode.UnsupportedCodec, "the AAC track has no AudioSpecificConfig (esds): not supported");
  return { codec: config.codec, description, frames: await readTrack(track, "audio") };
}

/**
 * Demuxes an MP4 or QuickTime file held in memory: the primary H.264 video
 * track and the primary AAC audio track. Throws ReplayError (MP4_BAD_FILE,
 * REPLAY_UNSUPPORTED_CODEC).
 */
export async function demuxMp4(bytes: Uint8Array): Promise<Mp4File> {
  const input = new Input({ source: new BufferSource(bytes), formats: [MP4, QTFF] });
  try {
    let readable: boolean;
    try {
      readable = await input.canRead();
    } catch (err) {
      throw bad(`the MP4 file cannot be parsed: ${err instanceof Error ? err.message : String(err)}`, err);
    }
    if (!readable) throw bad("not an MP4/MOV file mediabunny can read");
    try {
      const [video, audio] = await Promise.all([input.getPrimaryVideoTrack(), input.getPrimaryAudioTrack()]);
      const out: { video?: Mp4Track; audio?: Mp4Track } = {};
      if (video) out.video = await videoTrack(video);
      if (audio) out.audio = await audioTrack(audio);
      return out;
    } catch (err) {
      if (err instanceof ReplayError) throw err;
      throw bad(`the MP4 file cannot be parsed: ${err instanceof Error ? err.message : String(err)}`, err);
    }
  } finally {
    input.dispose();
  }
}
