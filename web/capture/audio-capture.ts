/**
 * Microphone (or any audio track) PCM from an AudioWorklet, on every engine:
 * the audio thread copies each render quantum, so a busy or stalled main
 * thread delays blocks but never loses samples, and every block carries the
 * context's own sample index (audio-timeline.ts stamps it on the capture
 * clock). Used instead of MediaStreamTrackProcessor for audio even where that
 * exists: read on the main thread with a small buffer, it drops samples when
 * the page stalls.
 *
 *   const ctx = createCaptureContext();            // in the click handler (autoplay rules)
 *   const cap = await AudioCapture.open(track, { context: ctx, channels: 2 }, (block) => encode(block));
 *   ...
 *   await cap.stop();
 */
import { BroadcastError } from "../sdk/errors.js";
import { CAPTURE_PROCESSOR_NAME, CAPTURE_PROCESSOR_SOURCE } from "./audio-worklet-processor.js";
import { AudioTimeline, type PcmBlock, type RawAudioBlock } from "./audio-timeline.js";
import { captureClockUs } from "./clock.js";

/** Frames per block posted by the worklet: 1024, one AAC frame (21.3 ms at 48 kHz). */
export const CAPTURE_BLOCK_FRAMES = 1024;

export interface AudioCaptureOptions {
  /** The context to run in (create it with createCaptureContext() while handling a click). */
  context: AudioContext;
  /** Channels delivered: the track is up- or down-mixed by the audio graph. */
  channels: 1 | 2;
  /** How long to wait for a suspended context to run, ms (default 4000). */
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

export class AudioCapture {
  readonly sampleRate: number;
  readonly channels: 1 | 2;
  readonly #context: AudioContext;
  readonly #source: MediaStreamAudioSourceNode;
  readonly #node: AudioWorkletNode;
  readonly #timeline: AudioTimeline;
  #stopped: Promise<void> | undefined;

  private constructor(context: AudioContext, source: MediaStreamAudioSourceNode, node: AudioWorkletNode, channels: 1 | 2, onBlock: (block: PcmBlock) => void) {
    this.#context = context;
    this.#source = source;
    this.#node = node;
    this.sampleRate = context.sampleRate;
    this.channels = channels;
    this.#timeline = new AudioTimeline({ sampleRate: context.sampleRate, channels });
    node.port.onmessage = (event: MessageEvent<RawAudioBlock | { stopped: true }>) => {
      const data = event.data;
      if ("stopped" in data) return;
      for (const block of this.#timeline.push(data, captureClockUs())) onBlock(block);
    };
  }

  /**
   * Starts reading `track` in `options.context`. Rejects with a
   * BroadcastError (AUDIO_CAPTURE_FAILED) when the context cannot run or the
   * track cannot be read, before any audio is promised to anyone.
   */
  static async open(track: MediaStreamTrack, options: AudioCaptureOptions, onBlock: (block: PcmBlock) => void): Promise<AudioCapture> {
    const { context, channels } = options;
    if (typeof AudioWorkletNode === "undefined" || !context.audioWorklet) {
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
    const capture = new AudioCapture(context, source, node, channels, onBlock);
    source.connect(node);
    // Connected to the destination so that every engine pulls it; it outputs silence.
    node.connect(context.destination);
    return capture;
  }

  /** How much faster (ppm, positive) or slower the audio clock runs than the capture clock, as corrected now. */
  get clockDriftPpm(): number {
    return Math.round((this.#timeline.ratio - 1) * 1e6);
  }

  /** Frames the drift correction added (negative: removed) so far. */
  get correctionFrames(): number {
    return Math.round(this.#timeline.correctionFrames);
  }

  /** Silence inserted where the context's timeline had holes, frames. */
  get silenceFrames(): number {
    return this.#timeline.silenceFrames;
  }

  /** Stops reading; resolves once the worklet posted its last (partial) block. */
  stop(): Promise<void> {
    this.#stopped ??= new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.#source.disconnect();
        this.#node.disconnect();
        resolve();
      };
      const timer = setTimeout(done, 500);
      this.#node.port.addEventListener("message", (e: MessageEvent) => {
        if ((e.data as { stopped?: boolean }).stopped) done();
      });
      this.#node.port.postMessage("stop");
    });
    return this.#stopped;
  }

  /** Stops and closes the context. */
  async close(): Promise<void> {
    await this.stop();
    await this.#context.close().catch(() => undefined);
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
