/**
 * The page side of `npm run bench:latency`, installed into a blank page the
 * bridge serves (serialised with toString, so it must not refer to anything
 * outside itself). It loads the SDK the way an app does (`/golive.js`, same
 * origin), draws a 1280x720 canvas that is black or white, and makes a
 * 1 kHz tone that is off or on, flipping both at planned instants;
 * `window.__latency` is what the bench calls.
 *
 * One instant for picture and sound: the flips are planned on the page's
 * epoch clock (performance.timeOrigin + now()). The tone's gain is
 * scheduled on the AudioContext's clock at the context time that maps to
 * each planned instant, and the canvas is repainted by the first animation
 * frame at or after the moment the audio clock reaches that context time
 * (so both flip on the audio clock). The mapping: currentTime advances in steps, each
 * when the audio thread has rendered the next block, so
 * `epoch - currentTime * 1000` sampled every few ms is smallest just after
 * a step; its minimum over the last 2 s is the epoch time at which a
 * context time is rendered (into the MediaStream the SDK captures), to
 * within one render callback (Chromium renders ~10 ms per callback) and the
 * sampling interval. Each flip records its own two instants: the paint
 * (`videoAtMs`, when the frame callback painted) and the sound
 * (`audioAtMs`, the planned context time mapped back to the epoch with the
 * estimate current at the flip), and the bench times video from the first
 * and audio from the second.
 */

/** What the bench passes to `__latency.start`. */
export interface LatencyStart {
  bridgeUrl: string;
  /** rtmp://host:port/app of the decoding ingest. */
  rtmpUrl: string;
  key: string;
  /** The Broadcaster option `audioEncoder` (left out when undefined: the SDK's default). */
  audioEncoder?: string;
}

/** What `__latency.start` answers. */
export type LatencyStartResult = { ok: true } | { ok: false; name: string; code?: string; message: string };

/** What `__latency.status` answers. */
export interface LatencyStatus {
  state: string;
  goLiveAtMs?: number;
  liveAtMs?: number;
  audioEncoder?: string;
  audioCapture?: string;
  videoEncoder?: string;
  videoCapture?: string;
  errors: string[];
}

/** One flip, as the page made it. */
export interface PageFlip {
  white: boolean;
  /** Planned instant (epoch ms). */
  plannedAtMs: number;
  /** When the animation frame painted the new colour (epoch ms). */
  videoAtMs: number;
  /** When the tone's gain changed, mapped from the audio clock (epoch ms); absent without audio. */
  audioAtMs?: number;
}

/** Runs in the page: installs `window.__latency`. */
export function installLatencyPage(): void {
  interface BroadcasterLike extends EventTarget {
    readonly state: string;
    setSource(source: Record<string, unknown>): Promise<MediaStream>;
    start(options: Record<string, unknown>): Promise<void>;
    stop(): Promise<void>;
    stats(): Record<string, unknown>;
  }
  type BroadcasterClass = new (options: Record<string, unknown>) => BroadcasterLike;
  const epoch = (): number => performance.timeOrigin + performance.now();

  const canvas = document.createElement("canvas");
  canvas.width = 1280;
  canvas.height = 720;
  const g = canvas.getContext("2d");
  if (!g) throw new Error("no 2D canvas");
  let white = false;
  const paint = (): void => {
    g.fillStyle = white ? "#ffffff" : "#000000";
    g.fillRect(0, 0, canvas.width, canvas.height);
  };

  let ac: AudioContext | undefined;
  let gain: GainNode | undefined;
  let toneStream: MediaStream | undefined;
  const clock: Array<{ at: number; off: number }> = [];
  const sampleClock = (): void => {
    if (ac?.state !== "running") return;
    const now = epoch();
    clock.push({ at: now, off: now - ac.currentTime * 1000 });
    while (clock.length > 0 && clock[0]!.at < now - 2000) clock.shift();
  };
  const audioOffset = (): number => {
    let min = Infinity;
    for (const c of clock) min = Math.min(min, c.off);
    return min;
  };
  setInterval(sampleClock, 2);

  const plan: Array<{ white: boolean; atMs: number; ctxTime?: number }> = [];
  const flips: Array<{ white: boolean; plannedAtMs: number; videoAtMs: number; audioAtMs?: number }> = [];
  const frame = (): void => {
    sampleClock();
    const next = plan[flips.length];
    const now = epoch();
    // With a tone, the flip is due when the audio clock reaches its gain
    // change (mapped with the estimate of now: an audio clock that runs
    // slow or fast against the epoch, as Firefox's mock one does by a few %,
    // moves the paint with it); without, at the planned instant.
    const dueAtMs = next?.ctxTime !== undefined ? audioOffset() + next.ctxTime * 1000 : next?.atMs;
    if (next && dueAtMs !== undefined && now >= dueAtMs) {
      white = next.white;
      flips.push({ white, plannedAtMs: next.atMs, videoAtMs: now, ...(next.ctxTime !== undefined && { audioAtMs: dueAtMs }) });
    }
    // Repainted every frame: a canvas stream sends frames only for painted canvases.
    paint();
    requestAnimationFrame(frame);
  };
  paint();
  requestAnimationFrame(frame);

  let Broadcaster: BroadcasterClass | undefined;
  let b: BroadcasterLike | undefined;
  let goLiveAtMs: number | undefined;
  let liveAtMs: number | undefined;
  const errors: string[] = [];

  const api = {
    /** Loads the SDK (as an app page does before anyone presses Go live) and, with `audio`, starts the tone's AudioContext. */
    async setup(audio: boolean): Promise<string> {
      const sdk = "/golive.js";
      Broadcaster = ((await import(sdk)) as { Broadcaster: BroadcasterClass }).Broadcaster;
      if (!audio) return "ok";
      ac = new AudioContext({ sampleRate: 48000 });
      const osc = ac.createOscillator();
      osc.frequency.value = 1000;
      gain = ac.createGain();
      gain.gain.value = 0;
      const dest = ac.createMediaStreamDestination();
      osc.connect(gain).connect(dest);
      osc.start();
      toneStream = dest.stream;
      await Promise.race([ac.resume(), new Promise((r) => setTimeout(r, 3000))]);
      if (ac.state !== "running") return `the tone's AudioContext is ${ac.state}`;
      // The clock estimate needs some samples before the first flip is planned.
      await new Promise((r) => setTimeout(r, 500));
      return "ok";
    },
    /** Whether WebCodecs has AAC here (the probe the SDK makes). */
    async webcodecsAac(): Promise<boolean> {
      if (typeof AudioEncoder === "undefined") return false;
      try {
        const r = await AudioEncoder.isConfigSupported({ codec: "mp4a.40.2", sampleRate: 48000, numberOfChannels: 2, bitrate: 128000 });
        return r.supported === true;
      } catch {
        return false;
      }
    },
    /** "Go live": a Broadcaster with the canvas (and the tone), started to the ingest. */
    async start(o: LatencyStart): Promise<LatencyStartResult> {
      try {
        if (!Broadcaster) throw new Error("setup() first");
        b = new Broadcaster({ bridgeUrl: o.bridgeUrl, quality: "720p30", ...(o.audioEncoder !== undefined && { audioEncoder: o.audioEncoder }) });
        const bb = b;
        bb.addEventListener("statechange", () => {
          if (bb.state === "live") liveAtMs ??= epoch();
        });
        bb.addEventListener("error", (e) => {
          const d = (e as CustomEvent).detail as { code?: string; message?: string } | undefined;
          errors.push(`${d?.code ?? "?"}: ${d?.message ?? ""}`);
        });
        await bb.setSource({ kind: "canvas", canvas, framerate: 30, ...(toneStream && { audio: toneStream }) });
        goLiveAtMs = epoch();
        await bb.start({ destinations: [{ id: "glass", url: o.rtmpUrl, key: o.key }], record: false });
        return { ok: true };
      } catch (e) {
        const err = e as { name?: string; code?: string; message?: string };
        return { ok: false, name: err.name ?? "Error", ...(err.code !== undefined && { code: err.code }), message: err.message ?? String(e) };
      }
    },
    status(): LatencyStatus {
      const s = b?.stats() ?? {};
      const str = (k: string): Record<string, string> => (typeof s[k] === "string" ? { [k]: s[k] } : {});
      return {
        state: b?.state ?? "idle",
        ...(goLiveAtMs !== undefined && { goLiveAtMs }),
        ...(liveAtMs !== undefined && { liveAtMs }),
        ...str("audioEncoder"),
        ...str("audioCapture"),
        ...str("videoEncoder"),
        ...str("videoCapture"),
        errors,
      };
    },
    /** Plans `n` flips about `periodMs` apart, the first in 1 s (the tone's gain scheduled for each now); returns the last one's instant. */
    flip(n: number, periodMs: number): number {
      const first = epoch() + 1000;
      const off = audioOffset();
      for (let k = 0; k < n; k++) {
        // Jittered by up to 100 ms: a period that is a whole number of
        // frames would catch every flip at the same phase of the 30 fps
        // capture and of the animation frames.
        const atMs = first + k * periodMs + Math.random() * 100;
        const on = k % 2 === 0;
        if (ac && gain && Number.isFinite(off)) {
          const ctxTime = (atMs - off) / 1000;
          gain.gain.setValueAtTime(on ? 0.5 : 0, ctxTime);
          plan.push({ white: on, atMs, ctxTime });
        } else {
          plan.push({ white: on, atMs });
        }
      }
      return plan[plan.length - 1]?.atMs ?? first;
    },
    flips: (): PageFlip[] => flips,
    async stop(): Promise<string> {
      await b?.stop();
      void ac?.close();
      return b?.state ?? "idle";
    },
  };
  Object.assign(window, { __latency: api });
}
