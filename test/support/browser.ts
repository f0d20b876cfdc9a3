/**
 * Debian's Chromium driven by playwright-core (no browser downloads here),
 * with the flags measured to work headless on this machine kind.
 */
import { chromium, type Browser } from "playwright-core";
import { requireBinary } from "../../server/testing/system.js";

/** Flags for headless Chromium in a closed network, as root. */
export const CHROMIUM_ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/** Launches /usr/bin/chromium headless. */
export async function launchChromium(extraArgs: string[] = []): Promise<Browser> {
  return chromium.launch({
    executablePath: requireBinary("chromium"),
    headless: true,
    args: [...CHROMIUM_ARGS, ...extraArgs],
  });
}
