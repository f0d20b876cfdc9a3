// Drives the SDK from Playwright: window.harness.start(...) / stop() and a log
// of every event, so tests assert on what the SDK reported while ffprobe
// checks what the ingest received.
import { Broadcaster, type BroadcastSource, type PresetName } from "../../web/sdk/index.js";

interface HarnessStart {
  destinations: Array<{ id: string; url: string; key?: string }>;
  quality?: PresetName;
  source?: BroadcastSource;
  audioEncoder?: "auto" | "webcodecs" | "wasm" | "ffmpeg";
}

const events: Array<{ type: string; detail: unknown; at: number }> = [];
let broadcaster: Broadcaster | undefined;

const harness = {
  events,
  ready: true,
  capabilities: () => Broadcaster.capabilities(),
  probe: (quality?: PresetName) => Broadcaster.probe({ quality: quality ?? "720p30" }),
  async start(options: HarnessStart): Promise<string> {
    broadcaster = new Broadcaster({ bridgeUrl: `ws://${location.host}/ingest`, quality: options.quality ?? "720p30", ...(options.audioEncoder && { audioEncoder: options.audioEncoder }) });
    for (const type of ["statechange", "stats", "destination", "advice", "error"]) {
      broadcaster.addEventListener(type, (e) => {
        const detail: unknown = (e as CustomEvent).detail;
        const plain = detail instanceof Error ? { code: (detail as Error & { code?: string }).code, message: detail.message } : detail;
        events.push({ type, detail: plain, at: performance.now() });
      });
    }
    const source = options.source ?? { kind: "camera" as const };
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
