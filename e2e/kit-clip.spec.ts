// The Playwright kit with goliveMedia "clip": the generated clip fed to
// Chromium's fake devices, through the kit's own fixtures. (The synthetic
// default is covered by examples/playwright.)
import { expect, test } from "../server/testing/index.js";
import { goLiveFor } from "./kit-go-live.js";

test.use({ goliveMedia: "clip" });

test("Chromium plays the generated clip: the flashes and beeps arrive and line up", async ({ page, goliveBridge, stream }) => {
  test.setTimeout(120_000);
  await goLiveFor(page, goliveBridge.url, stream, 8000);
  expect(await page.evaluate(() => "__goliveSyntheticMedia" in window)).toBe(false);
  // A short run: the clip's ~1 % video drift against audio stays small.
  // Chromium's file-fed fake microphone leaves ~2.4 ms of near-silence each
  // time it loops the clip (every 2 s; the same on main before the capture
  // rewrite): seen as 2 or 3 one-millisecond windows depending on where they
  // fall, hence 3 ms.
  await expect(stream).toBeValidStream({ fps: { min: 25 }, minDurationS: 7, maxAvOffsetMs: 100, maxAudioDropoutMs: 3 });
});
