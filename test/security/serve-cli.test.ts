// `golive serve` as a child process: on a non-loopback host it refuses to be
// an open relay (exit 2 before listening) unless tokens or an allowlist
// restrict destinations, or --insecure-open-relay says so, loudly.
//
// The non-loopback cases bind 0.0.0.0; the tests only ever connect to
// 127.0.0.1, so no traffic leaves the machine.
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { spawn, execFileSync, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { get } from "node:http";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { isListeningBy } from "../../server/testing/ports.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const BIN = join(ROOT, "bin", "golive.js");
const SECRET = "serve-test-secret-0123456789abcdefghij";

let recordDir: string;
const children: ChildProcess[] = [];

beforeAll(async () => {
  if (!existsSync(join(ROOT, "dist", "server", "cli.js"))) {
    execFileSync("npx", ["tsc", "-p", "tsconfig.build.json"], { cwd: ROOT, stdio: "inherit", timeout: 120_000 });
  }
  recordDir = await mkdtemp(join(tmpdir(), "golive-security-serve-"));
}, 180_000);

afterEach(() => {
  for (const child of children.splice(0)) {
    if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) process.kill(child.pid, "SIGKILL");
  }
});

afterAll(async () => {
  if (recordDir) await rm(recordDir, { recursive: true, force: true });
});

/** A port free on every interface a moment ago. */
async function freeAnyPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "0.0.0.0", resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

interface Run {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<number | null>;
}

function run(args: string[]): Run {
  const env = { ...process.env };
  for (const name of ["GOLIVE_TOKEN_SECRET", "PORT", "LOG_LEVEL"]) delete env[name];
  const child = spawn(process.execPath, [BIN, "serve", "--record-dir", recordDir, ...args], { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
  children.push(child);
  let out = "";
  let err = "";
  child.stdout.setEncoding("utf8").on("data", (d: string) => (out += d));
  child.stderr.setEncoding("utf8").on("data", (d: string) => (err += d));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return { child, stdout: () => out, stderr: () => err, exited };
}

async function waitForText(read: () => string, pattern: RegExp, exited: Promise<unknown>, timeoutMs = 15_000): Promise<void> {
  let gone = false;
  void exited.then(() => (gone = true));
  const deadline = Date.now() + timeoutMs;
  while (!pattern.test(read())) {
    if (gone) throw new Error(`exited before printing ${pattern}: ${read()}`);
    if (Date.now() > deadline) throw new Error(`no ${pattern} within ${timeoutMs} ms: ${read()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function healthz(port: number): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    get({ host: "127.0.0.1", port, path: "/healthz" }, (res) => {
      let body = "";
      res.setEncoding("utf8").on("data", (d: string) => (body += d)).on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    }).on("error", reject);
  });
}

/** Starts serve with `args`, checks it listens on `port` and answers /healthz, then stops it with SIGTERM (exit 0). */
async function expectServes(port: number, args: string[]): Promise<Run> {
  const r = run(["--host", "0.0.0.0", "--port", String(port), ...args]);
  await waitForText(r.stderr, /golive bridge on http:\/\/0\.0\.0\.0:\d+\//, r.exited);
  expect(await isListeningBy(r.child.pid!, port)).toBe(true);
  const health = await healthz(port);
  expect(health.status).toBe(200);
  expect(JSON.parse(health.body)).toMatchObject({ status: "ok" });
  r.child.kill("SIGTERM");
  expect(await r.exited).toBe(0);
  return r;
}

describe("golive serve", () => {
  it("--host 0.0.0.0 with neither --token-secret nor --allow-destination exits 2 before listening, naming --token-secret", async () => {
    // Hold the port: had serve tried to listen, it would fail with "cannot listen" and exit 1.
    const port = await freeAnyPort();
    const holder: Server = createServer();
    await new Promise<void>((resolve) => holder.listen({ port, host: "0.0.0.0", exclusive: true }, resolve));
    try {
      const r = run(["--host", "0.0.0.0", "--port", String(port)]);
      expect(await r.exited).toBe(2);
      expect(r.stderr()).toMatch(/refusing to listen on 0\.0\.0\.0 as an open relay/);
      expect(r.stderr()).toContain("--token-secret");
      expect(r.stderr()).toContain("--allow-destination");
      expect(r.stderr()).toContain("--insecure-open-relay");
      expect(r.stderr()).not.toMatch(/cannot listen|golive bridge on/);
      expect(r.stdout()).not.toMatch(/listening/);
    } finally {
      await new Promise<void>((resolve) => holder.close(() => resolve()));
    }
  });

  it("the same on the IPv6 wildcard ::", async () => {
    const r = run(["--host", "::", "--port", String(await freeAnyPort())]);
    expect(await r.exited).toBe(2);
    expect(r.stderr()).toContain("--token-secret");
  });

  it("a --token-secret shorter than 32 characters exits 2", async () => {
    const r = run(["--host", "0.0.0.0", "--port", String(await freeAnyPort()), "--token-secret", "too-short"]);
    expect(await r.exited).toBe(2);
    expect(r.stderr()).toMatch(/--token-secret must be at least 32 characters/);
  });

  it("--host 0.0.0.0 with --token-secret starts", async () => {
    const r = await expectServes(await freeAnyPort(), ["--token-secret", SECRET]);
    expect(r.stdout()).not.toMatch(/INSECURE/);
    // The secret is configuration, not something to log.
    expect(r.stdout() + r.stderr()).not.toContain(SECRET);
  });

  it("--token-secret-file: the secret from a file (not argv), and a missing file exits 2", async () => {
    const file = join(recordDir, "token-secret");
    await writeFile(file, `${SECRET}\n`);
    const r = await expectServes(await freeAnyPort(), ["--token-secret-file", file]);
    expect(r.stdout() + r.stderr()).not.toContain(SECRET);
    const missing = run(["--host", "0.0.0.0", "--port", String(await freeAnyPort()), "--token-secret-file", join(recordDir, "nope")]);
    expect(await missing.exited).toBe(2);
    expect(missing.stderr()).toMatch(/--token-secret-file: .*ENOENT/);
  });

  it("--host 0.0.0.0 with --allow-destination starts", async () => {
    await expectServes(await freeAnyPort(), ["--allow-destination", "rtmp://*.rtmp.youtube.com/live2/*"]);
  });

  it("--host 0.0.0.0 with --insecure-open-relay starts and logs a loud warning", async () => {
    const r = await expectServes(await freeAnyPort(), ["--insecure-open-relay"]);
    const lines = r.stdout().split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as { level: number; msg: string });
    const warning = lines.find((l) => /INSECURE/.test(l.msg));
    expect(warning, r.stdout()).toBeDefined();
    expect(warning!.level).toBeGreaterThanOrEqual(40); // pino warn
    expect(warning!.msg).toMatch(/open relay/);
    // Logged before the bridge listens.
    expect(lines.findIndex((l) => /INSECURE/.test(l.msg))).toBeLessThan(lines.findIndex((l) => /listening/.test(l.msg)));
  });

  it("on loopback with neither, it starts (a person streaming from their own machine)", async () => {
    const port = await freeAnyPort();
    const r = run(["--port", String(port)]);
    await waitForText(r.stderr, /golive bridge on http:\/\/127\.0\.0\.1:\d+\//, r.exited);
    expect((await healthz(port)).status).toBe(200);
    r.child.kill("SIGTERM");
    expect(await r.exited).toBe(0);
    expect(r.stdout()).not.toMatch(/INSECURE/);
  });

  it("--frame-ancestors: the served page may be framed by those; a value that is not one CSP source exits 2", async () => {
    const port = await freeAnyPort();
    const r = run(["--port", String(port), "--frame-ancestors", "https://app.example", "'self'"]);
    await waitForText(r.stderr, /golive bridge on/, r.exited);
    const res = await fetch(`http://127.0.0.1:${port}/`);
    expect(res.headers.get("content-security-policy")).toMatch(/frame-ancestors https:\/\/app\.example 'self'$/);
    expect(res.headers.get("x-frame-options")).toBeNull();
    r.child.kill("SIGTERM");
    expect(await r.exited).toBe(0);
    const bad = run(["--port", String(await freeAnyPort()), "--frame-ancestors", "https://a.example; script-src *"]);
    expect(await bad.exited).toBe(2);
    expect(bad.stderr()).toMatch(/is not one CSP source/);
  });
});
