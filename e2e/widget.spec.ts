// The <go-live> widget on the demo page that `npm start` serves, driven only
// through its UI (accessible names), against real nginx-rtmp ingests. (The
// widget embedded in an app on another origin: e2e/readme.spec.ts.)
import { copyFile, mkdir, readdir } from "node:fs/promises";
import { join } from "node:path";
import type { Page } from "@playwright/test";
import { ffprobeFrames, startHttpStatusServer, startNginxRtmp } from "../test/support/ingest.js";
import { expect, test } from "./fixtures.js";

const SHOTS = "test-artifacts/screenshots"; // git-ignored; Playwright empties test-results/ on each run

async function openDemo(page: Page, url: string, width = 1280, height = 900): Promise<void> {
  await page.setViewportSize({ width, height });
  await page.goto(url);
  await page.evaluate(() => localStorage.clear());
  await page.reload();
  await expect(page.getByRole("button", { name: "Go live" })).toBeVisible();
}

async function shot(page: Page, name: string): Promise<string> {
  await mkdir(SHOTS, { recursive: true });
  const path = join(SHOTS, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}

async function recordings(dir: string, key: string): Promise<string[]> {
  return (await readdir(dir)).filter((f) => f.startsWith(`${key}-`)).map((f) => join(dir, f));
}

test("go live through the widget only, then End stream: nginx records a valid stream", async ({ chromiumBrowser, demoBridge, nginx }) => {
  const page = await chromiumBrowser.newPage();
  // The demo page's Content-Security-Policy blocks nothing going live needs (workers, the worklet, WASM, the WebSocket).
  const violations: string[] = [];
  page.on("console", (m) => {
    if (/Content Security Policy/i.test(m.text())) violations.push(m.text());
  });
  const response = await page.goto(demoBridge.url);
  expect(response?.headers()["content-security-policy"]).toContain("frame-ancestors 'none'");
  expect(response?.headers()["x-content-type-options"]).toBe("nosniff");
  await openDemo(page, demoBridge.url);
  await shot(page, "idle-desktop");
  await page.getByRole("textbox", { name: "Stream URL" }).fill(nginx.rtmpUrl());
  await page.getByRole("textbox", { name: "Stream key" }).fill("widget-key");
  await page.getByRole("checkbox", { name: "Record on this machine" }).uncheck();
  await page.getByRole("button", { name: "Go live" }).click();
  await expect(page.getByText("LIVE", { exact: true })).toBeVisible({ timeout: 20_000 });
  await expect(page.getByRole("status").first()).toHaveText("Live");
  await page.waitForTimeout(6000);
  await expect(page.getByText(/Mbit\/s · \d+ fps · \d+ dropped/)).toBeVisible();
  await shot(page, "live-desktop");
  await page.getByRole("button", { name: "End stream" }).click();
  await expect(page.getByRole("button", { name: "Go live" })).toBeVisible({ timeout: 20_000 });
  await expect(page.getByText("LIVE", { exact: true })).toBeHidden();
  await expect(page.getByRole("status").first()).toHaveText("Ended");
  const [file] = await recordings(nginx.recordDir, "widget-key");
  const probe = await ffprobeFrames(file!);
  expect(probe.video?.codecName).toBe("h264");
  expect(probe.audio?.codecName).toBe("aac");
  expect([probe.video?.width, probe.video?.height]).toEqual([1280, 720]);
  expect(probe.counts.video).toBeGreaterThan(120);
  // The stream key is masked on screen.
  expect(await page.getByRole("textbox", { name: "Stream key" }).getAttribute("type")).toBe("password");
  expect(violations).toEqual([]);
  await page.close();
});

test("a rejected key shows the reason on that destination while the other stays live", async ({ chromiumBrowser, demoBridge, nginx }) => {
  const auth = await startHttpStatusServer(403);
  const strict = await startNginxRtmp({ onPublish: `${auth.url}/on_publish` });
  try {
    const page = await chromiumBrowser.newPage();
    await openDemo(page, demoBridge.url);
    await page.getByRole("checkbox", { name: "Record on this machine" }).uncheck();
    await page.getByRole("textbox", { name: "Stream URL" }).fill(strict.rtmpUrl());
    await page.getByRole("textbox", { name: "Stream key" }).fill("wrong-key");
    await page.getByRole("button", { name: "Add destination" }).click();
    await page.getByRole("textbox", { name: "Stream URL" }).nth(1).fill(nginx.rtmpUrl());
    await page.getByRole("textbox", { name: "Stream key" }).nth(1).fill("good-key");
    await page.getByRole("button", { name: "Go live" }).click();
    const statuses = page.getByRole("status");
    await expect(statuses.nth(0)).toContainText("rejected the stream key", { timeout: 20_000 });
    await expect(statuses.nth(1)).toHaveText("Live", { timeout: 20_000 });
    await expect(page.getByText("LIVE", { exact: true })).toBeVisible();
    expect(await statuses.nth(0).textContent()).not.toContain("wrong-key");
    await shot(page, "error-desktop");
    await page.setViewportSize({ width: 390, height: 844 });
    await shot(page, "error-phone");
    await page.getByRole("button", { name: "End stream" }).click();
    await expect(page.getByRole("button", { name: "Go live" })).toBeVisible({ timeout: 20_000 });
    await page.close();
  } finally {
    await strict.dispose();
    await auth.close();
  }
});

test("upstream restarted mid-stream: the destination shows reconnecting, then live", async ({ chromiumBrowser, demoBridge }) => {
  const first = await startNginxRtmp({ recordUnique: true });
  let second: Awaited<ReturnType<typeof startNginxRtmp>> | undefined;
  try {
    const page = await chromiumBrowser.newPage();
    await openDemo(page, demoBridge.url);
    await page.getByRole("checkbox", { name: "Record on this machine" }).uncheck();
    await page.getByRole("textbox", { name: "Stream URL" }).fill(first.rtmpUrl());
    await page.getByRole("textbox", { name: "Stream key" }).fill("restart");
    await page.getByRole("button", { name: "Go live" }).click();
    const status = page.getByRole("status").first();
    await expect(status).toHaveText("Live", { timeout: 20_000 });
    await page.waitForTimeout(2000);
    await first.stop();
    await expect(status).toContainText("Reconnecting", { timeout: 15_000 });
    second = await startNginxRtmp({ port: first.port, recordUnique: true });
    await expect(status).toHaveText("Live", { timeout: 30_000 });
    await expect(page.getByText("LIVE", { exact: true })).toBeVisible();
    await page.getByRole("button", { name: "End stream" }).click();
    await expect(page.getByRole("button", { name: "Go live" })).toBeVisible({ timeout: 20_000 });
    await page.close();
  } finally {
    await second?.dispose();
    await first.dispose();
  }
});

test("keyboard only: tab to every control, go live and end with the keyboard", async ({ chromiumBrowser, demoBridge, nginx }) => {
  const page = await chromiumBrowser.newPage();
  await openDemo(page, demoBridge.url, 390, 844);
  await shot(page, "idle-phone");
  // Walk the whole tab order once: what gets focus, and whether it shows.
  const names: string[] = [];
  const unoutlined: string[] = [];
  for (let i = 0; i < 30; i++) {
    await page.keyboard.press("Tab");
    const focused = await page.evaluate(() => {
      let a: Element | null = document.activeElement;
      while (a?.shadowRoot?.activeElement) a = a.shadowRoot.activeElement;
      if (!a || a === document.body) return { name: "", outline: "" };
      return { name: a.getAttribute("aria-label") ?? (a.textContent ?? "").trim(), outline: getComputedStyle(a).outlineStyle, inWidget: a.getRootNode() !== document };
    });
    names.push(focused.name);
    if ("inWidget" in focused && focused.inWidget && focused.outline === "none") unoutlined.push(focused.name);
  }
  for (const control of ["Camera", "Microphone", "Share screen", "Quality", "Service", "Remove destination", "Stream URL", "Stream key", "Show stream key", "Add destination", "Go live"]) {
    expect(names, `reached by Tab: ${control}`).toContain(control);
  }
  expect(unoutlined, "widget controls without a visible focus outline").toEqual([]);
  // Fill and go live with the keyboard.
  await page.getByRole("textbox", { name: "Stream URL" }).focus();
  await page.keyboard.type(nginx.rtmpUrl());
  await page.keyboard.press("Tab");
  await page.keyboard.type("keyboard-key");
  await page.getByRole("checkbox", { name: "Record on this machine" }).focus();
  await page.keyboard.press("Space");
  await page.getByRole("button", { name: "Go live" }).focus();
  await page.keyboard.press("Enter");
  await expect(page.getByText("LIVE", { exact: true })).toBeVisible({ timeout: 20_000 });
  await page.waitForTimeout(3000);
  await shot(page, "live-phone");
  await page.getByRole("button", { name: "End stream" }).focus();
  await page.keyboard.press("Enter");
  await expect(page.getByRole("button", { name: "Go live" })).toBeVisible({ timeout: 20_000 });
  expect(await recordings(nginx.recordDir, "keyboard-key")).toHaveLength(1);
  await page.close();
});

test("settings persist across reloads; stream keys only when asked", async ({ chromiumBrowser, demoBridge }) => {
  const page = await chromiumBrowser.newPage();
  await openDemo(page, demoBridge.url);
  await page.getByRole("combobox", { name: "Quality" }).selectOption("1080p30");
  await page.getByRole("combobox", { name: "Service" }).selectOption("youtube");
  await page.getByRole("textbox", { name: "Stream key" }).fill("secret-key");
  await page.getByRole("textbox", { name: "Stream key" }).blur();
  await page.reload();
  await expect(page.getByRole("combobox", { name: "Quality" })).toHaveValue("1080p30");
  await expect(page.getByRole("textbox", { name: "Stream URL" })).toHaveValue("rtmp://a.rtmp.youtube.com/live2");
  await expect(page.getByRole("textbox", { name: "Stream key" })).toHaveValue("");
  await page.getByRole("checkbox", { name: "Remember stream keys on this device" }).check();
  await page.getByRole("textbox", { name: "Stream key" }).fill("secret-key");
  await page.getByRole("textbox", { name: "Stream key" }).blur();
  await page.reload();
  await expect(page.getByRole("textbox", { name: "Stream key" })).toHaveValue("secret-key");
  await page.close();
});

test.afterAll(async () => {
  // The README's two screenshots, taken by the tests above, only when asked
  // (docs/images is in git: a test run must not change tracked files):
  // npm run docs:screenshots (GOLIVE_UPDATE_SCREENSHOTS=1).
  if (process.env.GOLIVE_UPDATE_SCREENSHOTS !== "1") return;
  await mkdir("docs/images", { recursive: true });
  const readme = { "live-desktop": "widget-live-desktop.png", "error-phone": "widget-error-phone.png" };
  for (const [name, file] of Object.entries(readme)) await copyFile(join(SHOTS, `${name}.png`), join("docs/images", file));
});
