/**
 * The bridge: the WebSocket ingest at /ingest, /healthz, /metrics and the
 * demo page at /, on its own HTTP server (listen()) or on an app's
 * (noServer: the app calls handleUpgrade() and handleRequest()). Owns every
 * session, and tells the app about them through events.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { EventEmitter } from "node:events";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { BlockList, isIP, type AddressInfo } from "node:net";
import { networkInterfaces } from "node:os";
import type { Duplex } from "node:stream";
import { resolve } from "node:path";
import { WebSocketServer, type WebSocket } from "ws";
import { CloseCode, encodeMessage, INGEST_PATH, MAX_CONTROL_BYTES, SUBPROTOCOL, WireError, type DestinationState, type DestinationStats } from "../../protocol/wire.js";
import type { Core } from "../../wasm/host/index.js";
import { loadCoreNode } from "../../wasm/host/load-node.js";
import { createLogger, type Logger } from "../log.js";
import { BridgeMetrics } from "../metrics.js";
import type { RtmpPublisherOptions } from "../rtmp/rtmp-connection.js";
import { addressGuard } from "../security/address-policy.js";
import { DestinationPolicy } from "../security/policy.js";
import type { RtmpDestinationOptions } from "./rtmp-destination.js";
import { ffmpegCoreDir, webRoot } from "../web-root.js";
import { LocalAdmission, type Admission, type Counter, type Ticket } from "./admission.js";
import { authorizeWithHook, type AuthorizeHook } from "./authorize.js";
import { StaticFiles, type StaticFilesOptions } from "./static-files.js";
import { DEFAULT_SESSION_LIMITS, Session, type SessionLimits, type SessionLink } from "./session.js";

export interface BridgeOptions {
  /**
   * Attach to the app's own HTTP server instead of listening: the app calls
   * handleUpgrade() from its server's "upgrade" event on the path it
   * chooses, and handleRequest() if it wants /healthz, /metrics and the
   * static files. listen() is then an error. (Like ws's noServer.)
   */
  noServer?: boolean;
  /**
   * The app's own authorisation, instead of tokens and the allowlist: called
   * for each "start" with the upgrade request (cookies, headers) and what
   * the client asks for; see AuthorizeResult. The address guard and every
   * limit still apply.
   */
  authorize?: AuthorizeHook;
  /** Longest the authorize hook may take, ms (default 10,000); past it the session is refused. */
  authorizeTimeoutMs?: number;
  /**
   * WebSocket ping period, ms (default 5000; 0 = none): a client that has
   * not answered the previous ping by the next one is cut (a dead link or
   * host), and its session waits for a resume.
   */
  pingIntervalMs?: number;
  /**
   * Who may frame the pages the bridge serves (CSP frame-ancestors sources,
   * e.g. "https://app.example"). Default: nobody ('none'): the demo page asks
   * for the camera, and a page that frames it could trick a click.
   */
  frameAncestors?: readonly string[];
  /** Listen address (default 127.0.0.1). */
  host?: string;
  /** Listen port (default 8080; 0 = any free port). */
  port?: number;
  /** Where recordings go (default ./recordings). */
  recordDir?: string;
  /** Allow destinations on loopback/private/link-local addresses (default false). */
  allowPrivate?: boolean;
  /** Record sessions that name no destination (default true). */
  recordWhenNoDestination?: boolean;
  /**
   * Directory served at `/` (the built demo page), or several, looked up in
   * order: e.g. an app's pages first, then golive's own build for
   * `/golive.js` and its assets.
   */
  staticDir?: string | readonly string[] | undefined;
  /** Largest WebSocket message, bytes (default maxFrameBytes + 64 KiB). */
  maxMessageBytes?: number;
  /** Per-session limits. */
  limits?: Partial<SessionLimits>;
  /** Extra options for every RTMP publisher (timeouts, TLS CA). */
  publisher?: Partial<RtmpPublisherOptions>;
  /** Reconnect and congestion policies of RTMP destinations. */
  destination?: Pick<RtmpDestinationOptions, "reconnect" | "congestion">;
  /** Shared secret for tokens minted by the app's backend (at least 32 characters). */
  tokenSecret?: string;
  /** Destination URL patterns the operator allows without a token. */
  allowDestinations?: readonly string[];
  /**
   * WebSocket origins allowed ("*" = any). Default: clients that send no
   * Origin (non-browsers), the bridge's own origin, and, when listening on
   * loopback, any loopback origin.
   */
  allowOrigins?: readonly string[];
  /**
   * The URLs people reach this bridge at (e.g. "https://live.example.com"),
   * behind a proxy or under a name: their origins are the bridge's own
   * (allowed to open the WebSocket) and their host names are allowed hosts.
   */
  publicUrls?: readonly string[];
  /**
   * Host names the bridge answers to besides its addresses and publicUrls
   * ("live.example.com", ".example.com" for any subdomain). On a bridge not
   * bound to loopback, a request whose Host is none of these (nor an IP
   * literal, nor localhost) is refused with 403: DNS rebinding.
   */
  allowedHosts?: readonly string[];
  /**
   * Reverse proxies in front of the bridge whose X-Forwarded-For /
   * Forwarded headers say who the client is: a number of hops (the client
   * is that many addresses from the right, the direct peer counting as the
   * first), or a list of proxy addresses/CIDRs (the client is the first
   * address from the right that is not one of them). Default: none (the
   * peer is the client; the headers are ignored, anyone can write them).
   */
  trustProxy?: number | readonly string[];
  /** Most sessions at once (default 200). */
  maxSessions?: number;
  /** Most sessions (live or waiting for a resume) from one IP address at once (default 10). */
  maxSessionsPerIp?: number;
  /** Most sessions at once for one token user (its `sub`, else the token itself; default 3). A token's `max` claim may lower it. */
  maxSessionsPerUser?: number;
  /** Longest token lifetime accepted, seconds (default 86,400). */
  maxTokenLifetimeS?: number;
  /** End a session when its token expires, with a warning a minute before (default false: `exp` bounds the start only). */
  endSessionsAtTokenExpiry?: boolean;
  /** Most WebSockets at once that have not started a session yet (default 256). */
  maxPendingConnections?: number;
  /** Of those, from one IP address (default 32). */
  maxPendingPerIp?: number;
  /** Most TCP connections at once, HTTP included (default 4096; `server.maxConnections`). */
  maxConnections?: number;
  /** Require `Authorization: Bearer <metricsToken>` on /metrics (default: open). */
  metricsToken?: string;
  /** How static files are sent (timeouts, transfers per address; see static-files.ts). */
  staticFiles?: Omit<StaticFilesOptions, "roots" | "headers">;
  /** Structured log (pino; default: silent). */
  logger?: Logger;
  core?: Core;
  /**
   * Where the counts behind the limits above are kept (default: this
   * bridge). Bridges that share one (`golive serve --workers N`: the
   * primary's ledger) share their limits: see admission.ts. Used by
   * `golive serve --workers`; not a stable API for apps yet.
   */
  admission?: Admission;
}

/** A session was authorised; its destinations are opening. */
export interface SessionStartedEvent {
  session: string;
  /** The client's address. */
  remote: string;
  /** The token's subject, or the user the authorize hook named. */
  user?: string;
  /** Each destination the client asked for: its id and where it goes (stream key hidden). */
  destinations: Array<{ id: string; target: string }>;
  /** The recording's file name, when the session records on the bridge. */
  recording?: string;
}

/** A destination of a session changed state (connecting, live, reconnecting, failed, ended). */
export interface DestinationStateEvent {
  session: string;
  id: string;
  target: string;
  state: DestinationState;
  /** Why, for failed and reconnecting: a stable code and a readable message. */
  code?: string;
  message?: string;
  attempt?: number;
  retryInMs?: number;
}

/** A session is over; what each destination carried. */
export interface SessionEndedEvent {
  session: string;
  outcome: "stopped" | "failed" | "disconnected";
  destinations: DestinationStats[];
}

/** The bridge's events (bridge.on("session", ...)). A listener that throws is logged, never the bridge's problem. */
export interface BridgeEvents {
  session: [SessionStartedEvent];
  destination: [DestinationStateEvent];
  sessionEnded: [SessionEndedEvent];
}

/**
 * The demo page's Content-Security-Policy: its own scripts, workers and
 * WASM ('wasm-unsafe-eval' compiles WebAssembly, no eval()); blob: for the
 * audio worklet and the probe's worker, which are built in the page; inline
 * styles for the widget's shadow DOM; the WebSocket to this bridge ('self').
 */
export function demoPageCsp(frameAncestors: readonly string[]): string {
  return [
    "default-src 'self'",
    "script-src 'self' 'wasm-unsafe-eval' blob:",
    "worker-src 'self' blob:",
    "connect-src 'self'",
    "img-src 'self' data: blob:",
    "media-src 'self' blob: mediastream:",
    "style-src 'self' 'unsafe-inline'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'none'",
    `frame-ancestors ${frameAncestors.length > 0 ? frameAncestors.join(" ") : "'none'"}`,
  ].join("; ");
}


/** An address without the IPv4-mapped prefix (::ffff:1.2.3.4 -> 1.2.3.4). */
function normalizeAddress(address: string): string {
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return m ? m[1]! : address;
}

/** The addresses of X-Forwarded-For, or else of Forwarded's for= (RFC 7239), oldest first. */
function forwardedFor(req: IncomingMessage): string[] {
  const xff = req.headers["x-forwarded-for"];
  const list: string[] = [];
  if (xff !== undefined) {
    for (const part of (Array.isArray(xff) ? xff.join(",") : xff).split(",")) {
      const a = part.trim();
      if (a) list.push(normalizeAddress(a));
    }
    return list;
  }
  const fwd = req.headers.forwarded;
  if (fwd === undefined) return list;
  for (const element of fwd.split(",")) {
    const m = /(?:^|;)\s*for=("?)\[?([^\]";,]+)\]?(?::\d+)?\1/i.exec(element);
    if (m) list.push(normalizeAddress(m[2]!.trim()));
  }
  return list;
}

/** A BlockList of proxy addresses and CIDRs ("10.0.0.0/8", "127.0.0.1", "::1"). */
function proxyList(entries: readonly string[]): BlockList {
  const list = new BlockList();
  for (const entry of entries) {
    const [address, prefix] = entry.split("/");
    const family = isIP(address ?? "");
    if (family === 0) throw new TypeError(`trustProxy: ${entry} is not an address or CIDR`);
    const type = family === 4 ? "ipv4" : "ipv6";
    if (prefix === undefined) list.addAddress(address!, type);
    else list.addSubnet(address!, Number(prefix), type);
  }
  return list;
}

/** The host name of a Host header ("name:port", "[v6]:port"), lower-cased; undefined when malformed. */
function hostName(host: string): string | undefined {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+))(?::\d{1,5})?$/.exec(host.trim());
  if (!m) return undefined;
  return (m[1] ?? m[2]!).toLowerCase();
}

const loopbackNets = new BlockList();
loopbackNets.addSubnet("127.0.0.0", 8, "ipv4");
loopbackNets.addAddress("::1", "ipv6"); // BlockList matches ::ffff:127.x.y.z against the IPv4 rule itself

/**
 * True for addresses only this machine can reach: "localhost" and loopback IP
 * literals (brackets allowed). A name that merely starts with "127." is not
 * one: 127.0.0.1.evil.example is anybody's.
 */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, "").toLowerCase();
  if (h === "localhost") return true;
  const family = isIP(h);
  return family !== 0 && loopbackNets.check(h, family === 4 ? "ipv4" : "ipv6");
}

/**
 * The Host header check of a bridge bound to `bound` (see BridgeOptions.allowedHosts):
 * anything on loopback; else an IP literal, localhost, a publicUrls host or an allowedHosts entry.
 */
export function hostAllowed(bound: string, host: string | undefined, options: Pick<BridgeOptions, "publicUrls" | "allowedHosts">): boolean {
  if (isLoopbackHost(bound)) return true;
  if (host === undefined) return false;
  const name = hostName(host);
  if (name === undefined) return false;
  if (isIP(name) !== 0 || name === "localhost") return true;
  const names: string[] = [];
  for (const u of options.publicUrls ?? []) {
    try {
      names.push(new URL(u).hostname.toLowerCase());
    } catch {
      // checked at startup by serve
    }
  }
  for (const h of options.allowedHosts ?? []) names.push(h.toLowerCase());
  return names.some((allowed) => (allowed.startsWith(".") ? name.endsWith(allowed) || name === allowed.slice(1) : name === allowed));
}

/** An Authorization header against a bearer token (none set: open), compared in constant time. */
export function bearerAllowed(authorization: string | undefined, token: string | undefined): boolean {
  if (token === undefined || token === "") return true;
  const got = /^Bearer (.+)$/i.exec(authorization ?? "")?.[1] ?? "";
  return timingSafeEqual(createHash("sha256").update(got).digest(), createHash("sha256").update(token).digest());
}

const PLACEHOLDER = `<!doctype html><meta charset="utf-8"><title>golive</title>
<h1>golive bridge</h1><p>The bridge is running: WebSocket ingest at <code>${INGEST_PATH}</code>
(subprotocol <code>${SUBPROTOCOL}</code>), health at <a href="/healthz">/healthz</a>, metrics at
<a href="/metrics">/metrics</a>. The demo page is not built: run <code>npm run build</code>.</p>`;

export class Bridge extends EventEmitter<BridgeEvents> {
  readonly metrics = new BridgeMetrics();
  readonly #static: StaticFiles | undefined;
  /** ffmpeg.wasm's core at /ffmpeg-core/, when @ffmpeg/core is installed and golive's page is served. */
  readonly #ffmpegCore: StaticFiles | undefined;
  #ready: Promise<void> | undefined;
  readonly sessions = new Set<Session>();
  readonly #opts: BridgeOptions;
  readonly #limits: SessionLimits;
  readonly #log: Logger;
  #server: Server | undefined;
  #wss: WebSocketServer | undefined;
  #core: Core | undefined;
  #closing = false;
  /** Draining: no new sessions (resumes still), /readyz 503. */
  #draining = false;
  /** Wakes drain() when a session ends. */
  #sessionEnded: (() => void) | undefined;
  readonly #policy: DestinationPolicy;
  readonly #byResumeToken = new Map<string, Session>();
  /** Every open WebSocket, with or without a session. */
  readonly #sockets = new Set<WebSocket>();
  /**
   * The counts behind the limits: sessions in all and per address (live and
   * detached: counted until the session ends), per token user, WebSockets
   * not started yet, downloads per address, single-use token ids.
   */
  readonly #admission: Admission;
  /** What each session holds of them (its slot; its user's), given back when it ends. */
  readonly #tickets = new WeakMap<Session, Ticket[]>();
  readonly #maxSessions: number;
  readonly #maxSessionsPerIp: number;

  constructor(options: BridgeOptions) {
    super();
    this.#opts = options;
    this.#limits = { ...DEFAULT_SESSION_LIMITS, ...options.limits };
    this.#log = options.logger ?? createLogger({ level: "silent" });
    this.#admission = options.admission ?? new LocalAdmission();
    if (Array.isArray(options.trustProxy)) this.#trustedProxies = proxyList(options.trustProxy);
    const roots = typeof options.staticDir === "string" ? [options.staticDir] : (options.staticDir ?? []);
    const ours = roots.map((r) => webRoot !== undefined && resolve(r) === webRoot);
    const ancestors = options.frameAncestors ?? [];
    for (const source of ancestors) {
      // One CSP source each: a ; or , would start another directive or policy.
      if (!/^[^\s;,]+$/.test(source)) throw new TypeError(`frameAncestors: ${JSON.stringify(source)} is not one CSP source (e.g. https://app.example, 'self')`);
    }
    const denyFraming = ancestors.length === 0 || (ancestors.length === 1 && ancestors[0] === "'none'");
    this.#static = roots.length > 0
      ? new StaticFiles({
        ...options.staticFiles,
        admission: this.#admission,
        roots,
        // golive's own page gets its full policy; an app's pages only who may frame them (their scripts are theirs).
        headers: ({ root, contentType }) => {
          if (!contentType.startsWith("text/html")) return {};
          return {
            "content-security-policy": ours[root] ? demoPageCsp(ancestors) : `frame-ancestors ${denyFraming ? "'none'" : ancestors.join(" ")}`,
            ...(denyFraming && { "x-frame-options": "DENY" }),
            "referrer-policy": "no-referrer",
          };
        },
      })
      : undefined;
    const core = ours.some(Boolean) ? ffmpegCoreDir() : undefined;
    this.#ffmpegCore = core ? new StaticFiles({ ...options.staticFiles, admission: this.#admission, roots: [core] }) : undefined;
    this.#policy = new DestinationPolicy({
      ...(options.tokenSecret !== undefined && { tokenSecret: options.tokenSecret }),
      ...(options.allowDestinations !== undefined && { allowlist: options.allowDestinations }),
      ...(options.maxTokenLifetimeS !== undefined && { maxTokenLifetimeS: options.maxTokenLifetimeS }),
      once: (jti, untilMs) => this.#admission.once(jti, untilMs),
    });
    this.#maxSessions = options.maxSessions ?? 200;
    this.#maxSessionsPerIp = options.maxSessionsPerIp ?? 10;
  }

  /** Whether the bridge takes new sessions (/readyz): not draining, not closing. */
  get accepting(): boolean {
    return !this.#draining && !this.#closing;
  }

  /**
   * Drains the bridge before a deploy or a scale-down: /readyz answers 503 at
   * once (the load balancer stops sending new sessions here), a new session
   * is refused with BRIDGE_DRAINING and close 1001 (the client starts again,
   * elsewhere), resumes of sessions held here are still taken. Sessions
   * stream on until they end or `timeoutMs` passes; then each is told to
   * move ("move", then close 1001): its destinations unpublish cleanly and
   * the client starts a new session through the load balancer at once.
   * Resolves when no session is left; close() after it.
   */
  async drain(timeoutMs = 0): Promise<void> {
    this.#draining = true;
    this.#log.info({ sessions: this.sessions.size, timeoutMs }, "draining");
    const deadline = Date.now() + timeoutMs;
    while (this.sessions.size > 0 && Date.now() < deadline) {
      await new Promise<void>((resolveWait) => {
        const timer = setTimeout(resolveWait, Math.max(0, deadline - Date.now()));
        this.#sessionEnded = () => {
          clearTimeout(timer);
          resolveWait();
        };
      });
      this.#sessionEnded = undefined;
    }
    const moving = [...this.sessions];
    if (moving.length > 0) this.#log.info({ sessions: moving.length }, "drain timeout: moving the sessions left");
    await Promise.all(moving.map((s) => s.shutdown(CloseCode.GoingAway, "this bridge is draining: start again through your load balancer", true)));
  }

  /** True when destinations are restricted by neither tokens nor an allowlist. */
  get openRelay(): boolean {
    return this.#policy.open;
  }

  /** The bound address, after listen(). */
  get address(): AddressInfo {
    const a = this.#server?.address();
    if (!a || typeof a === "string") throw new TypeError("bridge is not listening");
    return a;
  }

  /** ws://host:port/ingest, after listen(). */
  get ingestUrl(): string {
    const { address, port, family } = this.address;
    const host = family === "IPv6" ? `[${address}]` : address;
    return `ws://${host}:${port}${INGEST_PATH}`;
  }

  /**
   * Loads the WASM core and sets up the WebSocket layer; listen() does it,
   * and with noServer the first handleUpgrade() does (await it to know the
   * bridge can take sessions, e.g. before your server listens).
   */
  ready(): Promise<void> {
    this.#ready ??= (async () => {
      this.#core = this.#opts.core ?? (await loadCoreNode());
      const maxPayload = this.#opts.maxMessageBytes ?? this.#limits.maxFrameBytes + 64 * 1024;
      this.#wss = new WebSocketServer({ noServer: true, maxPayload, perMessageDeflate: false, clientTracking: false });
    })();
    return this.#ready;
  }

  /** Starts listening; resolves once bound. Not with noServer (the app's server listens). */
  async listen(): Promise<void> {
    if (this.#opts.noServer) throw new TypeError("this bridge was made with noServer: the app's server listens and calls handleUpgrade()");
    await this.ready();
    const server = createServer((req, res) => void this.#http(req, res));
    server.maxConnections = this.#opts.maxConnections ?? 4096;
    server.on("upgrade", (req, socket, head) => {
      if (new URL(req.url ?? "/", "http://x").pathname !== INGEST_PATH) {
        socket.end("HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: 9\r\n\r\nNot Found");
        return;
      }
      this.handleUpgrade(req, socket, head);
    });
    this.#server = server;
    await new Promise<void>((resolveListen, reject) => {
      server.once("error", reject);
      server.listen(this.#opts.port ?? 8080, this.#opts.host ?? "127.0.0.1", () => {
        server.off("error", reject);
        resolveListen();
      });
    });
    this.#log.info({ url: `http://${this.#opts.host ?? "127.0.0.1"}:${this.address.port}/`, ingest: this.ingestUrl }, "golive bridge listening");
  }

  /**
   * Ends every session (unpublishing cleanly) and stops listening. Every
   * WebSocket gets a close frame (1001); one whose client does not answer
   * within `closeHandshakeMs` (a dead link, a stuck client) is cut, so a
   * shutdown never waits on a client (ws alone would wait 30 s).
   */
  async close(reason = "the bridge is shutting down", closeHandshakeMs = 1000): Promise<void> {
    if (this.#closing) return;
    this.#closing = true;
    const server = this.#server;
    const closed = server ? new Promise<void>((r) => server.close(() => r())) : Promise.resolve();
    await Promise.all([...this.sessions].map((s) => s.shutdown(CloseCode.GoingAway, reason)));
    // Sockets with no session (no "start" yet) are not the sessions' to close.
    for (const ws of this.#sockets) {
      if (ws.readyState === ws.OPEN || ws.readyState === ws.CONNECTING) ws.close(CloseCode.GoingAway, "BRIDGE_SHUTTING_DOWN");
    }
    // Upgraded sockets are not HTTP connections: closeAllConnections() leaves them be.
    server?.closeAllConnections();
    const cut = setTimeout(() => {
      for (const ws of this.#sockets) ws.terminate();
    }, closeHandshakeMs);
    await closed;
    clearTimeout(cut);
  }

  /**
   * Takes a WebSocket upgrade for the ingest: call it from your server's
   * "upgrade" event for the path your clients use (they connect with the
   * golive.v1 subprotocol). Checks Host, Origin, the subprotocol and the
   * pending-connection caps, and answers refusals itself (403/400/503).
   */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    if (!this.#wss) {
      socket.on("error", () => undefined);
      this.ready().then(() => this.handleUpgrade(req, socket, head), (err: unknown) => {
        this.#log.error({ err: err instanceof Error ? err.message : String(err) }, "the bridge could not load its WASM core");
        socket.destroy();
      });
      return;
    }
    const refuse = (status: number, text: string): void => {
      socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(text)}\r\n\r\n${text}`);
    };
    if (this.#closing) return refuse(503, "Service Unavailable");
    if (!this.#hostAllowed(req)) {
      this.metrics.refusals.inc({ code: "HOST_NOT_ALLOWED" });
      return refuse(403, "Host not allowed");
    }
    if (!this.#originAllowed(req)) {
      this.metrics.refusals.inc({ code: "ORIGIN_NOT_ALLOWED" });
      return refuse(403, "Origin not allowed");
    }
    const offered = (req.headers["sec-websocket-protocol"] ?? "").split(",").map((s) => s.trim());
    if (!offered.includes(SUBPROTOCOL)) return refuse(400, `WebSocket subprotocol ${SUBPROTOCOL} required`);
    // Sockets that have not started a session cost little, and only so many.
    // A full bridge still takes the WebSocket, to say why in the protocol.
    const remote = this.clientAddress(req);
    const wss = this.#wss;
    void this.#admission.take([
      { key: "pending", limit: this.#opts.maxPendingConnections ?? 256, refusal: "TOO_MANY_PENDING" },
      { key: `pending:${remote}`, limit: this.#opts.maxPendingPerIp ?? 32, refusal: "TOO_MANY_PENDING" },
      { key: "sessions", limit: this.#maxSessions, refusal: "SESSION_LIMIT", peek: true },
    ]).then((admitted) => {
      const full = !admitted.ok && admitted.refusal === "SESSION_LIMIT";
      if (!admitted.ok && !full) {
        this.metrics.refusals.inc({ code: admitted.refusal });
        return refuse(503, admitted.refusal === "TOO_MANY_PENDING" ? "Too many connections waiting to start" : "Service Unavailable");
      }
      const ticket = admitted.ok ? admitted.ticket : undefined;
      // Gone while it was asked, or before the handshake completes: given back.
      if (ticket) socket.once("close", () => ticket.release());
      if (this.#closing || socket.destroyed) {
        ticket?.release();
        socket.destroy();
        return;
      }
      wss.handleUpgrade(req, socket, head, (ws) => this.#connection(ws, req, socket, ticket));
    });
  }

  /** The counters a new session takes: a place on the bridge, and one of its address's. */
  #sessionClaim(remote: string): Counter[] {
    return [
      { key: "sessions", limit: this.#maxSessions, refusal: "SESSION_LIMIT" },
      { key: `sessions:${remote}`, limit: this.#maxSessionsPerIp, refusal: "SESSION_LIMIT_PER_IP" },
    ];
  }

  /** A refusal of the admission, as the client is told it: a limit (4009), or limits that could not be checked (4500). */
  #refusal(refusal: string, limit: number): WireError {
    const limited = (message: string): WireError => new WireError(refusal, message, CloseCode.LimitExceeded);
    switch (refusal) {
      case "SESSION_LIMIT":
        return limited(`this bridge carries at most ${limit} sessions; try again later`);
      case "SESSION_LIMIT_PER_IP":
        return limited(`at most ${limit} sessions per address`);
      case "SESSION_LIMIT_PER_USER":
        return limited(`at most ${limit} sessions at once for one user`);
      default:
        return new WireError(refusal, "this bridge cannot admit the session now (its limits could not be checked): try again", CloseCode.InternalError);
    }
  }

  /** `pendingTicket`: the socket's place among those not started (none: the bridge is full, and the socket is refused). */
  #connection(ws: WebSocket, req: IncomingMessage, raw: Duplex, pendingTicket: Ticket | undefined): void {
    const remote = this.clientAddress(req);
    this.#sockets.add(ws);
    ws.once("close", () => this.#sockets.delete(ws));
    // A link that died without a FIN (a host gone, a cable pulled) is found by
    // its missing pong: the session then waits for a resume like any drop.
    const pingMs = this.#opts.pingIntervalMs ?? 5000;
    if (pingMs > 0) {
      let answered = true;
      ws.on("pong", () => (answered = true));
      const pinger = setInterval(() => {
        if (!answered) {
          this.#log.warn({ remote }, "no pong: cutting the connection");
          ws.terminate();
          return;
        }
        answered = false;
        ws.ping();
      }, pingMs);
      pinger.unref();
      ws.once("close", () => clearInterval(pinger));
    }
    /** The bridge closed this socket: whatever the client still sends on it is stale. */
    let closedByBridge = false;
    const link: SessionLink = {
      send: (message) => {
        if (ws.readyState === ws.OPEN) ws.send(encodeMessage(message));
      },
      close: (code, reason) => {
        closedByBridge = true;
        if (ws.readyState === ws.OPEN || ws.readyState === ws.CONNECTING) ws.close(code, reason.slice(0, 120));
      },
      pause: () => ws.pause(),
      resume: () => ws.resume(),
    };
    const refuse = (code: string, message: string, closeCode: number): void => {
      this.#log.warn({ remote, code }, "connection refused");
      this.metrics.refusals.inc({ code });
      link.send({ type: "error", code, message, fatal: true });
      link.close(closeCode, code);
      // Not worth a close handshake: the socket goes once the close frame is out.
      setTimeout(() => ws.terminate(), 50).unref();
    };
    if (!pendingTicket) {
      const full = this.#refusal("SESSION_LIMIT", this.#maxSessions);
      refuse(full.code, full.message, full.closeCode);
      return;
    }
    // Until its first message is handled the socket is "pending": counted
    // against the pending caps, allowed one small text message, and cut at
    // the start timeout.
    let pending = true;
    const settlePending = (): void => {
      if (!pending) return;
      pending = false;
      raw.off("data", countPrestart);
      pendingTicket.release();
    };
    // The WebSocket layer buffers a whole message (up to maxPayload, ~4 MiB)
    // before it says anything: count the raw bytes instead, and cut a socket
    // that sends more than a start message can be before starting.
    let prestartBytes = 0;
    const countPrestart = (chunk: Buffer): void => {
      prestartBytes += chunk.length;
      if (prestartBytes > MAX_CONTROL_BYTES + 1024 && pending) {
        refused = true;
        settlePending();
        this.metrics.refusals.inc({ code: "START_TOO_LARGE" });
        this.#log.warn({ remote, code: "START_TOO_LARGE" }, "connection refused");
        ws.terminate();
      }
    };
    raw.on("data", countPrestart);
    let session: Session | undefined;
    let refused = false;
    /** Asking for the session's place: what arrives meanwhile waits here (the socket is paused). */
    let admitting: Array<[Buffer, boolean]> | undefined;
    let closed = false;
    const deliver = (s: Session, data: Buffer, isBinary: boolean): void => {
      if (isBinary) s.handleBinary(data);
      else s.handleText(data.toString("utf8"));
    };
    const startTimer = setTimeout(() => {
      if (!session) {
        refused = true;
        settlePending();
        refuse("TIMEOUT_NO_START", `no start message within ${this.#limits.startTimeoutMs} ms`, CloseCode.Timeout);
      }
    }, this.#limits.startTimeoutMs);
    startTimer.unref();
    ws.on("message", (data: Buffer, isBinary: boolean) => {
      // After the bridge's close frame (the session ended, or a resume on
      // another socket superseded this one) messages may still arrive until
      // the client answers it; they must not reach the session: on a
      // superseded socket they are frames the new one already carries.
      if (closedByBridge) return;
      if (refused) return;
      if (session) return deliver(session, data, isBinary);
      if (admitting) {
        admitting.push([data, isBinary]);
        if (admitting.length > 1000) {
          refused = true;
          refuse("TOO_MANY_EARLY_MESSAGES", "more than 1000 messages before the session was admitted", CloseCode.LimitExceeded);
        }
        return;
      }
      clearTimeout(startTimer);
      settlePending();
      const resumed = isBinary ? undefined : this.#resumeTarget(data);
      if (resumed) {
        session = resumed;
        resumed.resume(link);
        return;
      }
      if (this.#draining) {
        refused = true;
        refuse("BRIDGE_DRAINING", "this bridge is draining: start again (your load balancer sends you to another bridge)", CloseCode.GoingAway);
        return;
      }
      // The bridge's place, and the address's: sessions count (live and
      // waiting for a resume), not sockets. Taken here, at once for all the
      // connections let in while the bridge had room.
      admitting = [[data, isBinary]];
      ws.pause();
      void this.#admission.take(this.#sessionClaim(remote)).then((admitted) => {
        const early = admitting ?? [];
        admitting = undefined;
        if (closed || refused) {
          if (admitted.ok) admitted.ticket.release();
          return;
        }
        if (!admitted.ok) {
          refused = true;
          const why = this.#refusal(admitted.refusal, admitted.limit);
          refuse(why.code, why.message, why.closeCode);
          return;
        }
        const s = this.#createSession(link, remote, req, admitted.ticket);
        session = s;
        for (const [d, b] of early) deliver(s, d, b);
        ws.resume();
      });
    });
    ws.on("close", () => {
      closed = true;
      clearTimeout(startTimer);
      settlePending();
      session?.handleClose(link);
    });
    ws.on("error", (err) => {
      // ws reports oversized or malformed frames here, then closes (1009/1002).
      this.#log.warn({ remote, err: err.message }, "websocket error");
    });
  }

  /** /metrics: open, or the configured bearer token (compared in constant time). */
  #metricsAllowed(req: IncomingMessage): boolean {
    return bearerAllowed(req.headers.authorization, this.#opts.metricsToken);
  }

  /**
   * The Host header, on a bridge not bound to loopback: an IP literal,
   * localhost, a publicUrls host or an allowedHosts entry. Anything else is
   * a name that merely resolves here (DNS rebinding: a page on evil.example
   * re-bound to this address sends Host: evil.example). A loopback bridge is
   * covered by the Origin check and takes any Host (a local proxy's name).
   */
  /** Who the client is: the peer, or with trustProxy what the trusted proxies say. */
  clientAddress(req: IncomingMessage): string {
    const peer = normalizeAddress(req.socket.remoteAddress ?? "");
    const trust = this.#opts.trustProxy;
    if (trust === undefined || (typeof trust === "number" && trust <= 0)) return peer;
    // The chain, oldest first, then the peer itself.
    const chain = [...forwardedFor(req), peer];
    if (typeof trust === "number") return chain[Math.max(0, chain.length - 1 - trust)]!;
    const trusted = this.#trustedProxies ??= proxyList(trust);
    for (let i = chain.length - 1; i >= 0; i--) {
      const a = chain[i]!;
      const family = isIP(a);
      if (family === 0 || !trusted.check(a, family === 4 ? "ipv4" : "ipv6")) return a;
    }
    return chain[0]!;
  }

  #trustedProxies: BlockList | undefined;

  /**
   * The address this bridge is reached on: the one it is bound to, or with
   * noServer the local address of the request's connection (the app's
   * server; never what the Host header says).
   */
  #boundHost(req: IncomingMessage): string {
    if (this.#opts.noServer) return normalizeAddress(req.socket.localAddress ?? "127.0.0.1");
    return this.#opts.host ?? "127.0.0.1";
  }

  #hostAllowed(req: IncomingMessage): boolean {
    return hostAllowed(this.#boundHost(req), req.headers.host, this.#opts);
  }

  /**
   * The bridge's own origins: its public URLs, and http://<address>:<port>
   * for the address it is bound to (each interface's when bound to a
   * wildcard), plus http://localhost:<port> on loopback. Never derived from
   * the request's Host.
   */
  #ownOrigins(req: IncomingMessage): Set<string> {
    const listening = this.#server && typeof this.#server.address() === "object" ? (this.#server.address() as AddressInfo).port : this.#opts.port ?? 8080;
    const port = this.#opts.noServer ? req.socket.localPort ?? 0 : listening;
    const bound = this.#boundHost(req);
    const addresses = bound === "0.0.0.0" || bound === "::" ? Object.values(networkInterfaces()).flat().flatMap((i) => (i ? [i.address] : [])) : [bound];
    const origins = new Set<string>();
    for (const a of addresses) origins.add(`http://${isIP(a) === 6 ? `[${a}]` : a}:${port}`);
    if (isLoopbackHost(bound)) origins.add(`http://localhost:${port}`);
    for (const u of this.#opts.publicUrls ?? []) {
      try {
        origins.add(new URL(u).origin);
      } catch {
        // ignored
      }
    }
    return origins;
  }

  #originAllowed(req: IncomingMessage): boolean {
    const origin = req.headers.origin;
    const list = this.#opts.allowOrigins;
    if (list?.includes("*")) return true;
    if (origin === undefined) return true; // not a browser: browsers always send Origin
    if (list?.includes(origin)) return true;
    let url: URL;
    try {
      url = new URL(origin);
    } catch {
      return false;
    }
    // The page this bridge serves: its own origins, never whatever Host says.
    if (this.#ownOrigins(req).has(url.origin)) return true;
    // With no list, a bridge on loopback also takes any loopback page (a local app).
    if (list === undefined && isLoopbackHost(this.#boundHost(req))) return isLoopbackHost(url.hostname);
    return false;
  }

  /** The session a "start" with a resume token names, if it can be resumed. */
  #resumeTarget(data: Buffer): Session | undefined {
    if (data.length > MAX_CONTROL_BYTES) return undefined;
    let msg: unknown;
    try {
      msg = JSON.parse(data.toString("utf8"));
    } catch {
      return undefined;
    }
    if (typeof msg !== "object" || msg === null) return undefined;
    const { type, resume } = msg as { type?: unknown; resume?: unknown };
    if (type !== "start" || typeof resume !== "string") return undefined;
    const target = this.#byResumeToken.get(resume);
    return target?.resumable ? target : undefined;
  }

  /** Emits an event; a listener that throws is the app's bug, logged, not the session's. */
  #emit<K extends keyof BridgeEvents>(event: K, ...args: BridgeEvents[K]): void {
    try {
      (this.emit as (event: string, ...args: unknown[]) => boolean)(event, ...args);
    } catch (err) {
      this.#log.error({ event, err: err instanceof Error ? err.message : String(err) }, "a bridge event listener threw");
    }
  }

  #createSession(link: SessionLink, remote: string, req: IncomingMessage, place: Ticket): Session {
    const hook = this.#opts.authorize;
    const guard = addressGuard(this.#opts.allowPrivate ?? false, (address) => this.#log.warn({ remote, address }, "destination address refused"));
    const session: Session = new Session({
      core: this.#core!,
      limits: this.#limits,
      recordDir: resolve(this.#opts.recordDir ?? "recordings"),
      recordWhenNoDestination: this.#opts.recordWhenNoDestination ?? true,
      publisher: { ...this.#opts.publisher, ...(guard && { checkAddress: guard }) },
      ...(this.#opts.destination && { destination: this.#opts.destination }),
      policy: this.#policy,
      ...(hook && {
        authorise: (start) => authorizeWithHook(hook, { request: req, remote }, start, this.#opts.authorizeTimeoutMs ?? 10_000, (err) => {
          this.#log.error({ remote, err: err instanceof Error ? err.message : String(err) }, "the authorize hook failed");
        }),
      }),
      log: (level, event, fields) => this.#log[level]({ ...fields, remote }, event),
      onBytesIn: (n) => this.metrics.bytesIn.inc(n),
      onFrameIn: (kind) => this.metrics.framesIn.inc({ kind }),
      onBytesOut: (sink, n) => this.metrics.bytesOut.inc({ sink }, n),
      onFrameOut: (sink, frame) => {
        this.metrics.framesOut.inc({ sink, kind: frame.kind });
        this.metrics.frameLatency.observe({ sink }, Number(process.hrtime.bigint() - frame.receivedAt) / 1e9);
      },
      onDestinationState: (change, sink) => {
        this.metrics.destinationStates.inc({ state: change.state, code: change.code ?? "" });
        // One per connection lost while live, however many attempts it takes.
        if (change.state === "reconnecting" && change.attempt === 1) this.metrics.reconnects.inc();
        this.#emit("destination", { session: session.id, id: sink.id, target: sink.target, ...change });
      },
      onStarted: (s, started) => {
        this.#emit("session", {
          session: s.id, remote, destinations: started.destinations,
          ...(started.subject !== undefined && { user: started.subject }),
          ...(started.recording !== undefined && { recording: started.recording }),
        });
      },
      admit: async (s, auth) => {
        if (auth.userKey === undefined) return undefined;
        const limit = Math.min(this.#opts.maxSessionsPerUser ?? 3, auth.maxSessions ?? Number.POSITIVE_INFINITY);
        const admitted = await this.#admission.take([{ key: `user:${auth.userKey}`, limit, refusal: "SESSION_LIMIT_PER_USER" }]);
        if (!admitted.ok) return this.#refusal(admitted.refusal, admitted.limit);
        // Ended while it was asked: nothing will give it back later.
        if (s.state === "ended" || s.state === "ending") admitted.ticket.release();
        else this.#tickets.get(s)?.push(admitted.ticket);
        return undefined;
      },
      ...(this.#opts.endSessionsAtTokenExpiry && { endAtTokenExpiry: true }),
      onEnded: (s, outcome) => {
        this.sessions.delete(s);
        for (const ticket of this.#tickets.get(s) ?? []) ticket.release();
        this.#tickets.delete(s);
        this.#byResumeToken.delete(s.resumeToken);
        this.metrics.sessionsActive.dec();
        this.metrics.sessionsEnded.inc({ outcome });
        this.#sessionEnded?.();
        const stats = s.stats();
        const dropped = stats.reduce((n, d) => n + d.framesDropped, 0);
        if (dropped > 0) this.metrics.framesDropped.inc(dropped);
        const lost = stats.reduce((n, d) => n + d.framesLost, 0);
        if (lost > 0) this.metrics.framesLost.inc(lost);
        this.#emit("sessionEnded", { session: s.id, outcome, destinations: stats });
      },
    }, link);
    this.sessions.add(session);
    this.#tickets.set(session, [place]);
    this.#byResumeToken.set(session.resumeToken, session);
    this.metrics.sessionsStarted.inc();
    this.metrics.sessionsActive.inc();
    return session;
  }

  /**
   * Answers the bridge's HTTP endpoints on an app's server: /healthz,
   * /metrics, the files of `staticDir` (golive.js and its assets, the demo
   * page) and, with golive's page, ffmpeg.wasm's core under /ffmpeg-core/.
   * `prefix` is where they are mounted ("/golive" for /golive/healthz);
   * Express's app.use(prefix, ...) already takes it off req.url. Resolves
   * false for a request that is none of these (hand it to your next
   * handler), true once answered.
   */
  async handleRequest(req: IncomingMessage, res: ServerResponse, options: { prefix?: string } = {}): Promise<boolean> {
    let pathname = new URL(req.url ?? "/", "http://x").pathname;
    const prefix = options.prefix?.replace(/\/+$/, "");
    if (prefix) {
      if (pathname === prefix) pathname = "/";
      else if (pathname.startsWith(`${prefix}/`)) pathname = pathname.slice(prefix.length);
      else return false;
    }
    try {
      if (!this.#hostAllowed(req)) {
        this.metrics.refusals.inc({ code: "HOST_NOT_ALLOWED" });
        res.writeHead(403, { "content-type": "text/plain", "x-content-type-options": "nosniff" }).end("Host not allowed (see --allowed-hosts, --public-url)");
        return true;
      }
      if (pathname === "/healthz") {
        res.writeHead(this.#closing ? 503 : 200, { "content-type": "application/json", "cache-control": "no-store", "x-content-type-options": "nosniff" });
        res.end(JSON.stringify({ status: this.#closing ? "shutting down" : "ok", sessions: this.sessions.size }));
        return true;
      }
      if (pathname === "/readyz") {
        const ready = this.accepting;
        res.writeHead(ready ? 200 : 503, { "content-type": "application/json", "cache-control": "no-store", "x-content-type-options": "nosniff" });
        res.end(JSON.stringify({ status: ready ? "ready" : this.#closing ? "shutting down" : "draining", sessions: this.sessions.size }));
        return true;
      }
      if (pathname === "/metrics") {
        if (!this.#metricsAllowed(req)) {
          res.writeHead(401, { "www-authenticate": 'Bearer realm="golive metrics"', "content-type": "text/plain", "x-content-type-options": "nosniff" }).end("a bearer token is required");
          return true;
        }
        res.writeHead(200, { "content-type": this.metrics.registry.contentType, "cache-control": "no-store", "x-content-type-options": "nosniff" });
        res.end(await this.metrics.registry.metrics());
        return true;
      }
      if (req.method !== "GET" && req.method !== "HEAD") return false;
      const client = this.clientAddress(req);
      if (pathname.startsWith("/ffmpeg-core/") && this.#ffmpegCore) {
        return await this.#ffmpegCore.serve(req, res, pathname.slice("/ffmpeg-core".length), client);
      }
      return this.#static ? await this.#static.serve(req, res, pathname, client, true) : false;
    } catch (err) {
      this.#log.error({ err: err instanceof Error ? err.message : String(err) }, "http handler failed");
      if (!res.headersSent) res.writeHead(500);
      res.end();
      return true;
    }
  }

  /** The bridge's own server: its endpoints, then the placeholder page, 405 or 404. */
  async #http(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (await this.handleRequest(req, res)) return;
    const headers = { "content-type": "text/plain", "x-content-type-options": "nosniff" };
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, headers).end();
    } else if (!this.#static && new URL(req.url ?? "/", "http://x").pathname === "/") {
      res.writeHead(200, { ...headers, "content-type": "text/html; charset=utf-8", "content-security-policy": "default-src 'none'; frame-ancestors 'none'" }).end(PLACEHOLDER);
    } else {
      res.writeHead(404, headers).end("not found");
    }
  }
}
