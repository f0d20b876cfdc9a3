/**
 * `golive serve` as its own process, started the way an operator starts it
 * (`node bin/golive.js serve ...`), so the CPU and memory read for it are the
 * bridge's alone. Optionally under `node --cpu-prof`: the profile is written
 * when the bridge exits after SIGINT.
 */
import { makeTempDir, removeTempDir } from "../../server/testing/ingest/dirs.js";
import { childPids, retryOnAddressInUse, spawnManaged, waitForListening, type ManagedProcess } from "../../server/testing/ingest/process.js";
import { freePort, LOOPBACK } from "../../server/testing/ports.js";
import { GOLIVE_BIN } from "./paths.js";
import { Scrape } from "./prometheus.js";

/** Options of {@link startBridge}. */
export interface BridgeProcessOptions {
  /** Sessions the bridge must admit (sets --max-sessions and --max-sessions-per-ip). */
  sessions: number;
  /** Write a V8 CPU profile into this directory (node --cpu-prof). */
  cpuProfDir?: string;
  /** Bridge log level (default warn: per-session info lines are not what is measured). */
  logLevel?: string;
  /** The golive command to run (default this tree's bin/golive.js): another build, for A/B experiments. */
  bin?: string;
  /** `--workers`: a primary and this many worker processes (default 1: one process). */
  workers?: number;
}

/** A running bridge. */
export interface BridgeProcess {
  readonly pid: number;
  /** The bridge's processes: the one started, and with --workers its workers. */
  pids(): number[];
  readonly port: number;
  /** ws://127.0.0.1:PORT/ingest */
  readonly ingest: string;
  /** The command line, for the report. */
  readonly command: string;
  /** GET /metrics, parsed. */
  scrape(): Promise<Scrape>;
  /** What it printed. */
  output(): string;
  /** SIGINT (clean shutdown: the CPU profile is written), SIGKILL after 20 s; removes its temp dir. */
  stop(): Promise<void>;
}

/** Starts `golive serve` on a free loopback port; resolves once it listens. */
export async function startBridge(options: BridgeProcessOptions): Promise<BridgeProcess> {
  const recordDir = await makeTempDir("bench-bridge");
  const limit = String(options.sessions + 16);
  try {
    const { proc, port, args } = await retryOnAddressInUse(async (): Promise<{ proc: ManagedProcess; port: number; args: string[] }> => {
      const port = await freePort();
      const args = [
        ...(options.cpuProfDir !== undefined ? ["--cpu-prof", `--cpu-prof-dir=${options.cpuProfDir}`] : []),
        options.bin ?? GOLIVE_BIN, "serve", "--host", LOOPBACK, "--port", String(port), "--allow-private",
        "--max-sessions", limit, "--max-sessions-per-ip", limit, "--record-dir", recordDir, "--log-level", options.logLevel ?? "warn",
        // One process unless asked (the default is one worker per CPU).
        "--workers", String(options.workers ?? 1),
      ];
      const proc = await spawnManaged("golive serve", process.execPath, args);
      await waitForListening(proc, [port], { timeoutMs: 20_000 });
      return { proc, port, args };
    });
    const metricsUrl = `http://${LOOPBACK}:${port}/metrics`;
    if (options.workers !== undefined && options.workers > 1) {
      // Ready once every worker reports (the primary's /healthz counts them).
      const deadline = Date.now() + 20_000;
      for (;;) {
        const h = (await fetch(`http://${LOOPBACK}:${port}/healthz`).then((r) => r.json(), () => ({}))) as { workers?: number };
        if (h.workers === options.workers) break;
        if (Date.now() > deadline) throw new Error(`golive serve --workers ${options.workers}: the workers did not come up:\n${proc.output()}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    return {
      pid: proc.pid,
      pids: () => [proc.pid, ...childPids(proc.pid)],
      port,
      ingest: `ws://${LOOPBACK}:${port}/ingest`,
      command: `node ${args.map((a) => a.replace(options.bin ?? GOLIVE_BIN, "bin/golive.js").replace(recordDir, "$TMP")).join(" ")}`,
      async scrape() {
        const res = await fetch(metricsUrl);
        if (!res.ok) throw new Error(`GET ${metricsUrl}: HTTP ${res.status}`);
        const text = await res.text();
        return new Scrape(text, performance.now());
      },
      output: () => proc.output(),
      async stop() {
        await proc.stop("SIGINT", 20_000);
        await removeTempDir(recordDir);
      },
    };
  } catch (error) {
    await removeTempDir(recordDir);
    throw error;
  }
}
