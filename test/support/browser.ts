/**
 * Debian's Chromium driven by playwright-core (no browser downloads here),
 * with the flags measured to work headless on this machine kind.
 */
import { chromium, type Browser } from "playwright-core";
import { QUIET_CHROMIUM_ARGS } from "../../server/testing/browser.js";
import { requireBinary } from "../../server/testing/system.js";

/** Flags for headless Chromium in a closed network, as root: the kit's, and no QUIC. */
export const CHROMIUM_ARGS = [...QUIET_CHROMIUM_ARGS, "--disable-quic"];

/** Launches /usr/bin/chromium headless. */
export async function launchChromium(extraArgs: string[] = []): Promise<Browser> {
  return chromium.launch({
    executablePath: requireBinary("chromium"),
    headless: true,
    args: [...CHROMIUM_ARGS, ...extraArgs],
  });
}
