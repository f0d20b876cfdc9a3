/**
 * `golive` command line: `golive serve`, `golive replay` and friends.
 * Parsing is commander's; each subcommand lives in its own module.
 */
import { Command, CommanderError } from "commander";
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
    .action(() => {
      process.stderr.write(
        "golive serve: the bridge is not built yet. The WebAssembly protocol core is done;\n" +
          "the RTMP client and the bridge are the next milestones (see the README's status section).\n",
      );
      process.exitCode = 1;
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
