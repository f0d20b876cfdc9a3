/**
 * `ffmpeg -listen 1` as a second, independent RTMP ingest: ffmpeg's own RTMP
 * server side (libavformat rtmpproto.c), accepting exactly one publisher and
 * copying its stream into an FLV file.
 *
 * Readiness: ffmpeg must be given its port up front and listens only some
 * time after it starts. A TCP probe cannot be used to find out when, because
 * ffmpeg would take the probe as its one client and fail. So we wait until
 * the kernel's socket table (`/proc/net/tcp`) shows a LISTEN socket on the
 * port held by this ffmpeg's PID (see `isListeningBy`); no packet is sent.
 */
import { join } from "node:path";
import { freePort, LOOPBACK } from "../ports.js";
import { requireBinary } from "../system.js";
import { makeTempDir, removeTempDir } from "./dirs.js";
import { waitForExit } from "./media.js";
import { retryOnAddressInUse, spawnManaged, stopFfmpeg, waitForListening } from "./process.js";

/** Options for {@link startFfmpegListen}. */
export interface FfmpegListenOptions {
  /** RTMP application (default `live`). */
  app?: string;
  /** Stream key (default `key`). ffmpeg -listen does not check it: any key is accepted. */
  key?: string;
  /** Where to write the FLV (default `out.flv` in a fresh temp dir). */
  outPath?: string;
  /** How long to wait for the listener (default 10 s). */
  startTimeoutMs?: number;
}

/** A running `ffmpeg -listen 1` from {@link startFfmpegListen}. */
export interface FfmpegListenServer {
  /** Port on 127.0.0.1. */
  readonly port: number;
  /** The full publish URL, `rtmp://127.0.0.1:PORT/APP/KEY`. */
  readonly url: string;
  /** The FLV being written (complete once ffmpeg has exited). */
  readonly outPath: string;
  /** The temp dir (holds `outPath` unless one was given). */
  readonly dir: string;
  /** ffmpeg's PID. */
  readonly pid: number;
  /** `rtmp://127.0.0.1:PORT/APP` without the key. */
  rtmpUrl(app?: string): string;
  /** ffmpeg's stderr so far (warnings and errors). */
  stderr(): string;
  /**
   * Waits for ffmpeg to exit by itself, which it does when the publisher
   * disconnects; resolves with its exit status (0 = clean, even though it
   * prints an "Input/output error" for the peer's close). Rejects after
   * `timeoutMs`, leaving ffmpeg running.
   */
  waitForExit(timeoutMs: number): Promise<number>;
  /** SIGINT twice (ffmpeg finishes the FLV), SIGKILL after 5 s. Idempotent. */
  stop(): Promise<void>;
  /** `stop()`, then removes the temp dir (kept if GOLIVE_KEEP_TEST_DIRS=1). */
  dispose(): Promise<void>;
}

/**
 * Starts `ffmpeg -hide_banner -loglevel warning -listen 1 -i
 * rtmp://127.0.0.1:PORT/APP/KEY -c copy -f flv OUT` on a free port and
 * resolves once it listens.
 */
export async function startFfmpegListen(options: FfmpegListenOptions = {}): Promise<FfmpegListenServer> {
  const ffmpeg = requireBinary("ffmpeg");
  const app = options.app ?? "live";
  const key = options.key ?? "key";
  const dir = await makeTempDir("ffmpeg-listen");
  const outPath = options.outPath ?? join(dir, "out.flv");
  try {
    return await retryOnAddressInUse(async () => {
      const port = await freePort();
      const url = `rtmp://${LOOPBACK}:${port}/${app}/${key}`;
      const proc = await spawnManaged("ffmpeg -listen", ffmpeg, ["-hide_banner", "-nostdin", "-loglevel", "warning", "-listen", "1", "-i", url, "-c", "copy", "-y", "-f", "flv", outPath], {
        cwd: dir,
      });
      await waitForListening(proc, [port], { timeoutMs: options.startTimeoutMs ?? 10_000 });
      const stop = async (): Promise<void> => {
        await stopFfmpeg(proc);
      };
      return {
        port,
        url,
        outPath,
        dir,
        pid: proc.pid,
        rtmpUrl: (rtmpApp = app) => `rtmp://${LOOPBACK}:${port}/${rtmpApp}`,
        stderr: proc.output,
        waitForExit: (timeoutMs) => waitForExit(proc, timeoutMs),
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
