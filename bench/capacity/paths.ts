/**
 * Where things are, whether this runs compiled (dist/bench/capacity/) or
 * from source (bench/capacity/): found from the package root, the first
 * directory up with golive's package.json.
 */
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

function findRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, "package.json");
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, "utf8")) as { name?: string }).name === "golive") return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error("bench: cannot find golive's package.json above this file");
    dir = up;
  }
}

/** The package root. */
export const ROOT = findRoot();

/** The golive command shim (loads dist/server/cli.js). */
export const GOLIVE_BIN = join(ROOT, "bin", "golive.js");
