/**
 * Per-server temporary directories. Each harness server gets a fresh one for
 * its config, logs and recordings; `dispose()` removes it unless the
 * environment variable GOLIVE_KEEP_TEST_DIRS=1 asks to keep it for a
 * post-mortem.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** A fresh directory `$TMPDIR/golive-<label>-XXXXXX`. */
export function makeTempDir(label: string): Promise<string> {
  return mkdtemp(join(tmpdir(), `golive-${label}-`));
}

/** Removes a directory made by {@link makeTempDir}, unless GOLIVE_KEEP_TEST_DIRS=1. */
export async function removeTempDir(dir: string): Promise<void> {
  if (process.env.GOLIVE_KEEP_TEST_DIRS === "1") return;
  await rm(dir, { recursive: true, force: true });
}
