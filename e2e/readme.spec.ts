// The README's browser samples, run as written (test/docs/readme.test.ts
// checks that every sample is run somewhere): only the placeholders are
// filled in (YOUR-BRIDGE, the YouTube URL, KEY), on a page of an app on
// another origin that serves golive.js and its assets under /golive/ as the
// README says; the WebSocket goes to the bridge. What arrived at nginx-rtmp
// is checked.
import { cp, mkdir, readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Page } from "@playwright/test";
import { analyzeRecording } from "../server/testing/analyze.js";
import { describeStream, streamProblems } from "../server/testing/checks.js";
import { fillIn, readmeSample } from "../test/support/readme-samples.js";
import { serveStatic, type StaticServer } from "../test/support/static-server.js";
import { expect, test } from "./fixtures.js";

async function recordingOf(dir: string, key: string): Promise<string> {
  const files = (await readdir(dir)).filter((f) => f.startsWith(`${key}-`));
  expect(files, `recordings of ${key}`).toHaveLength(1);
  return join(dir, files[0]!);
}

/** An app on its own origin with golive.js and assets/ copied under /golive/, and these pages. */
async function appSite(workDir: string, pages: Record<string, string>): Promise<StaticServer> {
  const site = join(workDir, "readme-app");
  await mkdir(join(site, "golive"), { recursive: true });
  await cp("dist/web/golive.js", join(site, "golive", "golive.js"));
  await cp("dist/web/assets", join(site, "golive", "assets"), { recursive: true });
  for (const [name, html] of Object.entries(pages)) await writeFile(join(site, name), html);
  return serveStatic(site);
}

function page(title: string, body: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${title}</title></head><body><h1>${title}</h1>\n${body}\n</body></html>`;
}

function consoleOf(p: Page): string[] {
  const lines: string[] = [];
  p.on("console", (m) => lines.push(m.text()));
  p.on("pageerror", (e) => lines.push(`pageerror: ${e.message}`));
  return lines;
}

test("the README's samples, as written: the embedding snippet, the SDK without the UI, the probe", async ({ chromiumBrowser, demoBridge, nginx, workDir }) => {
  test.setTimeout(120_000);
  const bridgeHost = new URL(demoBridge.url).host;
  // The bridge is plain ws:// on loopback here; the samples say wss:// for a real one.
  const forBridge = { "wss://YOUR-BRIDGE/ingest": `ws://${bridgeHost}/ingest` };
  const app = await appSite(workDir, {
    "embed.html": page("An app", readmeSample("embed-html").code.split("YOUR-BRIDGE").join(bridgeHost).replace("wss://", "ws://")),
    "sdk.html": page("SDK", `<video id="video" muted autoplay playsinline width="320"></video><button id="end">End</button>
<script type="module">
const KEY = "readme-sdk";
const endButton = document.getElementById("end");
${fillIn(readmeSample("sdk").code, { ...forBridge, "rtmp://a.rtmp.youtube.com/live2": nginx.rtmpUrl() })}
</script>`),
    "probe.html": page("Probe", `<script type="module">
import { Broadcaster } from "/golive/golive.js";
const showMessage = (m) => console.log("showMessage: " + m);
${readmeSample("probe").code}
console.log("probe done " + JSON.stringify(support));
</script>`),
  });
  try {
    expect(new URL(app.url).origin).not.toBe(new URL(demoBridge.url).origin);
    // 1. The embedding snippet: the widget, driven through its UI.
    const embed = await chromiumBrowser.newPage();
    await embed.setViewportSize({ width: 1280, height: 900 });
    await embed.goto(`${app.url}embed.html`);
    await embed.getByRole("checkbox", { name: "Record on this machine" }).uncheck();
    await embed.getByRole("textbox", { name: "Stream URL" }).fill(nginx.rtmpUrl());
    await embed.getByRole("textbox", { name: "Stream key" }).fill("readme-embed");
    await embed.getByRole("button", { name: "Go live" }).click();
    await expect(embed.getByText("LIVE", { exact: true })).toBeVisible({ timeout: 20_000 });
    await embed.waitForTimeout(5000);
    await embed.getByRole("button", { name: "End stream" }).click();
    await expect(embed.getByRole("button", { name: "Go live" })).toBeVisible({ timeout: 20_000 });
    await embed.close();

    // 2. The SDK without the UI: states logged by the sample, ended by its button.
    const sdk = await chromiumBrowser.newPage();
    const sdkLog = consoleOf(sdk);
    await sdk.goto(`${app.url}sdk.html`);
    await expect.poll(() => sdkLog.join("\n"), { timeout: 20_000 }).toMatch(/^live$/m);
    await sdk.waitForTimeout(5000);
    await sdk.locator("#end").click();
    await expect.poll(() => sdkLog.join("\n"), { timeout: 20_000 }).toMatch(/^ended$/m);
    expect(sdkLog.filter((l) => l.startsWith("pageerror"))).toEqual([]);
    await sdk.close();

    // 3. The probe: Linux Chromium can go live (H.264 from WebCodecs, AAC from golive's wasm encoder).
    const probe = await chromiumBrowser.newPage();
    const probeLog = consoleOf(probe);
    await probe.goto(`${app.url}probe.html`);
    await expect.poll(() => probeLog.find((l) => l.startsWith("probe done")), { timeout: 20_000 }).toBeDefined();
    expect(probeLog.filter((l) => l.startsWith("showMessage") || l.startsWith("pageerror"))).toEqual([]);
    expect(JSON.parse(probeLog.find((l) => l.startsWith("probe done"))!.slice("probe done ".length))).toMatchObject({ canGoLive: true, video: { encoder: "webcodecs" }, audio: { encoder: "wasm" } });
    await probe.close();
  } finally {
    await app.close();
  }
  for (const key of ["readme-embed", "readme-sdk"]) {
    const report = await analyzeRecording(await recordingOf(nginx.recordDir, key));
    expect(streamProblems(report, { width: 1280, height: 720, minDurationS: 3 }), `${key}: ${describeStream(report)}`).toEqual([]);
  }
});
