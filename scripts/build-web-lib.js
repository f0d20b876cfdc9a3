#!/usr/bin/env node
// Builds golive/web (dist/browser): the browser SDK and <go-live> as plain ES
// modules with type declarations, for apps that bundle them (Vite, webpack).
// tsc keeps each module and its `new URL("./x", import.meta.url)` references,
// which bundlers follow to emit the Workers and the WASM with the app's
// assets. After tsc: worker references are pointed at the emitted .js files,
// aac.wasm is copied where wasm-aac.js looks for it, and every such
// reference is checked to name a file that exists.
import { execFileSync } from "node:child_process";
import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync, existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";

const out = "dist/browser";
rmSync(out, { recursive: true, force: true });
const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");
execFileSync(process.execPath, [tsc, "-p", "tsconfig.web.json"], { stdio: "inherit" });

mkdirSync(join(out, "wasm/build"), { recursive: true });
copyFileSync("wasm/build/aac.wasm", join(out, "wasm/build/aac.wasm"));

function* files(dir) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) yield* files(path);
    else if (path.endsWith(".js")) yield path;
  }
}

const ref = /new URL\("(\.{1,2}\/[^"]+)", import\.meta\.url\)/g;
const missing = [];
let count = 0;
for (const file of files(out)) {
  const text = readFileSync(file, "utf8");
  const fixed = text.replace(ref, (_, rel) => `new URL("${rel.replace(/\.ts$/, ".js")}", import.meta.url)`);
  if (fixed !== text) writeFileSync(file, fixed);
  for (const [, rel] of fixed.matchAll(ref)) {
    count++;
    if (!existsSync(resolve(dirname(file), rel))) missing.push(`${file}: ${rel}`);
  }
}
if (missing.length > 0) {
  process.stderr.write(`build:web-lib: new URL() references to files that are not there:\n  ${missing.join("\n  ")}\n`);
  process.exit(1);
}
process.stdout.write(`build:web-lib: ${out} (${count} Worker/WASM references checked)\n`);
