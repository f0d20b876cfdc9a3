/**
 * A Chromium driven over the raw DevTools protocol, for the one thing
 * Playwright cannot do: put a page in a background tab. Playwright keeps every
 * page it controls "visible" (focus emulation, one window per page), so
 * `document.visibilityState` never becomes "hidden" under it, headless or
 * headful. A Chromium we launch ourselves with --remote-debugging-port has
 * real tabs: opening a new one hides the first (measured on Debian Chromium
 * 156, headless).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import WebSocket from "ws";
import { freePort } from "../server/testing/ports.js";
import { requireBinary } from "../server/testing/system.js";

interface TargetInfo {
  id: string;
  type: string;
  webSocketDebuggerUrl: string;
}

/** One tab, and the browser it lives in. */
export interface CdpTab {
  /** Evaluates `expression` in the page (awaiting a promise) and returns its value. */
  evaluate<T>(expression: string): Promise<T>;
  /** Loads `url` and waits for the load event. */
  navigate(url: string): Promise<void>;
  /** Opens a new tab in front of this one (this one becomes hidden). */
  openTabInFront(): Promise<void>;
  /** Brings this tab back to the front. */
  activate(): Promise<void>;
  close(): Promise<void>;
}

/** Launches headless Chromium with `args` and returns its first tab. */
export async function launchCdpTab(args: readonly string[]): Promise<CdpTab> {
  const port = await freePort();
  const profile = await mkdtemp(join(tmpdir(), "golive-cdp-"));
  const chrome: ChildProcess = spawn(requireBinary("chromium"), ["--headless", `--remote-debugging-port=${port}`, `--user-data-dir=${profile}`, ...args, "about:blank"], { stdio: "ignore" });
  const base = `http://127.0.0.1:${port}`;
  let tab: TargetInfo | undefined;
  for (let i = 0; i < 100 && !tab; i++) {
    const list = await fetch(`${base}/json/list`).then((r) => r.json() as Promise<TargetInfo[]>, () => []);
    tab = list.find((t) => t.type === "page");
    if (!tab) await sleep(100);
  }
  if (!tab) {
    chrome.kill("SIGKILL");
    throw new Error("Chromium did not open its DevTools endpoint");
  }
  const ws = new WebSocket(tab.webSocketDebuggerUrl);
  await new Promise((resolve, reject) => {
    ws.once("open", resolve);
    ws.once("error", reject);
  });
  let nextId = 0;
  const pending = new Map<number, (message: { result?: unknown; error?: { message: string } }) => void>();
  const events: Array<{ method: string }> = [];
  ws.on("message", (data: Buffer) => {
    const message = JSON.parse(data.toString()) as { id?: number; method?: string; result?: unknown; error?: { message: string } };
    if (message.id !== undefined) pending.get(message.id)?.(message);
    else if (message.method) events.push({ method: message.method });
  });
  const send = async (method: string, params: Record<string, unknown> = {}): Promise<unknown> => {
    const id = ++nextId;
    const reply = await new Promise<{ result?: unknown; error?: { message: string } }>((resolve) => {
      pending.set(id, resolve);
      ws.send(JSON.stringify({ id, method, params }));
    });
    pending.delete(id);
    if (reply.error) throw new Error(`${method}: ${reply.error.message}`);
    return reply.result;
  };
  await send("Page.enable");
  const me = tab;
  return {
    async evaluate<T>(expression: string): Promise<T> {
      const result = (await send("Runtime.evaluate", { expression, awaitPromise: true, returnByValue: true })) as { result: { value: T }; exceptionDetails?: { text: string; exception?: { description?: string } } };
      if (result.exceptionDetails) throw new Error(`in the page: ${result.exceptionDetails.exception?.description ?? result.exceptionDetails.text}`);
      return result.result.value;
    },
    async navigate(url: string) {
      const seen = events.length;
      await send("Page.navigate", { url });
      for (let i = 0; i < 300 && !events.slice(seen).some((e) => e.method === "Page.loadEventFired"); i++) await sleep(50);
    },
    async openTabInFront() {
      await fetch(`${base}/json/new?about:blank`, { method: "PUT" });
    },
    async activate() {
      await fetch(`${base}/json/activate/${me.id}`);
    },
    async close() {
      ws.close();
      const exited = new Promise((r) => chrome.once("exit", r));
      chrome.kill("SIGTERM");
      await Promise.race([exited, sleep(5000)]);
      if (chrome.exitCode === null) chrome.kill("SIGKILL");
      // Chromium's helper processes can still be writing the profile for a moment after the browser exits.
      await rm(profile, { recursive: true, force: true, maxRetries: 10, retryDelay: 200 });
    },
  };
}
