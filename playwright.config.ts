// Playwright end-to-end tests: Debian's Chromium with fake devices, a real
// golive bridge and a real nginx-rtmp, checked by what arrived.
// - e2e/: the SDK and the widget.
// - examples/playwright/: the Playwright kit's example, through golive/testing only.
import { defineConfig } from "@playwright/test";
import type { GoliveOptions } from "./server/testing/fixtures.js";

export default defineConfig<GoliveOptions>({
  testMatch: /.*\.spec\.ts$/,
  timeout: 120_000,
  workers: 1,
  retries: 0,
  reporter: [["list"]],
  outputDir: "test-results",
  use: {
    trace: "off",
  },
  projects: [
    { name: "e2e", testDir: "e2e" },
    { name: "examples", testDir: "examples/playwright" },
  ],
});
