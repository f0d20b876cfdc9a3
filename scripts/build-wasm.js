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
