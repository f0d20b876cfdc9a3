/**
 * An RTMP(S) destination of a session: one RtmpPublisher, plus what the
 * session needs around it. While the publish is being set up, frames are
 * kept (from the first keyframe, bounded by bytes) so the ingest receives the
 * stream from its start; once live it gets onMetaData, the sequence headers,
 * the kept frames, then frames as they come.
 */
import type { DestinationState, DestinationStats } from "../../protocol/wire.js";
import type { Core } from "../../wasm/host/index.js";
import { RtmpError } from "../rtmp/rtmp-errors.js";
import { RtmpPublisher, type RtmpPublisherOptions } from "../rtmp/rtmp-connection.js";
import type { RtmpUrl } from "../rtmp/rtmp-url.js";
import type { SessionFrame, TrackSet } from "./media-types.js";
import { isRandomAccess, startsStream, type Sink, type SinkEvents } from "./sink.js";

export interface RtmpDestinationOptions {
  id: string;
  url: RtmpUrl;
  core: Core;
  events: SinkEvents;
  /** Extra publisher options (timeouts, TLS CA, address checks). */
  publisher?: Partial<RtmpPublisherOptions>;
  /** Most bytes of frames kept while connecting (default 32 MiB). */
  maxPendingBytes?: number;
}

export class RtmpDestination implements Sink {
  readonly id: string;
  readonly target: string;
  readonly #opts: RtmpDestinationOptions;
  readonly #publisher: RtmpPublisher;
  #state: DestinationState = "connecting";
  #tracks: TrackSet | undefined;
  /** Generation of the tracks last sent upstream (-1: none yet). */
  #sentGeneration = -1;
  #started = false;
  #videoStarted = false;
  #pending: SessionFrame[] = [];
  #pendingBytes = 0;
  #pendingHasVideo = false;
  #framesSent = 0;
  #framesDropped = 0;
  #bytesReported = 0;
  #publishing: Promise<void> = Promise.resolve();

  constructor(options: RtmpDestinationOptions) {
    this.id = options.id;
    this.target = options.url.redacted;
    this.#opts = options;
    this.#publisher = new RtmpPublisher({ ...options.publisher, url: options.url, core: options.core });
  }

  get state(): DestinationState {
    return this.#state;
  }

  start(): void {
    this.#opts.events.state(this, { state: "connecting" });
    this.#publisher.on("error", (err) => this.#fail(err));
    this.#publishing = this.#publisher.publish().then(
      () => {
        if (this.#state !== "connecting") return;
        this.#setState({ state: "live" });
        this.#flushPending();
      },
      (err: unknown) => this.#fail(err),
    );
  }

  setTracks(tracks: TrackSet): void {
    this.#tracks = tracks;
    if (this.#state === "live" && this.#started) this.#sendHeaders();
  }

  send(frame: SessionFrame): void {
    if (this.#state === "connecting") {
      this.#keep(frame);
      return;
    }
    if (this.#state !== "live") return;
    this.#write(frame);
  }

  async stop(): Promise<void> {
    if (this.#state === "ended" || this.#state === "failed") return;
    if (this.#state === "connecting") {
      // Deliver what the client already sent: finish connecting (bounded by
      // the publisher's start timeout), flush, then unpublish.
      await this.#publishing;
      if ((this.#state as DestinationState) !== "live") return;
    }
    this.#state = "ended";
    this.#pending = [];
    await this.#publisher.close().catch(() => undefined);
    this.#opts.events.state(this, { state: "ended" });
  }

  stats(): DestinationStats {
    const s = this.#publisher.stats();
    return {
      id: this.id,
      state: this.#state,
      bytesSent: s.bytesSent,
      framesSent: this.#framesSent,
      framesDropped: this.#framesDropped,
      queuedMs: s.queuedMs,
      queuedBytes: s.queuedBytes,
      reconnects: 0,
    };
  }

  #keep(frame: SessionFrame): void {
    if (frame.kind === "video" && !this.#pendingHasVideo) {
      if (!startsStream(frame, this.#tracks)) {
        this.#framesDropped++;
        return;
      }
      this.#pendingHasVideo = true;
    }
    this.#pending.push(frame);
    this.#pendingBytes += frame.payload.byteLength;
    const max = this.#opts.maxPendingBytes ?? 32 * 1024 * 1024;
    if (this.#pendingBytes > max) {
      // Keep from the newest keyframe only: the ingest starts later, cleanly.
      let cut = this.#pending.length - 1;
      while (cut > 0 && !isRandomAccess(this.#pending[cut]!, this.#tracks)) cut--;
      const dropped = this.#pending.splice(0, cut);
      this.#framesDropped += dropped.length;
      for (const f of dropped) this.#pendingBytes -= f.payload.byteLength;
    }
  }

  #flushPending(): void {
    const pending = this.#pending;
    this.#pending = [];
    this.#pendingBytes = 0;
    for (const frame of pending) {
      if (this.#state !== "live") return;
      this.#write(frame);
    }
  }

  #sendHeaders(): void {
    const tracks = this.#tracks;
    if (!tracks || tracks.generation === this.#sentGeneration) return;
    this.#sentGeneration = tracks.generation;
    const p = this.#publisher;
    p.sendMetadata(tracks.metadata);
    if (tracks.video) p.sendVideo(0, { kind: "avc", frameType: 1, packetType: 0, cts: 0 }, tracks.video.config);
    if (tracks.audio) p.sendAudio(0, { kind: "aac", packetType: 0 }, tracks.audio.config);
  }

  #write(frame: SessionFrame): void {
    try {
      if (frame.kind === "video" && !this.#videoStarted) {
        if (!startsStream(frame, this.#tracks)) {
          this.#framesDropped++;
          return;
        }
        this.#videoStarted = true;
      }
      this.#started = true;
      if (this.#tracks && this.#tracks.generation !== this.#sentGeneration) this.#sendHeaders();
      if (frame.kind === "video") {
        this.#publisher.sendVideo(frame.dtsMs, { kind: "avc", frameType: frame.keyframe ? 1 : 2, packetType: 1, cts: frame.ctsMs }, frame.payload);
      } else {
        this.#publisher.sendAudio(frame.dtsMs, { kind: "aac", packetType: 1 }, frame.payload);
      }
      this.#framesSent++;
      this.#opts.events.frameOut(this, frame);
      this.#reportBytes();
    } catch (err) {
      this.#fail(err);
    }
  }

  #reportBytes(): void {
    const sent = this.#publisher.stats().bytesSent;
    if (sent > this.#bytesReported) {
      this.#opts.events.bytesOut(this, sent - this.#bytesReported);
      this.#bytesReported = sent;
    }
  }

  #setState(change: { state: DestinationState; code?: string; message?: string }): void {
    this.#state = change.state;
    this.#opts.events.state(this, change);
  }

  #fail(err: unknown): void {
    if (this.#state === "failed" || this.#state === "ended") return;
    this.#pending = [];
    this.#publisher.destroy();
    const code = err instanceof RtmpError ? err.code : "DESTINATION_ERROR";
    const message = err instanceof Error ? err.message : String(err);
    this.#setState({ state: "failed", code, message });
  }
}
