/**
 * The local recording of a session: one FLV file, written tag by tag (each
 * tag with its PreviousTagSize in one write), so a crash leaves a file that
 * plays up to its last complete tag. Starts at the first keyframe, like the
 * RTMP destinations, with onMetaData and sequence headers first.
 */
import { createWriteStream, mkdirSync, type WriteStream } from "node:fs";
import { basename, join } from "node:path";
import type { DestinationState, DestinationStats } from "../../protocol/wire.js";
import { EcmaArray, encodeAmf0, FlvWriter, TagType, type Core } from "../../wasm/host/index.js";
import type { SessionFrame, TrackSet } from "./media-types.js";
import { startsStream, type Sink, type SinkEvents } from "./sink.js";

export interface RecorderOptions {
  id?: string;
  dir: string;
  fileName: string;
  core: Core;
  events: SinkEvents;
}

export class Recorder implements Sink {
  readonly id: string;
  readonly target: string;
  readonly path: string;
  readonly #opts: RecorderOptions;
  readonly #flv: FlvWriter;
  #file: WriteStream | undefined;
  #state: DestinationState = "connecting";
  #tracks: TrackSet | undefined;
  #sentGeneration = -1;
  #started = false;
  #videoStarted = false;
  #framesSent = 0;
  #framesDropped = 0;
  #bytes = 0;

  constructor(options: RecorderOptions) {
    this.id = options.id ?? "recording";
    this.path = join(options.dir, basename(options.fileName));
    this.target = basename(this.path);
    this.#opts = options;
    this.#flv = new FlvWriter(options.core);
  }

  get state(): DestinationState {
    return this.#state;
  }

  start(): void {
    this.#opts.events.state(this, { state: "connecting" });
    try {
      // Synchronous on purpose: the stream must exist before the first frame
      // arrives; it buffers writes until the file is open.
      mkdirSync(this.#opts.dir, { recursive: true });
    } catch (err) {
      this.#fail(err);
      return;
    }
    const file = createWriteStream(this.path, { flags: "wx" });
    file.on("error", (err) => this.#fail(err));
    file.on("open", () => {
      if (this.#state !== "connecting") return;
      this.#state = "live";
      this.#opts.events.state(this, { state: "live" });
    });
    this.#file = file;
  }

  setTracks(tracks: TrackSet): void {
    this.#tracks = tracks;
  }

  send(frame: SessionFrame): void {
    // Writes queue in the stream until the file is open.
    if (!this.#file || (this.#state !== "live" && this.#state !== "connecting")) return;
    if (frame.kind === "video" && !this.#videoStarted) {
      if (!startsStream(frame, this.#tracks)) {
        this.#framesDropped++;
        return;
      }
      this.#videoStarted = true;
    }
    const first = !this.#started;
    if (first) {
      this.#started = true;
      const t = this.#tracks;
      this.#out(this.#flv.header(Boolean(t?.audio), Boolean(t?.video)));
    }
    const tracks = this.#tracks;
    if (tracks && tracks.generation !== this.#sentGeneration) {
      this.#sentGeneration = tracks.generation;
      // The file's first onMetaData must be at time 0: FFmpeg reads a script
      // tag at any other time as a data packet, not as metadata.
      const ts = first ? 0 : frame.dtsMs;
      this.#out(this.#flv.tag(TagType.Script, ts, encodeAmf0(this.#opts.core, ["onMetaData", new EcmaArray(tracks.metadata)])));
      if (tracks.video) this.#out(this.#flv.videoTag(ts, { kind: "avc", frameType: 1, packetType: 0, cts: 0 }, tracks.video.config));
      if (tracks.audio) this.#out(this.#flv.audioTag(ts, { kind: "aac", packetType: 0 }, tracks.audio.config));
    }
    const tag = frame.kind === "video"
      ? this.#flv.videoTag(frame.dtsMs, { kind: "avc", frameType: frame.keyframe ? 1 : 2, packetType: 1, cts: frame.ctsMs }, frame.payload)
      : this.#flv.audioTag(frame.dtsMs, { kind: "aac", packetType: 1 }, frame.payload);
    this.#out(tag);
    this.#framesSent++;
    this.#opts.events.frameOut(this, frame);
  }

  async stop(): Promise<void> {
    if (this.#state === "ended" || this.#state === "failed") return;
    this.#state = "ended";
    const file = this.#file;
    if (file) await new Promise<void>((resolve) => file.end(() => resolve()));
    this.#opts.events.state(this, { state: "ended" });
  }

  stats(): DestinationStats {
    return {
      id: this.id,
      state: this.#state,
      bytesSent: this.#bytes,
      framesSent: this.#framesSent,
      framesDropped: this.#framesDropped,
      framesLost: 0,
      audioLost: 0,
      keyframesLost: 0,
      queuedMs: 0,
      queuedBytes: this.#file?.writableLength ?? 0,
      reconnects: 0,
      notLiveMs: 0,
    };
  }

  #out(bytes: Uint8Array): void {
    this.#file?.write(bytes);
    this.#bytes += bytes.byteLength;
    this.#opts.events.bytesOut(this, bytes.byteLength);
  }

  #fail(err: unknown): void {
    if (this.#state === "failed" || this.#state === "ended") return;
    this.#state = "failed";
    this.#file?.destroy();
    const e = err as NodeJS.ErrnoException;
    this.#opts.events.state(this, {
      state: "failed",
      code: "RECORDING_FAILED",
      message: `the recording could not be written: ${e.code ?? ""} ${e.message ?? String(err)}`.trim(),
    });
  }
}
