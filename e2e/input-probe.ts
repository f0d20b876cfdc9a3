/**
 * What the engine does to the sound before golive sees it, measured in the
 * page, so that a lip-sync test checks golive and not the engine.
 *
 * In WebKitGTK, a MediaStream's audio reaches an AudioContext through a
 * buffer that grows and never shrinks: each time the context asks for samples
 * the buffer does not yet hold, everything after arrives later, in steps of
 * ~140 frames (2.9 ms at 48 kHz), sometimes with a run of zeros, sometimes
 * without. Measured with a worklet on the synthetic source's beeps (which
 * start exactly 48000 frames apart at the source): 0 to 5 steps in 15 s on
 * an idle machine, and a 72 ms step while the page's main thread was
 * blocked; on a busy CI machine the sound drifted 120 ms late over 15 s. A
 * worklet sees only the samples, not when they were made, so golive cannot
 * tell these steps from the sound itself.
 *
 * The probe: `inputProbeScript()` hooks createMediaStreamSource, so the node
 * golive reads from is also read by a probe worklet in golive's own
 * AudioContext, which sees exactly the samples golive's worklet sees. It
 * notes the context frame of each beep onset and every run of exact zeros,
 * and maps context frames onto the capture clock (the earliest arrival of
 * its messages, following the context's drift, as golive's AudioTimeline
 * does). It also reads the time of the first media frame golive sends over
 * the WebSocket: the stream's time 0 at the bridge, so at the ingest. `engineSteps()` turns that into the
 * engine's added delay at each beep, which the tests take off the offsets
 * measured in the recording.
 */
import { syncFrom, type StreamReport } from "../server/testing/analyze.js";

/** What the probe measured in the page. */
export interface InputProbeReport {
  sampleRate: number;
  /** Context frame of each beep onset the probe saw. */
  beepFrames: number[];
  /** [context frame, capture-clock µs when the main thread heard of it], every 1024 frames. */
  heard: Array<[number, number]>;
  /** Capture-clock µs of the first media frame sent on the WebSocket (the stream's time 0). */
  firstFrameUs: number | undefined;
  /** Runs of exact zeros between samples that were not: [start frame, length]. */
  zeroRuns: Array<[number, number]>;
}

/**
 * A script for page.evaluate, run before the broadcast starts (after the
 * synthetic media script). Exposes `window.__inputProbe.report()`.
 */
export function inputProbeScript(): string {
  return `(${installInputProbe.toString()})()`;
}

/** Runs in the page: must not refer to anything outside itself. */
function installInputProbe(): void {
  const w = window as unknown as { __inputProbe?: { report(): InputProbeReport } };
  if (w.__inputProbe) return;
  const worklet = `
class GoliveInputProbe extends AudioWorkletProcessor {
  constructor() { super(); this.zeros = 0; this.zeroStart = 0; this.seenSound = false; this.inBeep = false; this.quiet = 0; this.next = 0; }
  process(inputs) {
    const ch = inputs[0] && inputs[0][0];
    if (currentFrame >= this.next) { this.port.postMessage({ frame: currentFrame }); this.next = currentFrame + 1024; }
    if (!ch) return true;
    for (let i = 0; i < ch.length; i++) {
      const v = ch[i];
      if (v === 0) { if (this.zeros === 0) this.zeroStart = currentFrame + i; this.zeros++; continue; }
      if (this.zeros > 0 && this.seenSound) this.port.postMessage({ zeroRun: [this.zeroStart, this.zeros] });
      this.zeros = 0;
      this.seenSound = true;
      const a = Math.abs(v);
      if (!this.inBeep && a > 0.45) { this.inBeep = true; this.quiet = 0; this.port.postMessage({ beep: currentFrame + i }); }
      else if (this.inBeep) { if (a < 0.3) { if (++this.quiet > 4800) this.inBeep = false; } else this.quiet = 0; }
    }
    return true;
  }
}
registerProcessor("golive-input-probe", GoliveInputProbe);`;
  const state: InputProbeReport = { sampleRate: 0, beepFrames: [], heard: [], firstFrameUs: undefined, zeroRuns: [] };
  const nowUs = (): number => (performance.timeOrigin + performance.now()) * 1000;
  // The originals, taken as property values to be called with their own `this`.
  const proto = AudioContext.prototype as unknown as Record<string, (this: AudioContext, stream: MediaStream) => MediaStreamAudioSourceNode>;
  const original = proto.createMediaStreamSource!;
  const watch = (context: AudioContext, source: MediaStreamAudioSourceNode): void => {
    state.sampleRate = context.sampleRate;
    const url = URL.createObjectURL(new Blob([worklet], { type: "text/javascript" }));
    void context.audioWorklet.addModule(url).then(() => {
      const node = new AudioWorkletNode(context, "golive-input-probe", { numberOfInputs: 1, numberOfOutputs: 1, outputChannelCount: [1] });
      node.port.onmessage = (event: MessageEvent<{ frame?: number; beep?: number; zeroRun?: [number, number] }>) => {
        const m = event.data;
        if (m.frame !== undefined) state.heard.push([m.frame, nowUs()]);
        if (m.beep !== undefined) state.beepFrames.push(m.beep);
        if (m.zeroRun) state.zeroRuns.push(m.zeroRun);
      };
      source.connect(node);
      node.connect(context.destination);
    });
  };
  proto.createMediaStreamSource = function (stream) {
    const source = original.call(this, stream);
    watch(this, source);
    return source;
  };
  const wsProto = WebSocket.prototype as unknown as Record<string, (this: WebSocket, data: string | ArrayBufferLike | Blob | ArrayBufferView) => void>;
  const send = wsProto.send!;
  wsProto.send = function (data) {
    if (state.firstFrameUs === undefined && typeof data !== "string" && !(data instanceof Blob)) {
      const view = ArrayBuffer.isView(data) ? new DataView(data.buffer, data.byteOffset, data.byteLength) : new DataView(data as ArrayBuffer);
      // The wire protocol's media frame: kind 1, the decode timestamp (µs) at byte 4.
      if (view.byteLength >= 16 && view.getUint8(0) === 1) state.firstFrameUs = Number(view.getBigInt64(4));
    }
    send.call(this, data);
  };
  w.__inputProbe = { report: () => JSON.parse(JSON.stringify(state)) as InputProbeReport };
}

/** The engine's delay at one beep, against its first. */
export interface EngineStep {
  /** When the beep is in the recording, s (from the stream's time 0). */
  atS: number;
  /** How much later than at the first beep the engine delivered it, ms. */
  addedMs: number;
}

/**
 * The engine's added delay at each beep the probe saw: beeps start exactly a
 * second apart at the source, so whatever the context frames between two of
 * them exceed whole seconds by is delay the engine added on the way.
 */
export function engineSteps(probe: InputProbeReport): EngineStep[] {
  const { beepFrames, sampleRate, firstFrameUs } = probe;
  const toCapture = contextClock(probe);
  if (!toCapture || firstFrameUs === undefined || beepFrames.length === 0 || !(sampleRate > 0)) return [];
  const first = beepFrames[0]!;
  return beepFrames.map((frame) => {
    const seconds = (frame - first) / sampleRate;
    return { atS: (toCapture(frame) - firstFrameUs) / 1e6, addedMs: (seconds - Math.round(seconds)) * 1000 };
  });
}

/**
 * Context frames onto the capture clock, as golive's AudioTimeline maps them
 * (anchored on the earliest arrivals, following the context's drift: Firefox's
 * mock audio device runs 2-5 % slow): per second of frames, the earliest
 * (arrival - frame time); a line through those by the median of pairwise
 * slopes and of intercepts, which a main-thread stall (late arrivals only)
 * does not move.
 */
function contextClock(probe: InputProbeReport): ((frame: number) => number) | undefined {
  const rate = probe.sampleRate;
  if (!(rate > 0) || probe.heard.length === 0) return undefined;
  const minima = new Map<number, [number, number]>();
  for (const [frame, us] of probe.heard) {
    const late = us - (frame * 1e6) / rate;
    const w = Math.floor(frame / rate);
    const m = minima.get(w);
    if (!m || late < m[1]) minima.set(w, [frame, late]);
  }
  const points = [...minima.values()];
  const median = (xs: number[]): number => {
    const s = [...xs].sort((a, b) => a - b);
    return s.length === 0 ? 0 : s[Math.floor(s.length / 2)]!;
  };
  const slopes: number[] = [];
  for (let i = 0; i < points.length; i++) for (let j = i + 1; j < points.length; j++) slopes.push((points[j]![1] - points[i]![1]) / (points[j]![0] - points[i]![0]));
  const slope = slopes.length > 0 ? median(slopes) : 0;
  const intercept = median(points.map(([f, l]) => l - slope * f));
  return (frame) => intercept + slope * frame + (frame * 1e6) / rate;
}

/** The engine's longest run of zeros between sounds, ms. */
export function longestEngineDropoutMs(probe: InputProbeReport): number {
  return probe.zeroRuns.reduce((m, [, n]) => Math.max(m, (n * 1000) / (probe.sampleRate || 48000)), 0);
}

/**
 * `report` with each flash/beep offset less the engine's added delay at that
 * beep (the probe's beep nearest in time, within 250 ms), and the start, end,
 * median and drift recomputed. Throws if a beep has no probe beep near it:
 * then the probe, not the sync, is what failed.
 */
export function withoutEngineDelay(report: StreamReport, steps: readonly EngineStep[]): StreamReport {
  const sync = report.sync;
  if (!sync) throw new Error("the report has no sync measurement (analyzeRecording with sync: true)");
  // Each beep moved back by the engine's delay at it, paired as
  // analyzeRecording pairs them. A beep the probe did not see is an error if
  // a flash would pair with it: the probe, not the sync, failed then.
  const beeps = sync.beeps.flatMap((b) => {
    const delayMs = engineDelayAtBeep(b, steps);
    if (delayMs !== undefined) return [b - delayMs / 1000];
    if (sync.flashes.some((f) => Math.abs(b - f) <= 0.5)) throw new Error(`no beep seen by the input probe within 250 ms of the recording's beep at ${b.toFixed(3)} s (probe beeps at ${steps.map((s) => s.atS.toFixed(3)).join(" ")})`);
    return [];
  });
  return { ...report, sync: syncFrom(sync.flashes, beeps, sync.longestDropoutMs) };
}

/** The engine's added delay, ms, at the recording's beep at `beepS`: that of the probe's beep nearest in time, if one is within 250 ms. */
function engineDelayAtBeep(beepS: number, steps: readonly EngineStep[]): number | undefined {
  let best: EngineStep | undefined;
  for (const s of steps) if (!best || Math.abs(s.atS - beepS) < Math.abs(best.atS - beepS)) best = s;
  return best && Math.abs(best.atS - beepS) <= 0.25 ? best.addedMs : undefined;
}

/**
 * Where each of the recording's beeps is against where the probe saw it on
 * golive's timeline, ms, sorted: golive's own error, with the engine left
 * out (the capture clock, the AAC encoder's delay, the bridge's time 0).
 */
export function beepPlacementMs(recorded: StreamReport, probe: InputProbeReport): number[] {
  const steps = engineSteps(probe);
  return (recorded.sync?.beeps ?? [])
    .flatMap((b) => {
      let best = Number.POSITIVE_INFINITY;
      for (const s of steps) if (Math.abs(s.atS - b) < Math.abs(best - b)) best = s.atS;
      return Math.abs(best - b) <= 0.25 ? [Math.round((b - best) * 1000)] : [];
    })
    .sort((x, y) => x - y);
}
