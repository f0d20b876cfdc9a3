// Going live through the demo page's widget, for the kit's media-mode tests.
import type { Page } from "@playwright/test";
import type { TestStream } from "../server/testing/index.js";

/** Fills the stream URL and key, goes live for `ms` once media arrives, and ends the stream. */
export async function goLiveFor(page: Page, url: string, stream: TestStream, ms: number): Promise<void> {
  await page.goto(url);
  await page.getByRole("textbox", { name: "Stream URL" }).fill(stream.url);
  await page.getByRole("textbox", { name: "Stream key" }).fill(stream.key);
  await page.getByRole("button", { name: "Go live" }).click();
  await stream.waitForPublish();
  await page.waitForTimeout(ms);
  await page.getByRole("button", { name: "End stream" }).click();
}
