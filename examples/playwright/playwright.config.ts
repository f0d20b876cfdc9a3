// What a team's playwright.config.ts needs for golive/testing: nothing
// special. The kit's fixtures find a Chromium (Playwright's own, else the
// system's), give it fake media and start the test ingest themselves.
// (In this repository the root playwright.config.ts runs this folder as the
// "examples" project.)
import { defineConfig } from "@playwright/test";
import type { GoliveOptions } from "golive/testing";

export default defineConfig<GoliveOptions>({
  testDir: ".",
  timeout: 120_000,
  use: {
    // "synthetic" (default): picture and sound from one clock, so the A/V
    // offset measured is your app's; "clip": Chromium's fake devices fed a
    // generated clip; "chromium": Chromium's own fake devices.
    goliveMedia: "synthetic",
  },
});
