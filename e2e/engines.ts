/**
 * The browser engines besides Chromium that golive supports, as Debian
 * packages them, behind one small interface for the cross-engine tests:
 *
 * - Firefox ESR: puppeteer-core over WebDriver BiDi (Playwright drives only
 *   its own patched Firefox). Prefs give a fake camera and microphone without
 *   a prompt, and a mock audio backend: headless on a machine with no sound
 *   device, Firefox's AudioContexts otherwise never leave "suspended"
 *   (measured: Firefox 153 ESR, no PulseAudio).
 * - WebKitGTK (Safari's engine): WebKitWebDriver (classic WebDriver over
 *   HTTP) starting MiniBrowser under Xvfb, with WebKit's mock capture devices.
 *
 * Each page offers evaluate (an expression, awaited in the page), a real
 * click on an element inside a shadow root, and close.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import type { Browser as PpBrowser, Page as PpPage } from "puppeteer-core";
import { freePort } from "../server/testing/ports.js";
import { requireBinary } from "../server/testing/system.js";

/** The engines beyond Chromium (which e2e/sdk.spec.ts and e2e/widget.spec.ts drive through Playwright). */
export type EngineName = "firefox" | "webkit";
export const ENGINES: readonly EngineName[] = ["firefox", "webkit"];

export interface EnginePage {
  readonly engine: EngineName;
  /** Loads `url` and waits for its load event. */
  goto(url: string): Promise<void>;
  /** Evaluates a JavaScript expression in the page, awaiting a promise; its value must be JSON. */
  evaluate<T>(expression: string): Promise<T>;
  /** A trusted click (a user gesture) on `inner` inside `host`'s open shadow root. */
  clickInShadow(host: string, inner: string): Promise<void>;
  /** The browser's version, as it reports it. */
  version(): Promise<string>;
  close(): Promise<void>;
}

/** Launches `engine` with fake (or mock) camera and microphone and opens one page. */
export async function openEngine(engine: EngineName): Promise<EnginePage> {
  switch (engine) {
    case "firefox":
      return openFirefox();
    case "webkit":
      return openWebKit();
  }
}

/** Polls `expression` until it is truthy (or throws after `timeoutMs`, with the last value). */
export async function waitFor<T>(page: EnginePage, expression: string, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  for (;;) {
    last = await page.evaluate<T>(expression);
    if (last) return last;
    if (Date.now() > deadline) throw new Error(`${page.engine}: \`${expression}\` still ${JSON.stringify(last)} after ${timeoutMs} ms`);
    await sleep(200);
  }
}

async function openFirefox(): Promise<EnginePage> {
  const { default: puppeteer } = await import("puppeteer-core");
  const browser: PpBrowser = await puppeteer.launch({
    browser: "firefox",
    executablePath: requireBinary("firefox-esr"),
    headless: true,
    extraPrefsFirefox: {
      "media.navigator.streams.fake": true,
      "media.navigator.permission.disabled": true,
      "media.autoplay.default": 0,
      "media.autoplay.block-webaudio": false,
      "media.cubeb.force_mock_context": true,
    },
  });
  const page: PpPage = await browser.newPage();
  return {
    engine: "firefox",
    goto: async (url) => void (await page.goto(url, { waitUntil: "load" })),
    evaluate: (expression) => page.evaluate(expression) as Promise<never>,
    clickInShadow: async (host, inner) => {
      const el = await page.waitForSelector(`${host} >>> ${inner}`);
      if (!el) throw new Error(`firefox: no ${inner} in ${host}`);
      await el.click();
    },
    version: () => browser.version(),
    close: () => browser.close(),
  };
}

/** What a classic WebDriver endpoint answers. */
interface WdResponse<T> {
  value: T & { error?: string; message?: string };
}

async function openWebKit(): Promise<EnginePage> {
  const xvfb = requireBinary("Xvfb");
  const driverBin = requireBinary("WebKitWebDriver");
  const procs: ChildProcess[] = [];
  const kill = (): void => {
    for (const p of procs) if (p.exitCode === null) p.kill("SIGKILL");
  };
  try {
    // A free X display: the first whose lock file is absent.
    let display = 90;
    while (existsSync(`/tmp/.X${display}-lock`)) display++;
    const x = spawn(xvfb, [`:${display}`, "-screen", "0", "1280x1024x24", "-nolisten", "tcp"], { stdio: "ignore" });
    procs.push(x);
    for (let i = 0; i < 50 && !existsSync(`/tmp/.X11-unix/X${display}`); i++) await sleep(100);
    const port = await freePort();
    const driver = spawn(driverBin, [`--port=${port}`, "--host=127.0.0.1"], { stdio: "ignore", env: { ...process.env, DISPLAY: `:${display}` } });
    procs.push(driver);
    const base = `http://127.0.0.1:${port}`;
    const wd = async <T>(method: string, path: string, body?: unknown): Promise<T> => {
      const res = await fetch(`${base}${path}`, { method, headers: { "content-type": "application/json" }, ...(body !== undefined && { body: JSON.stringify(body) }) });
      const json = (await res.json()) as WdResponse<T>;
      if (json.value?.error) throw new Error(`webkit: ${method} ${path}: ${json.value.error}: ${json.value.message ?? ""}`);
      return json.value;
    };
    for (let i = 0; ; i++) {
      const up = await fetch(`${base}/status`).then((r) => r.ok, () => false);
      if (up) break;
      if (i > 100) throw new Error("WebKitWebDriver did not start");
      await sleep(100);
    }
    const session = await wd<{ sessionId: string; capabilities: { browserVersion?: string } }>("POST", "/session", {
      capabilities: {
        alwaysMatch: {
          "webkitgtk:browserOptions": {
            binary: minibrowser(),
            args: ["--automation", "--enable-media-stream=true", "--enable-mock-capture-devices=true", "--media-playback-requires-user-gesture=false", "--autoplay-policy=allow"],
          },
        },
      },
    });
    const s = `/session/${session.sessionId}`;
    await wd("POST", `${s}/timeouts`, { script: 60_000 });
    let seq = 0;
    const evaluate = async <T>(expression: string): Promise<T> => {
      // Started with a synchronous script, its result polled: WebKitWebDriver's
      // execute/async fails ("Could not parse script result") on promises
      // that settle after WebCodecs calls. The expression is part of the
      // script WebDriver runs, not eval()ed by it: a page's CSP (the demo
      // page has no 'unsafe-eval') would block that. An expression statement's
      // trailing semicolon would end the wrapping parenthesis: it goes.
      const id = `e${++seq}`;
      const body = expression.trim().replace(/;+$/, "");
      const start = `const id = arguments[0]; const results = (window.__goliveWd ??= {});
        Promise.resolve().then(() => (
${body}
        )).then((v) => { results[id] = JSON.stringify({ ok: v === undefined ? null : v }); }, (e) => { results[id] = JSON.stringify({ err: String((e && e.stack) || e) }); });
        return true;`;
      await wd("POST", `${s}/execute/sync`, { script: start, args: [id] });
      for (;;) {
        const raw = await wd<string | null>("POST", `${s}/execute/sync`, { script: "const r = window.__goliveWd?.[arguments[0]]; if (r !== undefined) delete window.__goliveWd[arguments[0]]; return r ?? null;", args: [id] }).catch((err: Error) => {
          throw new Error(`${err.message} (evaluating ${expression.slice(0, 200)})`);
        });
        if (raw !== null) {
          const r = JSON.parse(raw) as { ok?: T; err?: string };
          if (r.err !== undefined) throw new Error(`webkit: ${r.err}`);
          return r.ok as T;
        }
        await sleep(50);
      }
    };
    return {
      engine: "webkit",
      goto: async (url) => void (await wd("POST", `${s}/url`, { url })),
      evaluate,
      clickInShadow: async (host, inner) => {
        const ELEMENT = "element-6066-11e4-a52e-4f735466cecf";
        const SHADOW = "shadow-6066-11e4-a52e-4f735466cecf";
        const hostEl = await wd<Record<string, string>>("POST", `${s}/element`, { using: "css selector", value: host });
        const root = await wd<Record<string, string>>("GET", `${s}/element/${hostEl[ELEMENT]}/shadow`);
        const el = await wd<Record<string, string>>("POST", `${s}/shadow/${root[SHADOW]}/element`, { using: "css selector", value: inner });
        await wd("POST", `${s}/element/${el[ELEMENT]}/click`, {});
      },
      version: () => Promise.resolve(`WebKitGTK ${session.capabilities.browserVersion ?? "?"}`),
      close: async () => {
        await wd("DELETE", s).catch(() => undefined);
        kill();
      },
    };
  } catch (err) {
    kill();
    throw err;
  }
}

/** Debian's MiniBrowser (webkit2gtk-driver depends on the package that has it). */
function minibrowser(): string {
  for (const dir of ["/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib"]) {
    for (const api of ["webkit2gtk-4.1", "webkit2gtk-4.0", "webkitgtk-6.0"]) {
      const path = `${dir}/${api}/MiniBrowser`;
      if (existsSync(path)) return path;
    }
  }
  throw new Error("this test needs MiniBrowser: install the Debian package webkit2gtk-driver (with libwebkit2gtk-4.1-0)");
}
