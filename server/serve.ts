/**
 * `golive serve`: runs the bridge until SIGINT/SIGTERM, then ends every
 * session cleanly (destinations unpublish) within a bound and exits.
 */
import cluster from "node:cluster";
import { readFileSync } from "node:fs";
import { Bridge, isLoopbackHost, type BridgeOptions } from "./bridge/bridge.js";
import { runPrimary, runWorker, workerAdmission } from "./cluster.js";
import { createLogger, type Logger } from "./log.js";
import { webRoot } from "./web-root.js";

export interface ServeOptions {
  port: number;
  host: string;
  recordDir: string;
  allowPrivate: boolean;
  maxDestinations: number;
  logLevel: string;
  staticDir?: string;
  tokenSecret?: string;
  /** A file holding the token secret (first line). */
  tokenSecretFile?: string;
  /** Bearer token /metrics requires (default: none). */
  metricsToken?: string;
  allowDestinations?: string[];
  allowOrigins?: string[];
  publicUrls?: string[];
  allowedHosts?: string[];
  /** CSP frame-ancestors of the served pages (default: none). */
  frameAncestors?: string[];
  trustProxy?: number | string[];
  maxSessions: number;
  maxSessionsPerIp: number;
  /** WebSockets waiting to start, in all and per address; TCP connections at once. */
  maxPending?: number;
  maxSessionsPerUser?: number;
  maxTokenLifetimeS?: number;
  endAtTokenExpiry?: boolean;
  maxPendingPerIp?: number;
  maxConnections?: number;
  resumeGraceMs: number;
  insecureOpenRelay: boolean;
  /** How long a destination that lost its ingest keeps trying, ms (default 600,000). */
  reconnectForMs?: number;
  /** Bounds of the bitrate advice, bits/s (0 = the defaults). */
  adviceFloorBitrate?: number;
  adviceCeilingBitrate?: number;
  /** Bound on shutdown, ms (after the drain). */
  shutdownTimeoutMs: number;
  /** On SIGTERM, how long sessions may stream on before they are moved, ms (default 0: moved at once). */
  drainTimeoutMs?: number;
  /** WebSocket ping period, ms (default 5000; 0 = none). */
  pingIntervalMs?: number;
  /** Processes (default 1 here; the CLI's is the number of CPUs): more runs a primary that hands connections to that many workers, whose limits it keeps (server/cluster.ts). */
  workers?: number;
}

/** Starts the bridge; resolves with the exit code after a signal. */
export async function serve(options: ServeOptions): Promise<number> {
  const logger = createLogger({ level: options.logLevel });
  if (options.tokenSecretFile !== undefined) {
    try {
      options = { ...options, tokenSecret: readFileSync(options.tokenSecretFile, "utf8").split(/\r?\n/)[0]!.trim() };
    } catch (err) {
      process.stderr.write(`golive serve: --token-secret-file: ${err instanceof Error ? err.message : String(err)}\n`);
      return 2;
    }
  }
  for (const u of options.publicUrls ?? []) {
    let parsed: URL | undefined;
    try {
      parsed = new URL(u);
    } catch {
      parsed = undefined;
    }
    if (!parsed || (parsed.protocol !== "http:" && parsed.protocol !== "https:")) {
      process.stderr.write(`golive serve: --public-url ${u} is not an http(s) URL\n`);
      return 2;
    }
  }
  if (options.tokenSecret !== undefined && options.tokenSecret.length < 32) {
    process.stderr.write("golive serve: --token-secret must be at least 32 characters\n");
    return 2;
  }
  const bridgeOptions: BridgeOptions = {
    host: options.host,
    port: options.port,
    recordDir: options.recordDir,
    allowPrivate: options.allowPrivate,
    // An app's pages first, then golive's build (/golive.js and its workers, same-origin).
    staticDir: [options.staticDir, webRoot].filter((dir): dir is string => dir !== undefined),
    limits: {
      maxDestinations: options.maxDestinations,
      resumeGraceMs: options.resumeGraceMs,
      ...(options.adviceFloorBitrate !== undefined && { adviceFloorBitrate: options.adviceFloorBitrate }),
      ...(options.adviceCeilingBitrate !== undefined && { adviceCeilingBitrate: options.adviceCeilingBitrate }),
    },
    ...(options.reconnectForMs !== undefined && { destination: { reconnect: { retryForMs: options.reconnectForMs } } }),
    maxSessions: options.maxSessions,
    maxSessionsPerIp: options.maxSessionsPerIp,
    ...(options.maxPending !== undefined && { maxPendingConnections: options.maxPending }),
    ...(options.maxSessionsPerUser !== undefined && { maxSessionsPerUser: options.maxSessionsPerUser }),
    ...(options.maxTokenLifetimeS !== undefined && { maxTokenLifetimeS: options.maxTokenLifetimeS }),
    ...(options.endAtTokenExpiry && { endSessionsAtTokenExpiry: true }),
    ...(options.maxPendingPerIp !== undefined && { maxPendingPerIp: options.maxPendingPerIp }),
    ...(options.maxConnections !== undefined && { maxConnections: options.maxConnections }),
    ...(options.tokenSecret !== undefined && { tokenSecret: options.tokenSecret }),
    ...(options.metricsToken !== undefined && { metricsToken: options.metricsToken }),
    ...(options.allowDestinations !== undefined && { allowDestinations: options.allowDestinations }),
    ...(options.allowOrigins !== undefined && { allowOrigins: options.allowOrigins }),
    ...(options.publicUrls !== undefined && { publicUrls: options.publicUrls }),
    ...(options.allowedHosts !== undefined && { allowedHosts: options.allowedHosts }),
    ...(options.frameAncestors !== undefined && { frameAncestors: options.frameAncestors }),
    ...(options.pingIntervalMs !== undefined && { pingIntervalMs: options.pingIntervalMs }),
    ...(options.trustProxy !== undefined && { trustProxy: options.trustProxy }),
    logger,
  };
  const workers = options.workers ?? 1;
  let bridge: Bridge;
  try {
    // A worker is a whole bridge whose limits are the group's: it asks the primary.
    bridge = new Bridge({ ...bridgeOptions, ...(cluster.isWorker && { noServer: true, admission: workerAdmission() }) });
  } catch (err) {
    process.stderr.write(`golive serve: ${err instanceof Error ? err.message : String(err)}\n`);
    return 2;
  }
  // (Checked by the primary of a process group, not again by each worker.)
  if (bridge.openRelay && !isLoopbackHost(options.host) && !cluster.isWorker) {
    if (!options.insecureOpenRelay) {
      process.stderr.write(
        `golive serve: refusing to listen on ${options.host} as an open relay: anyone could make this machine publish anywhere.\n` +
          "Give --token-secret (tokens from your app's backend) or --allow-destination patterns, or, if you really mean it, --insecure-open-relay.\n",
      );
      return 2;
    }
    logger.warn("INSECURE: open relay on a non-loopback host (--insecure-open-relay): anyone who reaches this port can publish anywhere");
  }
  if (cluster.isWorker) return serveWorker(bridge, logger, options.drainTimeoutMs ?? 0);
  if (workers > 1) {
    return runPrimary({
      host: options.host, port: options.port, workers, logger,
      shutdownTimeoutMs: options.shutdownTimeoutMs, drainTimeoutMs: options.drainTimeoutMs ?? 0,
      ...(options.publicUrls !== undefined && { publicUrls: options.publicUrls }),
      ...(options.allowedHosts !== undefined && { allowedHosts: options.allowedHosts }),
      ...(options.metricsToken !== undefined && { metricsToken: options.metricsToken }),
      ...(options.maxConnections !== undefined && { maxConnections: options.maxConnections }),
    }).catch((err: unknown) => startFailed(err, options));
  }
  try {
    await bridge.listen();
  } catch (err) {
    return startFailed(err, options);
  }
  process.stderr.write(`golive bridge on http://${options.host}:${bridge.address.port}/  (ingest ${bridge.ingestUrl})\n`);
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once("SIGINT", resolve);
    process.once("SIGTERM", resolve);
  });
  // SIGTERM (a deploy, docker stop, Kubernetes): drain first, so each
  // broadcast moves to another bridge; SIGINT (Ctrl-C): shut down now.
  // A second signal during the drain cuts it short.
  const drainMs = signal === "SIGTERM" ? options.drainTimeoutMs ?? 0 : 0;
  logger.info({ signal, drainMs }, "shutting down");
  const timer = setTimeout(() => {
    logger.error("shutdown took too long; exiting");
    process.exit(1);
  }, drainMs + options.shutdownTimeoutMs);
  timer.unref();
  if (signal === "SIGTERM") {
    const cut = new Promise<void>((resolve) => {
      process.once("SIGINT", () => resolve());
      process.once("SIGTERM", () => resolve());
    });
    await Promise.race([bridge.drain(drainMs), cut.then(() => bridge.drain(0))]);
  }
  await bridge.close();
  clearTimeout(timer);
  logger.info("bye");
  return 0;
}

/** Says why the bridge did not start (the port, or a worker that died first); the exit code. */
function startFailed(err: unknown, options: ServeOptions): number {
  const e = err as NodeJS.ErrnoException;
  if (e.code === "GOLIVE_WORKER_FAILED") {
    process.stderr.write(`golive serve: ${e.message}\n`);
  } else {
    const why = e.code === "EADDRINUSE" ? `port ${options.port} is already in use (try --port)` : e.message;
    process.stderr.write(`golive serve: cannot listen on ${options.host}:${options.port}: ${why}\n`);
  }
  return 1;
}

/** A worker of `--workers N`: its bridge gets its connections from the primary. */
async function serveWorker(bridge: Bridge, logger: Logger, drainMs: number): Promise<number> {
  await bridge.ready();
  runWorker(bridge);
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once("SIGINT", resolve);
    process.once("SIGTERM", resolve);
  });
  // Ctrl-C reaches the workers and the primary passes it on: once is enough.
  process.on("SIGINT", () => undefined);
  process.on("SIGTERM", () => undefined);
  logger.info({ signal, drainMs, worker: process.env.GOLIVE_WORKER_SLOT }, "worker shutting down");
  if (signal === "SIGTERM") await bridge.drain(drainMs);
  await bridge.close();
  // The IPC channel to the primary would keep this process alive.
  if (process.connected) process.disconnect();
  return 0;
}
