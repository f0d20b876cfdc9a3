/**
 * `golive serve --workers N`: all cores of one machine. The primary process
 * owns the listening socket and no session; each worker is a whole bridge
 * (noServer) that gets connections handed to it.
 *
 * - Affinity: the primary reads each connection's request head (at most
 *   16 KiB, 10 s; at most 1024 connections waiting for theirs) and hands
 *   the socket, with those bytes, to a worker: by
 *   rendezvous hashing on the `?session=` key when there is one (a resume
 *   reaches the worker that holds its session; a replaced worker takes its
 *   slot's keys), else round robin. The worker puts the bytes back and
 *   serves the request as if it had accepted the connection itself.
 * - One /healthz, /readyz and /metrics for the group, answered by the
 *   primary: health and readiness from what the workers report (every
 *   500 ms), metrics summed over the workers (prom-client's
 *   AggregatorRegistry), with the same Host and metrics-token checks as a
 *   bridge's own.
 * - One set of limits for the group: the primary keeps the ledger behind
 *   them (admission.ts) and each worker's bridge asks it before a socket
 *   waits to start, a session starts, a token user adds a session, a
 *   download begins or a single-use token is taken; a worker that dies
 *   gives back all it held. The primary also caps TCP connections in all
 *   (--max-connections): those waiting for their head and those handed over
 *   and not yet closed.
 * - SIGTERM: /readyz 503, each worker drains (its --drain-timeout) while the
 *   primary still hands it resumes; the primary exits when they are gone.
 *   SIGINT: the workers shut down at once. A worker that dies is replaced.
 */
import cluster, { type Worker } from "node:cluster";
import { createHash } from "node:crypto";
import { createServer as createHttpServer, STATUS_CODES, type Server as HttpServer } from "node:http";
import { createServer as createNetServer, type Socket } from "node:net";
import { AggregatorRegistry } from "prom-client";
import { INGEST_PATH, SESSION_KEY_PARAM } from "../protocol/wire.js";
import { AdmissionLedger, answerAdmission, RemoteAdmission, type AdmissionAnswer } from "./bridge/admission.js";
import { bearerAllowed, hostAllowed, type Bridge, type BridgeOptions } from "./bridge/bridge.js";
import type { Logger } from "./log.js";

/** Largest request head the primary reads before handing a connection over. */
const MAX_HEAD_BYTES = 16 * 1024;
const HEAD_TIMEOUT_MS = 10_000;
/** Connections at once whose head the primary is still waiting for (slow or idle clients); past it, new ones are closed. */
const MAX_AWAITING_HEAD = 1024;

interface WorkerState {
  slot: number;
  worker: Worker;
  ready: boolean;
  sessions: number;
  accepting: boolean;
  /** Connections handed to it that it has not reported closed. */
  connections: number;
}

/** Messages between the primary and a worker. */
type ToWorker = { type: "golive:conn"; head: string };
type FromWorker = { type: "golive:state"; sessions: number; accepting: boolean } | { type: "golive:closed" };

export interface PrimaryOptions extends Pick<BridgeOptions, "publicUrls" | "allowedHosts" | "metricsToken" | "maxConnections"> {
  host: string;
  port: number;
  workers: number;
  logger: Logger;
  /** Bound on the shutdown after the workers' drain, ms. */
  shutdownTimeoutMs: number;
  drainTimeoutMs: number;
}

/** The worker for `key`: the highest hash of key and slot among the slots that can take it. */
export function pickSlot(key: string, slots: readonly number[]): number | undefined {
  let best: number | undefined;
  let bestScore = -1;
  for (const slot of slots) {
    const score = createHash("sha1").update(`${key}\0${slot}`).digest().readUInt32BE(0);
    if (score > bestScore) {
      bestScore = score;
      best = slot;
    }
  }
  return best;
}

/** The request line's path and session key, once the head is complete; undefined while it is not. */
function parseHead(head: Buffer): { path: string; key: string | undefined; host: string | undefined; authorization: string | undefined } | undefined {
  const end = head.indexOf("\r\n\r\n");
  if (end < 0 || end + 4 > MAX_HEAD_BYTES) return undefined;
  const lines = head.subarray(0, end).toString("latin1").split("\r\n");
  const target = lines[0]?.split(" ")[1] ?? "/";
  const header = (name: string): string | undefined => {
    const line = lines.find((l) => l.toLowerCase().startsWith(`${name}:`));
    return line?.slice(name.length + 1).trim();
  };
  let url: URL;
  try {
    url = new URL(target, "http://x");
  } catch {
    url = new URL("/", "http://x");
  }
  return { path: url.pathname, key: url.searchParams.get(SESSION_KEY_PARAM) ?? undefined, host: header("host"), authorization: header("authorization") };
}

/** Runs the primary until its workers are gone after a signal; resolves with the exit code. */
export async function runPrimary(opts: PrimaryOptions): Promise<number> {
  const log = opts.logger;
  const states = new Map<number, WorkerState>();
  let shuttingDown = false;
  let draining = false;
  let roundRobin = 0;
  const aggregator = new AggregatorRegistry();
  /** The group's limits: every worker's bridge asks here. */
  const ledger = new AdmissionLedger();

  /** Until every first worker is up: a worker that exits first fails the start. */
  let starting: { resolve: () => void; reject: (err: Error) => void } | undefined;
  const started = new Promise<void>((resolve, reject) => (starting = { resolve, reject }));
  /** Quick deaths in a row per slot: a worker that keeps dying is started again less and less often (up to 30 s). */
  const quickDeaths = new Map<number, number>();
  const fork = (slot: number): void => {
    const worker = cluster.fork({ GOLIVE_WORKER_SLOT: String(slot) });
    const forkedAt = Date.now();
    const state: WorkerState = { slot, worker, ready: false, sessions: 0, accepting: false, connections: 0 };
    states.set(slot, state);
    const reply = (answer: AdmissionAnswer): void => {
      if (worker.isConnected()) worker.send(answer);
    };
    worker.on("message", (m: FromWorker) => {
      if (answerAdmission(ledger, worker.id, m, reply)) return;
      if (m?.type === "golive:closed") {
        state.connections = Math.max(0, state.connections - 1);
      } else if (m?.type === "golive:state") {
        state.ready = true;
        state.sessions = m.sessions;
        state.accepting = m.accepting;
        if (starting && [...states.values()].every((s) => s.ready)) {
          starting.resolve();
          starting = undefined;
        }
      }
    });
    worker.on("exit", (code, signal) => {
      // Whatever it held (its sessions, its sockets' places) is gone with it.
      const given = ledger.giveAll(worker.id);
      if (given > 0) log.info({ slot, claims: given }, "a worker's admissions given back");
      if (states.get(slot)?.worker !== worker) return;
      states.delete(slot);
      if (shuttingDown) return;
      if (starting) {
        starting.reject(Object.assign(new Error(`worker ${slot} exited (code ${code ?? "none"}, signal ${signal ?? "none"}) before it was ready`), { code: "GOLIVE_WORKER_FAILED" }));
        starting = undefined;
        return;
      }
      const quick = Date.now() - forkedAt < 10_000 ? (quickDeaths.get(slot) ?? 0) + 1 : 0;
      quickDeaths.set(slot, quick);
      const delayMs = quick === 0 ? 0 : Math.min(30_000, 100 * 2 ** (quick - 1));
      log.error({ slot, code, signal, restartInMs: delayMs }, "a worker died: starting another in its place (its sessions start again there)");
      setTimeout(() => {
        if (!shuttingDown && !states.has(slot)) fork(slot);
      }, delayMs).unref();
    });
  };
  for (let slot = 0; slot < opts.workers; slot++) fork(slot);
  try {
    await started;
  } catch (err) {
    shuttingDown = true;
    for (const s of states.values()) s.worker.process.kill("SIGKILL");
    throw err;
  }

  const respond = (socket: Socket, status: number, body: string, type = "application/json"): void => {
    const reason = STATUS_CODES[status] ?? "Error";
    socket.end(`HTTP/1.1 ${status} ${reason}\r\nContent-Type: ${type}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nCache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n${body}`);
  };
  const sessions = (): number => [...states.values()].reduce((n, s) => n + s.sessions, 0);

  /** /healthz, /readyz and /metrics for the whole group; true when answered. */
  const own = async (socket: Socket, head: NonNullable<ReturnType<typeof parseHead>>): Promise<boolean> => {
    if (head.path !== "/healthz" && head.path !== "/readyz" && head.path !== "/metrics") return false;
    if (!hostAllowed(opts.host, head.host, opts)) {
      respond(socket, 403, "Host not allowed (see --allowed-hosts, --public-url)", "text/plain");
      return true;
    }
    const live = [...states.values()].filter((s) => s.ready);
    if (head.path === "/healthz") {
      const ok = !shuttingDown && live.length > 0;
      respond(socket, ok ? 200 : 503, JSON.stringify({ status: ok ? "ok" : shuttingDown ? "shutting down" : "starting", sessions: sessions(), workers: live.length }));
    } else if (head.path === "/readyz") {
      const ready = !draining && live.some((s) => s.accepting);
      respond(socket, ready ? 200 : 503, JSON.stringify({ status: ready ? "ready" : draining ? "draining" : "starting", sessions: sessions(), workers: live.length }));
    } else if (!bearerAllowed(head.authorization, opts.metricsToken)) {
      respond(socket, 401, "a bearer token is required", "text/plain");
    } else {
      const text = await aggregator.clusterMetrics().catch((err: unknown) => `# the workers' metrics could not be read: ${err instanceof Error ? err.message : String(err)}\n`);
      respond(socket, 200, text, aggregator.contentType);
    }
    return true;
  };

  const handOver = (socket: Socket, head: Buffer, key: string | undefined): void => {
    const slots = [...states.values()].filter((s) => s.ready).map((s) => s.slot);
    const slot = key !== undefined ? pickSlot(key, slots) : slots[roundRobin++ % Math.max(1, slots.length)];
    const target = slot === undefined ? undefined : states.get(slot);
    if (!target) {
      respond(socket, 503, JSON.stringify({ status: "no worker is up" }));
      return;
    }
    const message: ToWorker = { type: "golive:conn", head: head.toString("base64") };
    target.connections++;
    target.worker.send(message, socket, { keepOpen: false }, (err) => {
      if (!err) return;
      target.connections = Math.max(0, target.connections - 1);
      socket.destroy();
    });
  };

  let awaitingHead = 0;
  const maxConnections = opts.maxConnections ?? 4096;
  const connections = (): number => awaitingHead + [...states.values()].reduce((n, s) => n + s.connections, 0);
  const server = createNetServer({ pauseOnConnect: true }, (socket) => {
    socket.on("error", () => socket.destroy());
    // As a bridge's server.maxConnections: past it, a new connection is closed at once.
    if (awaitingHead >= MAX_AWAITING_HEAD || connections() >= maxConnections) {
      socket.destroy();
      return;
    }
    awaitingHead++;
    let waiting = true;
    const settle = (): void => {
      if (waiting) awaitingHead--;
      waiting = false;
    };
    socket.once("close", settle);
    let head = Buffer.alloc(0);
    const timer = setTimeout(() => socket.destroy(), HEAD_TIMEOUT_MS);
    const onData = (chunk: Buffer): void => {
      head = Buffer.concat([head, chunk]);
      const parsed = parseHead(head);
      // Incomplete and still under the limit: wait for more. (A head that ends past the limit never parses.)
      if (!parsed && head.length < MAX_HEAD_BYTES) return;
      settle();
      clearTimeout(timer);
      socket.off("data", onData);
      socket.pause();
      // pause() stops the stream, not the descriptor's reads: until the
      // primary's copy is closed (after the worker acknowledges it), what the
      // client sends next (its first message, right after the worker's 101)
      // would be read here and dropped. Stop reading at the descriptor.
      (socket as unknown as { _handle?: { readStop?: () => number } })._handle?.readStop?.();
      if (!parsed) {
        respond(socket, 431, "request head too large", "text/plain");
        return;
      }
      void own(socket, parsed).then((answered) => {
        if (!answered) handOver(socket, head, parsed.key);
      });
    };
    socket.on("data", onData);
    socket.resume();
  });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(opts.port, opts.host, () => {
        server.off("error", reject);
        resolve();
      });
    });
  } catch (err) {
    shuttingDown = true;
    for (const s of states.values()) s.worker.process.kill("SIGINT");
    throw err;
  }
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : opts.port;
  log.info({ url: `http://${opts.host}:${port}/`, ingest: `ws://${opts.host}:${port}${INGEST_PATH}`, workers: opts.workers }, "golive bridge listening");
  process.stderr.write(`golive bridge on http://${opts.host}:${port}/  (ingest ws://${opts.host}:${port}${INGEST_PATH}, ${opts.workers} workers)\n`);

  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once("SIGINT", resolve);
    process.once("SIGTERM", resolve);
  });
  // Later signals (Ctrl-C reaches the workers too) must not kill the primary mid-shutdown.
  process.on("SIGINT", () => undefined);
  process.on("SIGTERM", () => undefined);
  draining = true;
  log.info({ signal, workers: states.size }, "shutting down the workers");
  const timer = setTimeout(() => {
    log.error("shutdown took too long; exiting");
    process.exit(1);
  }, (signal === "SIGTERM" ? opts.drainTimeoutMs : 0) + opts.shutdownTimeoutMs);
  timer.unref();
  shuttingDown = true;
  const gone = [...states.values()].map((s) => new Promise<void>((resolve) => {
    if (s.worker.isDead()) resolve();
    else s.worker.once("exit", () => resolve());
  }));
  // The workers drain (SIGTERM) or stop (SIGINT); resumes of their sessions still reach them meanwhile.
  for (const s of states.values()) s.worker.process.kill(signal);
  await Promise.all(gone);
  // Not waiting for "close": the server counts the connections it handed
  // over as its own, and they are the workers' (gone now).
  server.close();
  clearTimeout(timer);
  log.info("bye");
  return 0;
}

/**
 * A worker: `bridge` (made with noServer) behind an HTTP server that never
 * listens: the primary hands it connections. Reports its state every 500 ms.
 */
export function runWorker(bridge: Bridge): HttpServer {
  if (!process.send) throw new Error("runWorker: not a worker (no IPC channel)");
  // Making one is what makes prom-client answer the primary's requests in this process.
  new AggregatorRegistry();
  AggregatorRegistry.setRegistries([bridge.metrics.registry]);
  const server = createHttpServer((req, res) => {
    void bridge.handleRequest(req, res).then((done) => {
      if (!done) res.writeHead(404, { "content-type": "text/plain", "x-content-type-options": "nosniff" }).end("not found");
    });
  });
  server.on("upgrade", (req, socket, head) => {
    if (new URL(req.url ?? "/", "http://x").pathname === INGEST_PATH) bridge.handleUpgrade(req, socket, head);
    else socket.end("HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
  });
  process.on("message", (m: ToWorker, handle?: Socket) => {
    if (m?.type !== "golive:conn" || !handle) return;
    // The primary counts it against --max-connections until it closes.
    handle.once("close", () => {
      if (process.connected) process.send?.({ type: "golive:closed" } satisfies FromWorker);
    });
    // The bytes the primary read go back in front, as if this process had read them.
    handle.unshift(Buffer.from(m.head, "base64"));
    server.emit("connection", handle);
  });
  const report = (): void => {
    if (process.connected) process.send?.({ type: "golive:state", sessions: bridge.sessions.size, accepting: bridge.accepting } satisfies FromWorker);
  };
  report();
  setInterval(report, 500).unref();
  bridge.on("session", report);
  bridge.on("sessionEnded", report);
  return server;
}

/** A worker's admission: the primary's ledger, over the IPC channel (fails closed without it). */
export function workerAdmission(): RemoteAdmission {
  return new RemoteAdmission({
    send: (message) => process.send!(message),
    on: (event, listener) => process.on(event, listener),
    get connected() {
      return process.connected;
    },
  });
}
