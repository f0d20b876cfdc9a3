/**
 * `golive` command line: `golive serve`, `golive replay` and friends.
 * Parsing is commander's; each subcommand lives in its own module.
 */
import { Command, CommanderError, InvalidArgumentError, Option } from "commander";
import { createRequire } from "node:module";

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
    .option("--static-dir <dir>", "serve the demo page from this directory (default: the built dist/web)")
    .action(async (opts: { port: number; host: string; recordDir: string; allowPrivate: boolean; maxDestinations: number; logLevel: string; staticDir?: string }) => {
      const { serve } = await import("./serve.js");
      process.exitCode = await serve({ ...opts, shutdownTimeoutMs: 10_000 });
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
