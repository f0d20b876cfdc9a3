// A browser that cannot go live is told so before anything happens: the
// widget shows why in plain words instead of a Go live button that would
// fail, Broadcaster.probe() says it, and start() fails in the browser
// without opening a session on the bridge (no publish upstream, no
// recording). Simulated in Chromium by taking WebCodecs' VideoEncoder and
// MediaRecorder's H.264 away before the page loads.
import { existsSync } from "node:fs";
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import type * as golive from "../web/golive.js";
import { expect, test } from "./fixtures.js";

type GoliveModule = typeof golive;

/** Runs in the page before its scripts: no H.264 encoder of any kind. */
function withoutH264(): void {
  delete (window as unknown as { VideoEncoder?: unknown }).VideoEncoder;
  if (typeof MediaRecorder !== "undefined") MediaRecorder.isTypeSupported = () => false;
}

test("no H.264 encoder: the widget says why and offers no Go live; probe() and start() say so and the bridge never hears of it", async ({ chromiumBrowser, demoBridge, workDir }) => {
  const context = await chromiumBrowser.newContext();
  await context.addInitScript(withoutH264);
  const page = await context.newPage();
  try {
    await page.goto(demoBridge.url);
    const alert = page.getByRole("alert");
    await expect(alert).toContainText("This browser cannot go live");
    await expect(alert).toContainText("H.264");
    await expect(page.getByRole("button", { name: "Go live" })).toBeDisabled();
    expect(await page.locator("go-live").getAttribute("data-support")).toBe("UNSUPPORTED_BROWSER");
    // The camera was never asked for.
    expect(await page.evaluate(() => document.querySelector("go-live")!.shadowRoot!.querySelector("video")!.srcObject)).toBeNull();

    // The SDK, as an app would use it on this page.
    const result = await page.evaluate(async () => {
      const url = "/golive.js";
      const { Broadcaster } = (await import(url)) as GoliveModule;
      const probe = await Broadcaster.probe();
      const b = new Broadcaster({ bridgeUrl: `ws://${location.host}/ingest` });
      const states: string[] = [];
      b.addEventListener("statechange", () => states.push(b.state));
      const canvas = document.createElement("canvas");
      canvas.width = 640;
      canvas.height = 360;
      canvas.getContext("2d")!.fillRect(0, 0, 640, 360);
      await b.setSource({ kind: "canvas", canvas });
      try {
        await b.start({ destinations: [], record: true });
        return { probe, states, started: true };
      } catch (err) {
        const e = err as Error & { code?: string };
        return { probe, states, code: e.code, message: e.message };
      }
    });
    expect(result.probe).toEqual({ canGoLive: false, code: "UNSUPPORTED_BROWSER", reason: expect.stringContaining("H.264") as unknown });
    expect(result).toMatchObject({ code: "UNSUPPORTED_BROWSER", states: ["starting", "failed"] });
    expect(result.message).toContain("H.264");
  } finally {
    await context.close();
  }
  // Nothing reached the bridge: no session, so no publish and no recording.
  const metrics = await (await fetch(`${demoBridge.url}metrics`)).text();
  expect(metrics).toMatch(/^golive_sessions_started_total 0$/m);
  const recordings = join(workDir, "demo-recordings");
  expect(existsSync(recordings) ? await readdir(recordings) : []).toEqual([]);
});

test("probe() where everything is there (Linux Chromium): WebCodecs H.264 and sound from track processors, AAC from ffmpeg.wasm", async ({ harnessPage }) => {
  expect(await harnessPage.evaluate(() => (window as unknown as { harness: { probe(): Promise<unknown> } }).harness.probe())).toEqual({
    canGoLive: true,
    video: { encoder: "webcodecs", capture: "track-processor" },
    audio: { encoder: "ffmpeg", capture: "track-processor" },
  });
});
