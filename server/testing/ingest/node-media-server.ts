/**
 * node-media-server v4 (an optional peer; a devDependency here) as a third, independent RTMP
 * ingest, run in a child `node` process through the package's own CLI
 * (`node_modules/node-media-server/bin/app.js -c CONFIG`): no launcher of our
 * own, and the PID we stop is the server.
 *
 * The generated config (v4 keys, see bin/app.js and src/server/*.js):
 *   { "bind": "127.0.0.1", "rtmp": { "port": PORT },
 *     "record": { "auto": true, "path": DIR/recordings },
 *     "store": { "path": DIR/data } }
 * With no `http`, `https` or `rtmps` section those listeners are not created,
 * and with no `auth` section the CLI never rewrites the config file.
 *
 * v4 records to FLV: `record.auto` records every publish, from its first tag,
 * to `recordings/APP/NAME/<Date.now()>.flv`. Gotchas measured on 4.4.3:
 * - After the publisher leaves, NMS keeps the publish alive for a 30 s grace
 *   window (src/server/broadcast_server.js PUBLISH_GRACE_MS) and only then
 *   closes the record file. The bytes are on disk within milliseconds, so
 *   `waitForRecording` waits for the file to stop growing, not for the close.
 * - A second publish of the same APP/NAME from the same IP within those 30 s
 *   "resumes" and is appended to the SAME file with shifted timestamps: use a
 *   fresh stream key per publish.
 * - A player (`pullToFile`) attached during the grace window is not ended by
 *   the publisher leaving; stop it yourself.
 * - Stop signal: SIGTERM. The CLI installs no handler of its own; NMS's store
 *   flushes its JSON files and re-raises the signal, so the process dies at
 *   once and any open record file is simply cut (FLV needs no trailer).
 */
import { readdirSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { freePort, LOOPBACK } from "../ports.js";
import { makeTempDir, removeTempDir } from "./dirs.js";
import { waitForStableFile } from "./media.js";
import { retryOnAddressInUse, spawnManaged, waitForListening } from "./process.js";

/** Options for {@link startNodeMediaServer}. */
export interface NodeMediaServerOptions {
  /** `record.auto` (default true): record every publish. */
  record?: boolean;
  /** Extra top-level config keys merged over the generated ones (e.g. `notify`, `auth`); `bind` and `rtmp` stay ours. */
  config?: Readonly<Record<string, unknown>>;
  /** How long to wait for the listener (default 15 s; node start-up is the slow part). */
  startTimeoutMs?: number;
}

/** A running node-media-server from {@link startNodeMediaServer}. */
export interface NodeMediaServer {
  /** RTMP port on 127.0.0.1. */
  readonly port: number;
  /** Always 127.0.0.1. */
  readonly host: string;
  /** The temp dir (config.json, data/, recordings/). */
  readonly dir: string;
  /** `record.path`; recordings land in `recordDir/APP/NAME/<ms>.flv`. */
  readonly recordDir: string;
  /** PID of the node process running NMS. */
  readonly pid: number;
  /** `rtmp://127.0.0.1:PORT/APP` (append `/KEY`). */
  rtmpUrl(app?: string): string;
  /** Recordings of APP/NAME so far, oldest first. */
  recordings(streamName: string, app?: string): string[];
  /** Waits until a recording of APP/NAME exists and has stopped growing; returns the newest one's path. */
  waitForRecording(streamName: string, options?: { app?: string; timeoutMs?: number; quietMs?: number }): Promise<string>;
  /** NMS's console output (its log). */
  logs(): string;
  /** SIGTERM, SIGKILL after 5 s; resolves once the process is gone. Idempotent. */
  stop(): Promise<void>;
  /** `stop()`, then removes the temp dir (kept if GOLIVE_KEEP_TEST_DIRS=1). */
  dispose(): Promise<void>;
}

/** Absolute path of node-media-server's CLI, resolved from this project's node_modules. */
function nmsCliPath(): string {
  const require = createRequire(import.meta.url);
  let packageJson: string;
  try {
    packageJson = require.resolve("node-media-server/package.json");
  } catch {
    throw new Error("this ingest needs the npm package node-media-server (an optional peer of golive): `npm i -D node-media-server`");
  }
  return join(dirname(packageJson), "bin", "app.js");
}

/**
 * Starts node-media-server on a free 127.0.0.1 port, recording every publish
 * to FLV, and resolves once the node process itself is listening.
 */
export async function startNodeMediaServer(options: NodeMediaServerOptions = {}): Promise<NodeMediaServer> {
  const cli = nmsCliPath();
  const dir = await makeTempDir("nms");
  const recordDir = join(dir, "recordings");
  const configPath = join(dir, "config.json");
  try {
    await mkdir(recordDir, { recursive: true });
    return await retryOnAddressInUse(async () => {
      const port = await freePort();
      const config = {
        store: { path: join(dir, "data") },
        record: { auto: options.record ?? true, path: recordDir },
        ...options.config,
        bind: LOOPBACK,
        rtmp: { port },
      };
      await writeFile(configPath, `${JSON.stringify(config, null, 2)}\n`);
      const proc = await spawnManaged("node-media-server", process.execPath, [cli, "-c", configPath], { cwd: dir });
      await waitForListening(proc, [port], { timeoutMs: options.startTimeoutMs ?? 15_000, addressInUse: /is already in use/ });
      const recordings = (streamName: string, app = "live"): string[] => {
        const folder = join(recordDir, app, streamName);
        let files: string[];
        try {
          files = readdirSync(folder);
        } catch {
          return [];
        }
        return files
          .filter((file) => /^\d+\.flv$/.test(file))
          .sort((a, b) => Number.parseInt(a, 10) - Number.parseInt(b, 10))
          .map((file) => join(folder, file));
      };
      const stop = async (): Promise<void> => {
        await proc.stop("SIGTERM", 5000);
      };
      return {
        port,
        host: LOOPBACK,
        dir,
        recordDir,
        pid: proc.pid,
        rtmpUrl: (app = "live") => `rtmp://${LOOPBACK}:${port}/${app}`,
        recordings,
        async waitForRecording(streamName, waitOptions = {}) {
          const timeoutMs = waitOptions.timeoutMs ?? 10_000;
          const deadline = Date.now() + timeoutMs;
          for (;;) {
            const newest = recordings(streamName, waitOptions.app).at(-1);
            if (newest) {
              await waitForStableFile(newest, { timeoutMs: Math.max(1, deadline - Date.now()), quietMs: waitOptions.quietMs });
              return newest;
            }
            if (Date.now() > deadline) throw new Error(`no NMS recording of ${waitOptions.app ?? "live"}/${streamName} within ${timeoutMs} ms\n--- NMS log ---\n${proc.output()}`);
            await sleep(50);
          }
        },
        logs: proc.output,
        stop,
        async dispose() {
          await stop();
          await removeTempDir(dir);
        },
      };
    });
  } catch (error) {
    await removeTempDir(dir);
    throw error;
  }
}
