/**
 * A test ingest for go-live tests: a real RTMP server on 127.0.0.1 that
 * records every publish, with a fresh stream key per test, plus an optional
 * golive bridge in-process for apps that embed the widget or the SDK.
 *
 * The RTMP server is the first available of nginx-rtmp (Debian's nginx +
 * libnginx-mod-rtmp), `ffmpeg -listen 1`, and node-media-server (an npm
 * dependency of golive, so always available: the ingest needs no install
 * beyond the package). Ask for one by name with `server`.
 */
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { randomBytes } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { Writable } from "node:stream";
import { Bridge } from "../bridge/bridge.js";
import { createLogger } from "../log.js";
import { webRoot } from "../web-root.js";
import { FlvDemuxer, type FlvPacket } from "../replay/flv-demux.js";
import { analyzeRecording, type AnalyzeOptions, type StreamReport } from "./analyze.js";
import { makeTempDir, removeTempDir } from "./ingest/dirs.js";
import { startFfmpegListen, type FfmpegListenServer } from "./ingest/ffmpeg-listen.js";
import { startHttpStatusServer, type HttpStatusServer } from "./ingest/http-status.js";
import { waitForStableFile } from "./ingest/media.js";
import { startNginxRtmp, type NginxRtmpServer } from "./ingest/nginx.js";
import { startNodeMediaServer, type NodeMediaServer } from "./ingest/node-media-server.js";
import { requireBinary, requireNginxModule } from "./system.js";

/**
 * Which RTMP server records the test streams. Measured: `ffmpeg -listen`
 * under heavy load may lose the last 1-2 AAC frames after the last video
 * frame when the publisher closes (the close resets the connection before
 * ffmpeg has read them); nginx-rtmp and node-media-server did not.
 */
export type TestIngestServer = "nginx" | "ffmpeg" | "node-media-server";

/** Options for {@link startTestIngest}. */
export interface TestIngestOptions {
  /** A server by name, or "auto" (default): nginx-rtmp, else ffmpeg, else node-media-server. */
  server?: TestIngestServer | "auto";
}

/** One stream key on the test ingest: what to type into the app, and what arrived. */
export interface TestStream {
  /** The "Stream URL" to give the app: `rtmp://127.0.0.1:PORT/live`. */
  readonly url: string;
  /** The "Stream key": fresh and unique for this stream. */
  readonly key: string;
  /** `url/key`. */
  readonly publishUrl: string;
  /** Resolves once media has arrived (a recorded video or audio frame); rejects after `timeoutMs` (default 30 s) with the server's log. */
  waitForPublish(options?: { timeoutMs?: number }): Promise<void>;
  /**
   * Resolves with the recording's path once the publisher has left and the
   * recording is complete; rejects after `timeoutMs` (default 30 s).
   */
  waitForEnd(options?: { timeoutMs?: number }): Promise<string>;
  /** The recording so far, if any. */
  recordingPath(): string | undefined;
  /** Measures the recording so far (see analyzeRecording); rejects with the ingest's log if nothing was recorded. */
  analyze(options?: AnalyzeOptions): Promise<StreamReport>;
}

/** A running test ingest. */
export interface TestIngest {
  readonly server: TestIngestServer;
  /** A fresh stream key (and, for ffmpeg, a fresh listener). */
  newStream(): Promise<TestStream>;
  /** The servers' logs, for failure reports. */
  logs(): string;
  /** Stops every server it started and removes their files (kept when GOLIVE_KEEP_TEST_DIRS=1). */
  close(): Promise<void>;
}

/** The FLV at `path` holds at least one coded frame. */
async function hasMedia(path: string): Promise<boolean> {
  const bytes = await readFile(path).catch(() => undefined);
  if (!bytes) return false;
  const packets: FlvPacket[] = [];
  try {
    new FlvDemuxer().parse(bytes, packets);
  } catch {
    // A partial or odd file: what parsed so far counts.
  }
  return packets.some((p) => p.type === "frame");
}

function newKey(): string {
  return `golive-test-${randomBytes(6).toString("hex")}`;
}

/** nginx-rtmp exactly as installed, with an on_publish_done hook to know when a publish ends. */
async function nginxIngest(): Promise<TestIngest> {
  const hooks: HttpStatusServer = await startHttpStatusServer(200);
  let nginx: NginxRtmpServer;
  try {
    nginx = await startNginxRtmp({ liveDirectives: [`on_publish_done ${hooks.url}/done`] });
  } catch (error) {
    await hooks.close();
    throw error;
  }
  const done = (key: string): boolean => hooks.requests.some((r) => r.url.startsWith("/done") && r.form.get("name") === key);
  return {
    server: "nginx",
    newStream() {
      const key = newKey();
      const path = nginx.recordingPath(key);
      return Promise.resolve(streamOf(nginx.rtmpUrl(), key, () => (existsSync(path) ? path : undefined), () => nginx.logs(), async (deadline) => {
        while (!done(key)) {
          if (Date.now() > deadline) throw new Error(`nginx-rtmp did not report the end of the publish of ${key}`);
          await sleep(50);
        }
        await waitForStableFile(path, { timeoutMs: Math.max(1, deadline - Date.now()), quietMs: 200 });
        return path;
      }));
    },
    logs: () => nginx.logs(),
    async close() {
      await nginx.dispose();
      await hooks.close();
    },
  };
}

/** node-media-server: it reports no end (it keeps a publish open 30 s for a resume), so the end is the recording going quiet. */
async function nmsIngest(): Promise<TestIngest> {
  const nms: NodeMediaServer = await startNodeMediaServer();
  return {
    server: "node-media-server",
    newStream() {
      const key = newKey();
      const current = (): string | undefined => nms.recordings(key).at(-1);
      return Promise.resolve(streamOf(nms.rtmpUrl(), key, current, () => nms.logs(), async (deadline) => {
        for (;;) {
          const path = current();
          if (path) {
            await waitForStableFile(path, { timeoutMs: Math.max(1, deadline - Date.now()), quietMs: 1500 });
            return path;
          }
          if (Date.now() > deadline) throw new Error(`node-media-server has no recording of ${key}`);
          await sleep(50);
        }
      }));
    },
    logs: () => nms.logs(),
    close: () => nms.dispose(),
  };
}

/** `ffmpeg -listen 1`: one listener per stream, which exits when its publisher leaves. */
function ffmpegIngest(): TestIngest {
  const servers: FfmpegListenServer[] = [];
  return {
    server: "ffmpeg",
    async newStream() {
      const key = newKey();
      const ffmpeg = await startFfmpegListen({ key });
      servers.push(ffmpeg);
      return streamOf(ffmpeg.rtmpUrl(), key, () => (existsSync(ffmpeg.outPath) ? ffmpeg.outPath : undefined), () => ffmpeg.stderr(), async (deadline) => {
        await ffmpeg.waitForExit(Math.max(1, deadline - Date.now()));
        return ffmpeg.outPath;
      });
    },
    logs: () => servers.map((s) => s.stderr()).join("\n"),
    async close() {
      await Promise.all(servers.map((s) => s.dispose()));
    },
  };
}

function streamOf(url: string, key: string, recordingPath: () => string | undefined, logs: () => string, waitEnd: (deadline: number) => Promise<string>): TestStream {
  const publishUrl = `${url}/${key}`;
  const withLog = (message: string): Error => new Error(`${message}\n--- ingest log (last 4 KB) ---\n${logs().slice(-4096)}`);
  return {
    url,
    key,
    publishUrl,
    recordingPath,
    async waitForPublish(options = {}) {
      const timeoutMs = options.timeoutMs ?? 30_000;
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const path = recordingPath();
        if (path && (await hasMedia(path))) return;
        if (Date.now() > deadline) throw withLog(`no media arrived at ${publishUrl} within ${timeoutMs / 1000} s (did the app go live to this URL and key?)`);
        await sleep(100);
      }
    },
    async waitForEnd(options = {}) {
      const timeoutMs = options.timeoutMs ?? 30_000;
      try {
        return await waitEnd(Date.now() + timeoutMs);
      } catch (error) {
        throw withLog(`the publish to ${publishUrl} did not end within ${timeoutMs / 1000} s: ${(error as Error).message}`);
      }
    },
    async analyze(options = {}) {
      const path = recordingPath();
      if (!path) throw withLog(`nothing was recorded for ${publishUrl}`);
      return analyzeRecording(path, options);
    },
  };
}

/** True when `find` finds what it looks for (the system.ts lookups throw when they do not). */
function found(find: () => unknown): boolean {
  try {
    find();
    return true;
  } catch {
    return false;
  }
}

const nginxAvailable = (): boolean => found(() => requireBinary("nginx")) && found(() => requireNginxModule("ngx_rtmp_module"));
const ffmpegAvailable = (): boolean => found(() => requireBinary("ffmpeg"));

/** Starts the test ingest: see {@link TestIngestOptions}. */
export async function startTestIngest(options: TestIngestOptions = {}): Promise<TestIngest> {
  const wanted = options.server ?? "auto";
  const server: TestIngestServer = wanted !== "auto" ? wanted : nginxAvailable() ? "nginx" : ffmpegAvailable() ? "ffmpeg" : "node-media-server";
  switch (server) {
    case "nginx":
      return nginxIngest();
    case "ffmpeg":
      return ffmpegIngest();
    case "node-media-server":
      return nmsIngest();
    default:
      throw new TypeError(`startTestIngest: unknown server ${String(server)} (nginx, ffmpeg or node-media-server)`);
  }
}

/** Options for {@link startTestBridge}. */
export interface TestBridgeOptions {
  /**
   * Serve this directory at `/` (your app's pages). golive's own build is
   * served behind it, so a page can load `/golive.js` from the same origin
   * (its workers must be same-origin). Default: golive's demo page.
   */
  staticDir?: string;
  /** Where "Record on this machine" writes (default: a temp dir, removed on close). */
  recordDir?: string;
  /** Allow destinations on loopback and private addresses (default true: the test ingest is on 127.0.0.1). */
  allowPrivate?: boolean;
  /** Token secret (>= 32 chars), when the app under test mints tokens. */
  tokenSecret?: string;
  /** Port (default: any free one). */
  port?: number;
}

/** A golive bridge running in the test process. */
export interface TestBridge {
  /** `http://127.0.0.1:PORT/` */
  readonly url: string;
  /** `ws://127.0.0.1:PORT/ingest`: the `bridge` attribute of `<go-live>`, the SDK's bridgeUrl. */
  readonly ingestUrl: string;
  readonly port: number;
  readonly recordDir: string;
  /** The bridge's JSON log lines so far. */
  logs(): string;
  /** Ends every session cleanly and stops listening. */
  close(): Promise<void>;
}

/** Starts a golive bridge in this process on 127.0.0.1. */
export async function startTestBridge(options: TestBridgeOptions = {}): Promise<TestBridge> {
  const tempDir = options.recordDir === undefined ? await makeTempDir("bridge-recordings") : undefined;
  const recordDir = options.recordDir ?? tempDir!;
  let log = "";
  const destination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      log += chunk.toString();
      if (log.length > 1_000_000) log = log.slice(-500_000);
      callback();
    },
  });
  const bridge = new Bridge({
    host: "127.0.0.1",
    port: options.port ?? 0,
    recordDir,
    allowPrivate: options.allowPrivate ?? true,
    staticDir: [options.staticDir, goliveWebDir()].filter((d): d is string => d !== undefined),
    ...(options.tokenSecret !== undefined && { tokenSecret: options.tokenSecret }),
    logger: createLogger({ level: "info", destination }),
  });
  await bridge.listen();
  const port = bridge.address.port;
  return {
    url: `http://127.0.0.1:${port}/`,
    ingestUrl: bridge.ingestUrl,
    port,
    recordDir,
    logs: () => log,
    async close() {
      await bridge.close();
      if (tempDir) await removeTempDir(tempDir);
    },
  };
}

/** golive's built browser side (golive.js, its workers and the demo page), or undefined when not built. */
/** golive's built browser files (golive.js, assets/, the demo page), if built. */
export function goliveWebDir(): string | undefined {
  return webRoot;
}
