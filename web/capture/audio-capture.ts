/**
 * Microphone (or any audio track) PCM for the AAC encoder, on every engine,
 * by one of two methods chosen by feature probes:
 *
 * - "track-processor" (Chromium): MediaStreamTrackProcessor's AudioData,
 *   read on the page with a 3 s buffer and numbered by sample count
 *   (SampleCounter jumps over samples the browser dropped), stamped by the
 *   track's own timestamps. No audio graph in between, so nothing pads
 *   (WebAudio's MediaStreamAudioSourceNode inserts 10 ms of silence when its
 *   input runs late: measured in Chromium under load). Read in a worker
 *   instead, its stamps came out a steady ~300 ms early against video
 *   (measured, Chromium 156; cause not found), so it stays on the page.
 * - "audio-worklet" (Firefox, Safari, WebKitGTK): an AudioWorklet copies each
 *   render quantum on the audio thread, numbered by the AudioContext's own
 *   sample index (audio-worklet-processor.ts).
 *
 * Either way a busy or stalled main thread delays blocks without losing
 * samples (a stall past the track processor's 3 s is re-anchored on the
 * timestamps), and AudioTimeline stamps every block on the capture clock, fills
 * holes with silence and corrects the audio device's clock drift.
 *
 *   const ctx = createCaptureContext();            // in the click handler (autoplay rules), worklet only
 *   const cap = await AudioCapture.open(track, { context: ctx, channels: 2 }, (block) => encode(block));
 *   ...
 *   await cap.stop();
 */
import { BroadcastError } from "../sdk/errors.js";
import { fitChannels, readPlanarF32 } from "../audio/pcm.js";
import { CAPTURE_PROCESSOR_NAME, CAPTURE_PROCESSOR_SOURCE } from "./audio-worklet-processor.js";
import { AudioTimeline, type PcmBlock, type RawAudioBlock } from "./audio-timeline.js";
import { captureClockUs, ClockOffsetEstimator } from "./clock.js";
import { hasTrackProcessor } from "./video-capture.js";

/** Frames per block posted by the worklet: 1024, one AAC frame (21.3 ms at 48 kHz). */
export const CAPTURE_BLOCK_FRAMES = 1024;

export type AudioCaptureMethod = "track-processor" | "audio-worklet";

/** The method for this page, or undefined when it has neither. */
export function chooseAudioCapture(): AudioCaptureMethod | undefined {
  if (hasTrackProcessor() && typeof Worker !== "undefined") return "track-processor";
  if (typeof AudioWorkletNode !== "undefined") return "audio-worklet";
  return undefined;
}

export interface AudioCaptureOptions {
  /** Channels delivered: the track is up- or down-mixed. */
  channels: 1 | 2;
  /** "audio-worklet": the context to run in (create it with createCaptureContext() while handling a click). */
  context?: AudioContext;
  /** Default: chooseAudioCapture(). */
  method?: AudioCaptureMethod;
  /** How long to wait for the first audio (a context to run, a track to deliver), ms (default 4000). */
  startTimeoutMs?: number;
}

/** The AudioContexts whose worklet module is loaded. */
const loaded = new WeakMap<BaseAudioContext, Promise<void>>();

/**
 * A context for capture, at 48 kHz where the browser allows (what RTMP
 * services ask for), else the device's rate. Call it synchronously in a user
 * gesture's handler: Safari and Firefox start contexts made outside one
 * suspended.
 */
export function createCaptureContext(): AudioContext {
  try {
    return new AudioContext({ sampleRate: 48000, latencyHint: "interactive" });
  } catch {
    return new AudioContext({ latencyHint: "interactive" });
  }
}

/**
 * Numbers AudioData by sample count, jumping over samples the browser lost:
 * Chromium stamps audio late and unevenly (up to ~10 ms idle, over 30 ms
 * under load, measured), so only a timestamp more than `lostUs` (150 ms)
 * ahead of the count is taken as lost samples (the track processor drops
 * its oldest AudioData after a stall longer than its buffer); a smaller
 * lasting difference is left to AudioTimeline's drift correction. Pure.
 */
export class SampleCounter {
  readonly #rate: number;
  readonly #lostUs: number;
  #baseTs: number | undefined;
  #frame = 0;
  /** Frames jumped over so far. */
  lostFrames = 0;

  constructor(sampleRate: number, lostUs = 150_000) {
    this.#rate = sampleRate;
    this.#lostUs = lostUs;
  }

  /** The start frame of a block of `frames` stamped `timestampUs`. */
  next(timestampUs: number, frames: number): number {
    this.#baseTs ??= timestampUs;
    const aheadUs = timestampUs - (this.#baseTs + (this.#frame * 1e6) / this.#rate);
    // The base follows the earliest-stamped blocks (the least delivery delay).
    if (aheadUs < 0) this.#baseTs += aheadUs;
    else if (aheadUs > this.#lostUs) {
      const lost = Math.round((aheadUs * this.#rate) / 1e6);
      this.#frame += lost;
      this.lostFrames += lost;
    }
    const start = this.#frame;
    this.#frame += frames;
    return start;
  }
}

/** Chromium's MediaStreamTrackProcessor, typed for what we use. */
type TrackProcessorCtor = new (init: { track: MediaStreamTrack; maxBufferSize?: number }) => { readonly readable: ReadableStream<AudioData> };

export class AudioCapture {
  readonly method: AudioCaptureMethod;
  readonly sampleRate: number;
  readonly channels: 1 | 2;
  readonly #timeline: AudioTimeline;
  readonly #stop: () => Promise<void>;
  #stopped: Promise<void> | undefined;

  private constructor(method: AudioCaptureMethod, sampleRate: number, channels: 1 | 2, timeline: AudioTimeline, stop: () => Promise<void>) {
    this.method = method;
    this.sampleRate = sampleRate;
    this.channels = channels;
    this.#timeline = timeline;
    this.#stop = stop;
  }

  /**
   * Starts reading `track`. Rejects with a BroadcastError (AUDIO_CAPTURE_FAILED,
   * UNSUPPORTED_BROWSER) when it cannot, before any audio is promised to anyone.
   */
  static async open(track: MediaStreamTrack, options: AudioCaptureOptions, onBlock: (block: PcmBlock) => void): Promise<AudioCapture> {
    const method = options.method ?? chooseAudioCapture();
    switch (method) {
      case "track-processor":
        return AudioCapture.#openTrackProcessor(track, options, onBlock);
      case "audio-worklet":
        return AudioCapture.#openWorklet(track, options, onBlock);
      case undefined:
        throw new BroadcastError("UNSUPPORTED_BROWSER", "this browser cannot read microphone audio (neither MediaStreamTrackProcessor nor AudioWorklet)");
    }
  }

  static async #openTrackProcessor(track: MediaStreamTrack, options: AudioCaptureOptions, onBlock: (block: PcmBlock) => void): Promise<AudioCapture> {
    const Processor = (globalThis as unknown as { MediaStreamTrackProcessor: TrackProcessorCtor }).MediaStreamTrackProcessor;
    // 300 AudioData of 10 ms (~1 MB at 48 kHz stereo, used only while the
    // page is stalled): a main thread blocked for up to 3 s loses nothing.
    const reader = new Processor({ track, maxBufferSize: 300 }).readable.getReader();
    const channels = options.channels;
    const first = await Promise.race([
      reader.read(),
      new Promise<never>((_, reject) => setTimeout(() => reject(new BroadcastError("AUDIO_CAPTURE_FAILED", "the microphone delivered no audio within 4 s")), options.startTimeoutMs ?? 4000)),
    ]).catch((err: unknown) => {
      void reader.cancel().catch(() => undefined);
      throw err instanceof BroadcastError ? err : new BroadcastError("AUDIO_CAPTURE_FAILED", `could not read the microphone: ${message(err)}`, { cause: err });
    });
    if (first.done) throw new BroadcastError("AUDIO_CAPTURE_FAILED", "the microphone track ended before it delivered audio");
    const sampleRate = first.value.sampleRate;
    const timeline = new AudioTimeline({ sampleRate, channels });
    const counter = new SampleCounter(sampleRate);
    const offset = new ClockOffsetEstimator(10);
    const early: Array<{ block: RawAudioBlock; endTs: number }> = [];
    let running = true;
    let ended: () => void = () => undefined;
    const done = new Promise<void>((resolve) => (ended = resolve));
    const take = (data: AudioData): void => {
      try {
        if (data.sampleRate !== sampleRate) throw new Error(`the track changed its sample rate from ${sampleRate} to ${data.sampleRate} Hz`);
        const planes = fitChannels(readPlanarF32(data), channels);
        const frames = planes[0]!.length;
        if (frames === 0) return;
        const startFrame = counter.next(data.timestamp, frames);
        const endTs = data.timestamp + (frames * 1e6) / sampleRate;
        // The track's clock onto the capture clock: the least (arrival - timestamp) of the first blocks.
        const known = offset.observe(captureClockUs(), endTs);
        const block = { startFrame, frames, planes };
        if (known === undefined) {
          early.push({ block, endTs });
          return;
        }
        for (const e of early.splice(0)) for (const b of timeline.push(e.block, e.endTs + known)) onBlock(b);
        for (const b of timeline.push(block, endTs + known)) onBlock(b);
      } finally {
        data.close();
      }
    };
    take(first.value);
    void (async () => {
      try {
        while (running) {
          const { value, done: end } = await reader.read();
          if (end) break;
          if (!running) {
            value.close();
            break;
          }
          take(value);
        }
      } catch {
        // cancelled, or the track stopped
      }
      ended();
    })();
    const stop = async (): Promise<void> => {
      running = false;
      void reader.cancel().catch(() => undefined);
      await Promise.race([done, new Promise((r) => setTimeout(r, 500))]);
    };
    return new AudioCapture("track-processor", sampleRate, channels, timeline, stop);
  }

  static async #openWorklet(track: MediaStreamTrack, options: AudioCaptureOptions, onBlock: (block: PcmBlock) => void): Promise<AudioCapture> {
    const { context, channels } = options;
    if (!context?.audioWorklet) {
      throw new BroadcastError("UNSUPPORTED_BROWSER", "this browser cannot read microphone audio (AudioWorklet is missing)");
    }
    try {
      let load = loaded.get(context);
      if (!load) {
        const url = URL.createObjectURL(new Blob([CAPTURE_PROCESSOR_SOURCE], { type: "text/javascript" }));
        load = context.audioWorklet.addModule(url).finally(() => URL.revokeObjectURL(url));
        loaded.set(context, load);
      }
      await load;
    } catch (err) {
      throw new BroadcastError("AUDIO_CAPTURE_FAILED", `could not start audio capture (the AudioWorklet module did not load: ${message(err)}; a Content-Security-Policy must allow blob: scripts)`, { cause: err });
    }
    await running(context, options.startTimeoutMs ?? 4000);
    let source: MediaStreamAudioSourceNode;
    try {
      source = context.createMediaStreamSource(new MediaStream([track]));
    } catch (err) {
      throw new BroadcastError("AUDIO_CAPTURE_FAILED", `could not read the microphone in a ${context.sampleRate} Hz audio context: ${message(err)}`, { cause: err });
    }
    const node = new AudioWorkletNode(context, CAPTURE_PROCESSOR_NAME, {
      numberOfInputs: 1,
      numberOfOutputs: 1,
      outputChannelCount: [1],
      channelCount: channels,
      channelCountMode: "explicit",
      channelInterpretation: "speakers",
      processorOptions: { channels, blockFrames: CAPTURE_BLOCK_FRAMES },
    });
    const timeline = new AudioTimeline({ sampleRate: context.sampleRate, channels });
    node.port.onmessage = (event: MessageEvent<RawAudioBlock | { stopped: true }>) => {
      const data = event.data;
      if ("stopped" in data) return;
      for (const block of timeline.push(data, captureClockUs())) onBlock(block);
    };
    source.connect(node);
    // Connected to the destination so that every engine pulls it; it outputs silence.
    node.connect(context.destination);
    const stop = (): Promise<void> =>
      new Promise<void>((resolve) => {
        const done = (): void => {
          clearTimeout(timer);
          source.disconnect();
          node.disconnect();
          resolve();
        };
        const timer = setTimeout(done, 500);
        node.port.addEventListener("message", (e: MessageEvent) => {
          if ((e.data as { stopped?: boolean }).stopped) done();
        });
        node.port.postMessage("stop");
      });
    return new AudioCapture("audio-worklet", context.sampleRate, channels, timeline, stop);
  }

  /** How much faster (ppm, positive) or slower the audio clock runs than the capture clock, as corrected now. */
  get clockDriftPpm(): number {
    return Math.round((this.#timeline.ratio - 1) * 1e6);
  }

  /** Frames the drift correction added (negative: removed) so far. */
  get correctionFrames(): number {
    return Math.round(this.#timeline.correctionFrames);
  }

  /** Silence inserted where the timeline had holes, frames. */
  get silenceFrames(): number {
    return this.#timeline.silenceFrames;
  }

  /** Stops reading; resolves once the last samples were delivered. */
  stop(): Promise<void> {
    this.#stopped ??= this.#stop();
    return this.#stopped;
  }
}

/** Resolves once `context` runs; rejects with AUDIO_CAPTURE_FAILED if it stays suspended. */
async function running(context: AudioContext, timeoutMs: number): Promise<void> {
  if (context.state === "running") return;
  if (context.state === "closed") throw new BroadcastError("AUDIO_CAPTURE_FAILED", "the audio context is closed");
  const resumed = context.resume().then(() => true, () => false);
  const timedOut = new Promise<false>((r) => setTimeout(() => r(false), timeoutMs));
  await Promise.race([resumed, timedOut]);
  if ((context.state as AudioContextState) !== "running") {
    throw new BroadcastError("AUDIO_CAPTURE_FAILED", "the browser did not start audio processing (its AudioContext stays suspended): start the broadcast from a click or key press, and check that an audio device exists");
  }
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
