/**
 * `golive` command line: `golive serve`, `golive replay` and friends.
 * Parsing is commander's; each subcommand lives in its own module.
 */
import { Command, CommanderError, InvalidArgumentError, Option } from "commander";
import { createRequire } from "node:module";
import { availableParallelism } from "node:os";
import type { ReplayCommandOptions } from "./replay-command.js";

const require = createRequire(import.meta.url);

function packageVersion(): string {
  for (const path of ["../package.json", "../../package.json"]) {
    try {
      return (require(path) as { version: string }).version;
    } catch {
      // try the next layout (source tree vs dist/)
    }
  }
  return "0.0.0";
}

interface ServeCliOptions {
  port: number;
  host: string;
  recordDir: string;
  allowPrivate: boolean;
  maxDestinations: number;
  logLevel: string;
  staticDir?: string;
  tokenSecret?: string;
  allowDestination?: string[];
  allowOrigin?: string[];
  maxSessions: number;
  maxSessionsPerIp: number;
  resumeGrace: number;
  insecureOpenRelay: boolean;
  reconnectFor: number;
  maxPending: number;
  maxSessionsPerUser: number;
  maxTokenLifetime: number;
  endAtTokenExpiry: boolean;
  maxPendingPerIp: number;
  maxConnections: number;
  adviceFloor?: number;
  adviceCeiling?: number;
  tokenSecretFile?: string;
  metricsToken?: string;
  publicUrl?: string[];
  allowedHosts?: string[];
  trustProxy?: string[];
  frameAncestors?: string[];
  drainTimeout: number;
  pingInterval: number;
  workers: number;
}

/** A bitrate option in kbit/s, for commander. */
function kbitArg(name: string): (value: string) => number {
  return (value: string) => {
    const n = Number(value);
    if (!/^\d+$/.test(value) || n < 1 || n > 1_000_000) throw new InvalidArgumentError(`${name} must be a whole number of kbit/s, 1..1000000`);
    return n * 1000;
  };
}

/** An integer option parser with bounds, for commander. */
export function intArg(name: string, min: number, max: number): (value: string) => number {
  return (value: string) => {
    const n = Number(value);
    if (!/^\d+$/.test(value) || n < min || n > max) throw new InvalidArgumentError(`${name} must be an integer ${min}..${max}`);
    return n;
  };
}

/** Builds the command tree; exported for tests. */
export function buildProgram(): Command {
  const program = new Command("golive")
    .description("Go live from a web page: a WebAssembly-accelerated browser-to-RTMP bridge")
    .version(packageVersion())
    .showHelpAfterError()
    .exitOverride();

  program
    .command("serve")
    .description("run the bridge: HTTP + WebSocket ingest that publishes to RTMP(S) destinations")
    .addOption(new Option("-p, --port <port>", "HTTP/WebSocket port").env("PORT").default(8080).argParser(intArg("--port", 0, 65535)))
    .option("--host <host>", "address to listen on", "127.0.0.1")
    .option("--record-dir <dir>", "where session recordings go", "./recordings")
    .option("--allow-private", "allow destinations on loopback/private/link-local addresses (local ingest servers)", false)
    .addOption(new Option("--max-destinations <n>", "destinations per session").default(4).argParser(intArg("--max-destinations", 1, 64)))
    .addOption(new Option("--log-level <level>", "log level").choices(["trace", "debug", "info", "warn", "error", "fatal"]).env("LOG_LEVEL").default("info"))
    .option("--static-dir <dir>", "serve your pages from this directory at / (golive.js and its workers are still served from the built dist/web behind it)")
.addOption(new Option("--token-secret-file <path>", "read the token secret from this file (first line), instead of argv or env").conflicts("tokenSecret"))
    .addOption(new Option("--metrics-token <token>", "require 'Authorization: Bearer <token>' on /metrics (default: open)").env("GOLIVE_METRICS_TOKEN"))
    .addOption(new Option("--token-secret <secret>", "shared secret (>= 32 chars) for destination tokens minted by your app's backend").env("GOLIVE_TOKEN_SECRET"))
    .option("--allow-destination <pattern...>", "destination URL patterns allowed without a token, e.g. 'rtmp://*.rtmp.youtube.com/live2/*'")
    .option("--public-url <url...>", "the URL(s) people reach this bridge at (behind a proxy or a name): its own origins and allowed hosts")
    .option("--allowed-hosts <host...>", "host names the bridge answers to on a non-loopback address ('.example.com' for subdomains); others get 403 (DNS rebinding)")
    .option("--trust-proxy <hops|cidr...>", "reverse proxies whose X-Forwarded-For/Forwarded name the client: a hop count, or proxy addresses/CIDRs")
    .option("--frame-ancestors <source...>", "who may frame the bridge's pages (CSP frame-ancestors, e.g. https://app.example); default: nobody")
    .option("--allow-origin <origin...>", "WebSocket origins allowed ('*' for any); default: same origin, non-browser clients, loopback pages when on loopback")
    .addOption(new Option("--max-sessions <n>", "sessions at once").default(200).argParser(intArg("--max-sessions", 1, 100000)))
    .addOption(new Option("--max-sessions-per-ip <n>", "sessions at once from one address").default(10).argParser(intArg("--max-sessions-per-ip", 1, 100000)))
    .addOption(new Option("--max-sessions-per-user <n>", "sessions at once for one token user (its sub, else the token)").default(3).argParser(intArg("--max-sessions-per-user", 1, 100000)))
    .addOption(new Option("--max-token-lifetime <s>", "longest token lifetime accepted").default(86400).argParser(intArg("--max-token-lifetime", 1, 365 * 86400)))
    .option("--end-at-token-expiry", "end a session when its token expires (warned a minute before); default: exp bounds the start only", false)
    .addOption(new Option("--max-pending <n>", "WebSockets waiting to start a session, in all").default(256).argParser(intArg("--max-pending", 1, 100000)))
    .addOption(new Option("--max-pending-per-ip <n>", "WebSockets waiting to start a session, from one address").default(32).argParser(intArg("--max-pending-per-ip", 1, 100000)))
    .addOption(new Option("--max-connections <n>", "TCP connections at once, HTTP included").default(4096).argParser(intArg("--max-connections", 1, 1000000)))
    .addOption(new Option("--drain-timeout <s>", "on SIGTERM: /readyz turns 503, sessions stream on this long, then each is told to move to another bridge").default(0).argParser(intArg("--drain-timeout", 0, 24 * 3600)))
    .addOption(new Option("--workers <n>", "processes: a primary hands each connection to one of n workers (a resume to the one holding its session); the limits above are the group's (1: one process)").default(availableParallelism(), "the number of CPUs").argParser(intArg("--workers", 1, 256)))
    .addOption(new Option("--ping-interval <ms>", "WebSocket ping period; a client that misses a pong is cut and its session waits for a resume (0: no pings)").default(5000).argParser(intArg("--ping-interval", 0, 600_000)))
    .addOption(new Option("--resume-grace <ms>", "how long a dropped session waits for its browser to resume").default(10000).argParser(intArg("--resume-grace", 0, 600000)))
    .addOption(new Option("--reconnect-for <s>", "how long a destination whose ingest went away keeps reconnecting (0: never)").default(600).argParser(intArg("--reconnect-for", 0, 7 * 24 * 3600)))
    .addOption(new Option("--advice-floor <kbit/s>", "lowest video bitrate the bridge advises (default: 15% of the client's)").argParser(kbitArg("--advice-floor")))
    .addOption(new Option("--advice-ceiling <kbit/s>", "highest video bitrate the bridge advises (default: the client's own)").argParser(kbitArg("--advice-ceiling")))
    .option("--insecure-open-relay", "DANGEROUS: on a non-loopback host, let anyone publish anywhere (no token, no allowlist)", false)
    .addHelpText("after", `
Destinations are authorised by a token (--token-secret) or an allowlist
(--allow-destination). On a loopback host with neither, any public destination
is allowed (you streaming from your own machine); on any other host golive
refuses to start without one of them, unless --insecure-open-relay.
Loopback, private, link-local and metadata addresses are refused unless
--allow-private, whatever the mode.

Examples:
  golive serve                                  # http://127.0.0.1:8080/
  golive serve --allow-private                  # also publish to a local nginx-rtmp
  GOLIVE_TOKEN_SECRET=... golive serve --host 0.0.0.0   # secrets from the environment, not argv (ps shows argv)
  GOLIVE_METRICS_TOKEN=... golive serve --host 0.0.0.0 --token-secret-file /run/secrets/golive`)
    .action(async (opts: ServeCliOptions) => {
      const { serve } = await import("./serve.js");
      process.exitCode = await serve({
        port: opts.port,
        host: opts.host,
        recordDir: opts.recordDir,
        allowPrivate: opts.allowPrivate,
        maxDestinations: opts.maxDestinations,
        logLevel: opts.logLevel,
        ...(opts.staticDir !== undefined && { staticDir: opts.staticDir }),
        ...(opts.tokenSecret !== undefined && { tokenSecret: opts.tokenSecret }),
        ...(opts.tokenSecretFile !== undefined && { tokenSecretFile: opts.tokenSecretFile }),
        ...(opts.metricsToken !== undefined && { metricsToken: opts.metricsToken }),
        ...(opts.allowDestination !== undefined && { allowDestinations: opts.allowDestination }),
        ...(opts.allowOrigin !== undefined && { allowOrigins: opts.allowOrigin }),
        ...(opts.publicUrl !== undefined && { publicUrls: opts.publicUrl }),
        ...(opts.allowedHosts !== undefined && { allowedHosts: opts.allowedHosts }),
        ...(opts.frameAncestors !== undefined && { frameAncestors: opts.frameAncestors }),
        drainTimeoutMs: opts.drainTimeout * 1000,
        workers: opts.workers,
        pingIntervalMs: opts.pingInterval,
        ...(opts.trustProxy !== undefined && { trustProxy: opts.trustProxy.length === 1 && /^\d+$/.test(opts.trustProxy[0]!) ? Number(opts.trustProxy[0]) : opts.trustProxy }),
        maxSessions: opts.maxSessions,
        maxSessionsPerIp: opts.maxSessionsPerIp,
        maxPending: opts.maxPending,
        maxSessionsPerUser: opts.maxSessionsPerUser,
        maxTokenLifetimeS: opts.maxTokenLifetime,
        endAtTokenExpiry: opts.endAtTokenExpiry,
        maxPendingPerIp: opts.maxPendingPerIp,
        maxConnections: opts.maxConnections,
        resumeGraceMs: opts.resumeGrace,
        insecureOpenRelay: opts.insecureOpenRelay,
        reconnectForMs: opts.reconnectFor * 1000,
        ...(opts.adviceFloor !== undefined && { adviceFloorBitrate: opts.adviceFloor }),
        ...(opts.adviceCeiling !== undefined && { adviceCeilingBitrate: opts.adviceCeiling }),
        shutdownTimeoutMs: 10_000,
      });
    });

  program
    .command("replay")
    .description("publish a media file through a golive bridge over the wire protocol, exactly as a browser would (also the capacity benchmark's load generator)")
    .argument("<file>", "FLV or MP4/MOV file with H.264 video and/or AAC audio")
    .addOption(new Option("-b, --bridge <ws-url>", "the bridge's WebSocket ingest (http:// works too; /ingest is added to a bare host)").env("GOLIVE_BRIDGE").default("ws://127.0.0.1:8080/ingest"))
    .addOption(new Option("-t, --to <rtmp-url>", "publish to this rtmp(s):// URL, stream key included; repeat for more destinations (GOLIVE_TO: one URL from the environment, out of ps)").env("GOLIVE_TO").argParser((value: string, previous: string[] | undefined) => [...(previous ?? []), value]).default([] as string[]))
    .option("--record", "also record the session to an FLV file on the bridge's machine", false)
    .addOption(new Option("--token <jwt>", "authorisation token, for a bridge that requires one (--token-secret)").env("GOLIVE_TOKEN"))
    .addOption(new Option("--realtime", "send each frame when its time comes, like ffmpeg -re (the default)").conflicts("fast"))
    .addOption(new Option("--fast", "send as fast as the bridge takes it (waits for the destinations to go live first)").conflicts("realtime"))
    .addOption(new Option("--loop <n>", "play the file n times, timestamps continuing").default(1).argParser(intArg("--loop", 1, 1_000_000)))
    .addOption(new Option("--max-rate <mbit/s>", "cap the average sending rate (keeps --fast under a bridge's bitrate limit)").argParser((value: string) => {
      const n = Number(value);
      if (!(n > 0 && n <= 100_000)) throw new InvalidArgumentError("--max-rate must be a number of Mbit/s, > 0");
      return n;
    }))
    .addOption(new Option("--sessions <n>", "run n concurrent sessions from this process; {session} in a --to URL becomes 1..n").default(1).argParser(intArg("--sessions", 1, 100_000)))
    .addOption(new Option("--ramp <ms>", "with --sessions: spread the session starts over this many ms").default(0).argParser(intArg("--ramp", 0, 3_600_000)))
    .option("--json", "print the full result as JSON instead of text", false)
    .option("--allow-loss", "exit 0 even when frames were dropped or lost on the way to an ingest (they are still reported)", false)
    .option("--no-reconnect", "end when the connection to the bridge is lost (default with real-time pacing: resume, or start again through the same URL, for up to 30 s)")
    .addHelpText("after", `
Examples:
  golive replay clip.mp4 --to "$YOUTUBE_URL"    # the URL holds the key: keep it in the environment
  golive replay test.flv --bridge ws://10.0.0.5:8080/ingest --to rtmp://127.0.0.1/live/a --to rtmp://127.0.0.1/live/b --fast
  golive replay test.flv --sessions 50 --ramp 5000 --loop 6 --to 'rtmp://127.0.0.1/live/load-{session}'

Prints each destination's outcome (stream keys redacted) with frames sent,
dropped and lost in resets, reconnects and time not live. --fast asks the
bridge for backpressure: a slow link slows the replay instead of losing
frames. Exit status: 0 when every destination of every session completed (went
live and ended cleanly) and got every frame, 1 when a destination or session
failed, 2 for bad usage or a file that cannot be replayed, 3 when the bridge
cannot be reached, 4 when frames were dropped or lost (unless --allow-loss),
130 when interrupted. A real-time replay that loses the bridge takes the
session up again (resumed, or started anew through the same URL when that
bridge is gone or draining: a load balancer picks another); frames due
meanwhile are skipped and count as loss.`)
    .action(async (file: string, opts: ReplayCommandOptions) => {
      const { replayCommand } = await import("./replay-command.js");
      process.exitCode = await replayCommand(file, opts);
    });

  return program;
}

/** Runs the CLI; resolves to the exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync([...argv]);
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode;
    throw err;
  }
  return typeof process.exitCode === "number" ? process.exitCode : 0;
}
