// An app's own end-to-end test of its go-live flow, using only golive/testing.
// Copy it, point page.goto at your page, and keep the assertions.
import { fileURLToPath } from "node:url";
import { expect, test } from "golive/testing";

// Serve this example's app page from the in-process test bridge.
test.use({ goliveAppDir: fileURLToPath(new URL("./app", import.meta.url)) });

test("pressing Go live sends a valid, in-sync H.264/AAC stream", async ({ page, goliveBridge, stream }) => {
  test.setTimeout(120_000);
  await page.goto(goliveBridge.url);
  await page.getByRole("textbox", { name: "Stream URL" }).fill(stream.url);
  await page.getByRole("textbox", { name: "Stream key" }).fill(stream.key);
  await page.getByRole("button", { name: "Go live" }).click();
  await stream.waitForPublish();
  await page.waitForTimeout(10_000);
  await page.getByRole("button", { name: "End stream" }).click();
  await expect(stream).toBeValidStream({
    width: 1280,
    height: 720,
    fps: 30,
    minDurationS: 9,
    maxKeyframeIntervalS: 2.1,
    maxAvOffsetMs: 80,
  });
});
