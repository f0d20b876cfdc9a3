// Drives the SDK from Playwright: window.harness.start(...) / stop() and a log
// of every event, so tests assert on what the SDK reported while ffprobe
// checks what the ingest received.
import { Broadcaster, type BroadcastSource, type PresetName } from "../../web/sdk/index.js";

interface HarnessStart {
  destinations: Array<{ id: string; url: string; key?: string }>;
  quality?: PresetName;
  source?: BroadcastSource | { kind: "synthetic" };
}

/**
 * A source whose picture and sound share one clock, the AudioContext's: a
 * 440 Hz tone with a 100 ms 1 kHz beep on every whole second, and a canvas
 * that flashes white on the frames of those same seconds. (Chromium's
 * file-fed fake camera runs about 1% slow against its fake microphone, so
 * only a source like this can show whether golive itself keeps A/V in sync.)
 */
function syntheticSource(): MediaStream {
  const canvas = document.createElement("canvas");
  canvas.width = 1280;
  canvas.height = 720;
  const ctx = canvas.getContext("2d")!;
  const ac = new AudioContext({ sampleRate: 48000 });
  const dest = ac.createMediaStreamDestination();
  const tone = ac.createOscillator();
  tone.frequency.value = 440;
  const toneGain = ac.createGain();
  toneGain.gain.value = 0.2;
  tone.connect(toneGain).connect(dest);
  const beep = ac.createOscillator();
  beep.frequency.value = 1000;
  const beepGain = ac.createGain();
  beepGain.gain.value = 0;
  beep.connect(beepGain).connect(dest);
  const t0 = Math.ceil(ac.currentTime) + 1;
  for (let i = 0; i < 600; i++) {
    beepGain.gain.setValueAtTime(0.6, t0 + i);
    beepGain.gain.setValueAtTime(0, t0 + i + 0.1);
  }
  tone.start();
  beep.start();
  let frame = 0;
  const draw = (): void => {
    const t = ac.currentTime - t0;
    const flash = t >= 0 && t - Math.floor(t) < 0.1; // as long as the beep
    ctx.fillStyle = flash ? "#ffffff" : "#303030";
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    ctx.fillStyle = "#ffd400";
    ctx.font = "64px sans-serif";
    ctx.fillText(String(frame++), 20, 80);
    requestAnimationFrame(draw);
  };
  draw();
  const stream = canvas.captureStream(30);
  for (const track of dest.stream.getAudioTracks()) stream.addTrack(track);
  return stream;
}

const events: Array<{ type: string; detail: unknown; at: number }> = [];
let broadcaster: Broadcaster | undefined;

const harness = {
  events,
  ready: true,
  capabilities: () => Broadcaster.capabilities(),
  async start(options: HarnessStart): Promise<string> {
    broadcaster = new Broadcaster({ bridgeUrl: `ws://${location.host}/ingest`, quality: options.quality ?? "720p30" });
    for (const type of ["statechange", "stats", "destination", "advice", "error"]) {
      broadcaster.addEventListener(type, (e) => {
        const detail: unknown = (e as CustomEvent).detail;
        const plain = detail instanceof Error ? { code: (detail as Error & { code?: string }).code, message: detail.message } : detail;
        events.push({ type, detail: plain, at: performance.now() });
      });
    }
    const source = options.source?.kind === "synthetic" ? { kind: "stream" as const, stream: syntheticSource() } : options.source ?? { kind: "camera" as const };
    const stream = await broadcaster.setSource(source);
    (document.getElementById("preview") as HTMLVideoElement).srcObject = stream;
    await broadcaster.start({ destinations: options.destinations, record: false });
    return broadcaster.state;
  },
  state: () => broadcaster?.state ?? "idle",
  stats: () => broadcaster?.stats(),
  async stop(): Promise<string> {
    await broadcaster?.stop();
    return broadcaster?.state ?? "idle";
  },
  drop: () => broadcaster?.simulateNetworkDrop(),
};

Object.assign(window, { harness });
