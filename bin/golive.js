#!/usr/bin/env node
// The golive command. The TypeScript sources compile to dist/ (`npm run build`,
// which `npm start` runs first); this shim only loads the compiled CLI.
import { existsSync } from "node:fs";

const cli = new URL("../dist/server/cli.js", import.meta.url);
if (!existsSync(cli)) {
  process.stderr.write("golive is not built: run `npm run build` (npm start does it for you)\n");
  process.exit(1);
}
const { main } = await import(cli.href);
process.exitCode = await main(process.argv);
