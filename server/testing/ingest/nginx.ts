/**
 * nginx + nginx-rtmp (Debian `libnginx-mod-rtmp`) as a real RTMP ingest for
 * integration tests, optionally with RTMPS in front (nginx `stream` module,
 * `libnginx-mod-stream`, terminating TLS and proxying to the rtmp listener).
 *
 * How it is run, and why:
 * - One temp dir per server holds nginx.conf, nginx.pid, error.log,
 *   rtmp-access.log and recordings/; nginx is started as
 *   `nginx -p DIR/ -c DIR/nginx.conf -e DIR/error.log` (`-e` so not even
 *   the pre-config log goes to the system path).
 * - `daemon off; master_process off;`: a single process, so the PID we spawn is
 *   the one that serves, and a SIGKILL fallback cannot orphan a worker. In
 *   this mode nginx has no graceful shutdown: SIGQUIT and SIGTERM both exit at
 *   once (ngx_single_process_cycle). That is fine for recordings: nginx-rtmp
 *   writes each FLV tag with write(2), FLV needs no trailer, and it closes the
 *   file on unpublish. A stop mid-publish leaves a valid file cut at a tag.
 * - `user root;` when we run as root. It only matters if someone turns
 *   master_process on: root's workers would then run as `nobody`, and
 *   recording into a root-owned temp dir fails silently (one `[crit]` line).
 * - `error_log ... info`: nginx-rtmp logs connect (with flashVer/tcUrl),
 *   publish, deleteStream and disconnect at info level, which tests can read
 *   through `logs()`.
 * - `record all; record_unique off;` by default: the recording of stream KEY is
 *   `recordings/KEY.flv` (a republish of the same key overwrites it). With
 *   `recordUnique: true` nginx-rtmp appends the unix time: `KEY-1700000000.flv`.
 * - The TLS front has `proxy_half_close on`. Without it, when the publisher
 *   closes, the proxy closes its upstream socket as soon as it has written the
 *   last bytes to it, with nginx-rtmp's replies still unread there: the kernel
 *   answers with a reset, and whatever nginx-rtmp had not read yet (the tail
 *   of a publish sent faster than real time, under load) is lost from the
 *   recording ("recv() failed (104: Connection reset by peer)" in the log).
 *   With it, the proxy passes the FIN on and closes once nginx-rtmp has.
 */
import { readdirSync, readFileSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { freePorts, LOOPBACK } from "../ports.js";
import { requireBinary, requireNginxModule } from "../system.js";
import { makeTestPki, type TestCert, type TestPki } from "../tls.js";
import { makeTempDir, removeTempDir } from "./dirs.js";
import { waitForStableFile } from "./media.js";
import { retryOnAddressInUse, spawnManaged, waitForListening, type ManagedProcess } from "./process.js";

/** Options for {@link startNginxRtmp}. */
export interface NginxRtmpOptions {
  /** URL for nginx-rtmp's `on_publish` in application `live`: 2xx allows, anything else rejects the publish. */
  onPublish?: string;
  /** `record_unique` (default false: `KEY.flv`; true: `KEY-<unix time>.flv`). */
  recordUnique?: boolean;
  /** `record all` in application `live` (default true); false means `record off`. */
  record?: boolean;
  /** `chunk_size` the server announces (default 4096). */
  chunkSize?: number;
  /** Extra directives for application `live`, e.g. `["allow publish 127.0.0.1", "deny publish all"]` (trailing `;` optional). */
  liveDirectives?: readonly string[];
  /** Extra applications: name -> directives, e.g. `{ other: ["live on"] }`. */
  applications?: Readonly<Record<string, readonly string[]>>;
  /** How long to wait for the listener (default 10 s). */
  startTimeoutMs?: number;
  /** Listen on this RTMP port instead of a free one (e.g. to restart a stopped server in its place). */
  port?: number;
  /** `record_path` to use instead of the server's own `recordings/` (e.g. the one of the server this one replaces). */
  recordDir?: string;
  /** More addresses to listen on, same port (e.g. one in a network a test created for bridges in namespaces). */
  extraListen?: readonly string[];
}

/** A running nginx-rtmp from {@link startNginxRtmp}. */
export interface NginxRtmpServer {
  /** RTMP port on 127.0.0.1. */
  readonly port: number;
  /** Always 127.0.0.1. */
  readonly host: string;
  /** The server's temp dir (config, logs, recordings). */
  readonly dir: string;
  /** The generated nginx.conf. */
  readonly confPath: string;
  /** `record_path` of application `live`. */
  readonly recordDir: string;
  /** PID of the single nginx process. */
  readonly pid: number;
  /** `rtmp://127.0.0.1:PORT/APP` (append `/KEY` to publish). */
  rtmpUrl(app?: string): string;
  /**
   * Where the recording of `streamName` is. With `record_unique off` this is
   * `recordDir/NAME.flv` (it may not exist yet); with `record_unique on` it is
   * the newest `NAME-<time>.flv`, and it throws if there is none.
   */
  recordingPath(streamName: string): string;
  /** Waits until the recording of `streamName` exists and has stopped growing; returns its path. */
  waitForRecording(streamName: string, options?: { timeoutMs?: number; quietMs?: number }): Promise<string>;
  /** error.log, then whatever nginx printed on stdout/stderr. */
  logs(): string;
  /** SIGQUIT, SIGKILL after 5 s; resolves once the process is gone. Idempotent. */
  stop(): Promise<void>;
  /** `stop()`, then removes the temp dir (kept if GOLIVE_KEEP_TEST_DIRS=1). */
  dispose(): Promise<void>;
}

/** Which certificate the TLS listener presents. */
export type NginxTlsCert = "server" | "wrongHost";

/** Options for {@link startNginxRtmps}. */
export interface NginxRtmpsOptions extends NginxRtmpOptions {
  /** The PKI to serve from; made fresh in the server's temp dir when absent. */
  pki?: TestPki;
  /** `server` (localhost + 127.0.0.1, the default) or `wrongHost` (wrong.example: chain OK, name wrong). */
  cert?: NginxTlsCert;
}

/** A running nginx with RTMPS in front of RTMP, from {@link startNginxRtmps}. */
export interface NginxRtmpsServer extends Omit<NginxRtmpServer, "port" | "rtmpUrl"> {
  /** The TLS (RTMPS) port on 127.0.0.1. */
  readonly port: number;
  /** The plain RTMP port behind it (also reachable directly). */
  readonly rtmpPort: number;
  /** The test CA, PEM: what a client must trust. */
  readonly caPem: string;
  /** The test CA as a file (for `ffmpeg -tls_verify 1 -ca_file`). */
  readonly caPath: string;
  /** The whole PKI (including the other leaf certificate). */
  readonly pki: TestPki;
  /** The certificate the TLS listener presents. */
  readonly servedCert: TestCert;
  /**
   * `rtmps://HOST:PORT/APP`, HOST `localhost` by default (the server
   * certificate's name). nginx listens on 127.0.0.1 only: a client that
   * resolves localhost must reach 127.0.0.1 (Node 20's net.connect tries both
   * families; or connect to 127.0.0.1 with `servername: "localhost"`).
   */
  rtmpUrl(app?: string, host?: string): string;
  /** `rtmp://127.0.0.1:RTMPPORT/APP`: the same server without TLS. */
  plainRtmpUrl(app?: string): string;
}

/** A directive list rendered one per line, each ending in exactly one `;`. */
function directives(lines: readonly string[], indent: string): string {
  return lines.map((line) => `${indent}${line.trim().replace(/;+$/, "")};`).join("\n");
}

/** Quotes a path for nginx.conf. */
function q(path: string): string {
  if (/["\\\n]/.test(path)) throw new TypeError(`nginx harness: unsupported character in path ${path}`);
  return `"${path}"`;
}

interface NginxConfigInput {
  readonly dir: string;
  readonly port: number;
  readonly recordDir: string;
  readonly options: NginxRtmpOptions;
  readonly rtmpModule: string;
  readonly tls?: { readonly port: number; readonly cert: TestCert; readonly streamModule: string };
}

/** The nginx.conf text for one harness server. */
function nginxConfig(input: NginxConfigInput): string {
  const { dir, port, recordDir, options, tls } = input;
  const isRoot = typeof process.getuid === "function" && process.getuid() === 0;
  const live: string[] = ["live on"];
  if (options.record ?? true) {
    live.push("record all", `record_path ${q(recordDir)}`, `record_unique ${options.recordUnique ? "on" : "off"}`);
  } else {
    live.push("record off");
  }
  if (options.onPublish !== undefined) {
    if (!/^http:\/\//.test(options.onPublish)) throw new TypeError(`nginx harness: on_publish must be an http:// URL, got ${options.onPublish}`);
    live.push(`on_publish ${options.onPublish}`);
  }
  live.push(...(options.liveDirectives ?? []));
  const apps = Object.entries(options.applications ?? {})
    .map(([name, lines]) => {
      if (!/^[A-Za-z0-9_-]+$/.test(name) || name === "live") throw new TypeError(`nginx harness: bad application name ${name}`);
      return `        application ${name} {\n${directives(lines, "            ")}\n        }`;
    })
    .join("\n");
  const lines = [
    "# Generated by test/support/ingest/nginx.ts for one integration test; see the comment there.",
    `load_module ${q(input.rtmpModule)};`,
    ...(tls ? [`load_module ${q(tls.streamModule)};`] : []),
    "daemon off;",
    "master_process off;",
    ...(isRoot ? ["user root;"] : []),
    `pid ${q(join(dir, "nginx.pid"))};`,
    `error_log ${q(join(dir, "error.log"))} info;`,
    "events {",
    "    worker_connections 256;",
    "}",
    "rtmp {",
    `    access_log ${q(join(dir, "rtmp-access.log"))};`,
    "    server {",
    `        listen ${LOOPBACK}:${port};`,
    ...(options.extraListen ?? []).map((address) => `        listen ${address}:${port};`),
    `        chunk_size ${options.chunkSize ?? 4096};`,
    "        application live {",
    directives(live, "            "),
    "        }",
    ...(apps ? [apps] : []),
    "    }",
    "}",
  ];
  if (tls) {
    lines.push(
      "stream {",
      "    server {",
      `        listen ${LOOPBACK}:${tls.port} ssl;`,
      `        ssl_certificate ${q(tls.cert.certPath)};`,
      `        ssl_certificate_key ${q(tls.cert.keyPath)};`,
      "        ssl_protocols TLSv1.2 TLSv1.3;",
      "        proxy_connect_timeout 5s;",
      // The client's FIN is passed on as a FIN; see the header comment.
      "        proxy_half_close on;",
      `        proxy_pass ${LOOPBACK}:${port};`,
      "    }",
      "}",
    );
  }
  return `${lines.join("\n")}\n`;
}

interface LaunchedNginx {
  readonly proc: ManagedProcess;
  readonly dir: string;
  readonly confPath: string;
  readonly recordDir: string;
  readonly port: number;
  readonly tlsPort: number | undefined;
  readonly logs: () => string;
}

/** Writes the config and starts nginx, retrying with new ports if the bind races. */
async function launchNginx(dir: string, options: NginxRtmpOptions, tlsCert: TestCert | undefined): Promise<LaunchedNginx> {
  const nginx = requireBinary("nginx");
  const rtmpModule = requireNginxModule("ngx_rtmp_module");
  const streamModule = tlsCert ? requireNginxModule("ngx_stream_module") : undefined;
  const recordDir = options.recordDir ?? join(dir, "recordings");
  await mkdir(recordDir, { recursive: true });
  const confPath = join(dir, "nginx.conf");
  const errorLog = join(dir, "error.log");
  return retryOnAddressInUse(async () => {
    const [port, tlsPort] = options.port !== undefined ? [options.port, ...(tlsCert ? await freePorts(1) : [])] : await freePorts(tlsCert ? 2 : 1);
    if (port === undefined) throw new Error("freePorts returned nothing");
    const tls = tlsCert && streamModule && tlsPort !== undefined ? { port: tlsPort, cert: tlsCert, streamModule } : undefined;
    await writeFile(confPath, nginxConfig({ dir, port, recordDir, options, rtmpModule, tls }));
    await writeFile(errorLog, "");
    const proc = await spawnManaged("nginx", nginx, ["-p", `${dir}/`, "-c", confPath, "-e", errorLog], { cwd: dir });
    const logs = (): string => {
      let text: string;
      try {
        text = readFileSync(errorLog, "utf8");
      } catch {
        text = "(no error.log)\n";
      }
      const output = proc.output();
      return output ? `${text}--- nginx stdout/stderr ---\n${output}` : text;
    };
    // nginx retries a failed bind 5 times, 500 ms apart, before exiting: watch the log instead.
    await waitForListening(proc, tls ? [port, tls.port] : [port], { timeoutMs: options.startTimeoutMs ?? 10_000, logs, addressInUse: /Address already in use/ });
    return { proc, dir, confPath, recordDir, port, tlsPort: tls?.port, logs };
  });
}

/** The public surface shared by the RTMP and RTMPS servers. */
function commonSurface(launched: LaunchedNginx, recordUnique: boolean): Omit<NginxRtmpServer, "port" | "rtmpUrl"> {
  const { proc, dir, recordDir } = launched;
  const recordingPath = (streamName: string): string => {
    if (!recordUnique) return join(recordDir, `${streamName}.flv`);
    const prefix = `${streamName}-`;
    let best: { time: number; file: string } | undefined;
    for (const file of readdirSyncSafe(recordDir)) {
      if (!file.startsWith(prefix) || !file.endsWith(".flv")) continue;
      const time = Number(file.slice(prefix.length, -".flv".length));
      if (Number.isInteger(time) && (!best || time >= best.time)) best = { time, file };
    }
    if (!best) throw new Error(`no recording for stream ${streamName} in ${recordDir}`);
    return join(recordDir, best.file);
  };
  const stop = async (): Promise<void> => {
    await proc.stop("SIGQUIT", 5000);
  };
  return {
    host: LOOPBACK,
    dir,
    confPath: launched.confPath,
    recordDir,
    pid: proc.pid,
    recordingPath,
    async waitForRecording(streamName, options = {}) {
      const timeoutMs = options.timeoutMs ?? 10_000;
      const deadline = Date.now() + timeoutMs;
      // With record_unique on, the name is only known once the file exists.
      for (;;) {
        try {
          const path = recordingPath(streamName);
          await waitForStableFile(path, { timeoutMs: Math.max(1, deadline - Date.now()), quietMs: options.quietMs });
          return path;
        } catch (error) {
          if (Date.now() > deadline) throw new Error(`${(error as Error).message}\n--- nginx log ---\n${launched.logs()}`);
          await sleep(50);
        }
      }
    },
    logs: launched.logs,
    stop,
    async dispose() {
      await stop();
      await removeTempDir(dir);
    },
  };
}

/** `readdirSync` that returns [] for a missing directory. */
function readdirSyncSafe(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/**
 * Starts nginx-rtmp on a free 127.0.0.1 port with application `live`
 * recording every publish (see the module comment for the exact config), and
 * resolves once nginx itself is listening. On failure the error carries
 * nginx's error log.
 */
export async function startNginxRtmp(options: NginxRtmpOptions = {}): Promise<NginxRtmpServer> {
  const dir = await makeTempDir("nginx-rtmp");
  try {
    const launched = await launchNginx(dir, options, undefined);
    return {
      ...commonSurface(launched, options.recordUnique ?? false),
      port: launched.port,
      rtmpUrl: (app = "live") => `rtmp://${LOOPBACK}:${launched.port}/${app}`,
    };
  } catch (error) {
    await removeTempDir(dir);
    throw error;
  }
}

/**
 * Starts nginx with the same RTMP server as {@link startNginxRtmp} plus a
 * `stream { server { listen 127.0.0.1:TLSPORT ssl; ... proxy_pass
 * 127.0.0.1:RTMPPORT; } }` block in the same process: RTMPS with a test CA
 * (see `makeTestPki`), presenting the `localhost` certificate or, with
 * `cert: "wrongHost"`, one for wrong.example signed by the same CA.
 */
export async function startNginxRtmps(options: NginxRtmpsOptions = {}): Promise<NginxRtmpsServer> {
  const dir = await makeTempDir("nginx-rtmps");
  try {
    const pki = options.pki ?? (await makeTestPki(join(dir, "pki")));
    const servedCert = (options.cert ?? "server") === "server" ? pki.server : pki.wrongHost;
    const launched = await launchNginx(dir, options, servedCert);
    const tlsPort = launched.tlsPort;
    if (tlsPort === undefined) throw new Error("nginx harness: TLS port missing");
    return {
      ...commonSurface(launched, options.recordUnique ?? false),
      port: tlsPort,
      rtmpPort: launched.port,
      caPem: pki.caPem,
      caPath: pki.caCertPath,
      pki,
      servedCert,
      rtmpUrl: (app = "live", host = "localhost") => `rtmps://${host}:${tlsPort}/${app}`,
      plainRtmpUrl: (app = "live") => `rtmp://${LOOPBACK}:${launched.port}/${app}`,
    };
  } catch (error) {
    await removeTempDir(dir);
    throw error;
  }
}
