// Playwright end-to-end tests (e2e/): Debian's Chromium with fake devices,
// a real golive bridge and a real nginx-rtmp, checked by ffprobe.
import { defineConfig } from "@playwright/test";

export default defineConfig({
  testDir: "e2e",
  testMatch: /.*\.spec\.ts$/,
  timeout: 120_000,
  workers: 1,
  retries: 0,
  reporter: [["list"]],
  outputDir: "test-results",
  use: {
    trace: "off",
  },
});
