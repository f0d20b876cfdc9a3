#!/usr/bin/env node
// Builds wasm/build/golive.wasm from wasm/assembly with the AssemblyScript
// compiler, using the "release" target of asconfig.json. Always rebuilds: the
// compile takes about a second, and a stale module is worse than a slow one.
import { main } from "assemblyscript/asc";

const { error } = await main(["--config", "asconfig.json", "--target", "release"], {
  stdout: process.stdout,
  stderr: process.stderr,
});
if (error) {
  process.stderr.write(`build:wasm failed: ${error.message}\n`);
  process.exit(1);
}

// The AAC-LC encoder: its own module (only the browser's audio path loads it),
// its own memory, the stub runtime (it allocates once, at start-up).
const aac = await main(["--config", "wasm/asconfig.aac.json", "--target", "release"], {
  stdout: process.stdout,
  stderr: process.stderr,
});
if (aac.error) {
  process.stderr.write(`build:wasm (aac) failed: ${aac.error.message}\n`);
  process.exit(1);
}
