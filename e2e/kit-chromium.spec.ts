// The Playwright kit with goliveMedia "chromium" at 25 fps: Chromium's own
// fake devices, through the kit's own fixtures.
import { expect, test } from "../server/testing/index.js";
import { goLiveFor } from "./kit-go-live.js";

test.use({ goliveMedia: "chromium", goliveFps: 25 });

test("Chromium's own fake devices at the asked frame rate give a valid stream", async ({ page, goliveBridge, stream }) => {
  test.setTimeout(120_000);
  await goLiveFor(page, goliveBridge.url, stream, 5000);
  await expect(stream).toBeValidStream({ fps: { min: 22, max: 27 }, minDurationS: 4 });
});
