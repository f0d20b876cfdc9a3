// DNS rebinding against a bridge on a non-loopback address (issue 18): a
// page on evil.example, re-bound to the bridge's address, sends
// `Host: evil.example:PORT` and `Origin: http://evil.example:PORT`. The bridge
// (started with an allowlist and --allow-origin, as the red team's was) must
// refuse the upgrade and every HTTP route for that Host, and still serve its
// own address. The bridge and the client run inside a network namespace this
// test creates, on an address that exists only there (10.213.7.1 on its lo).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const BIN = join(ROOT, "bin", "golive.js");
const NS = `golive-rb-${process.pid}`;
const ADDRESS = "10.213.7.1";
const PORT = 18_084;

let dir: string;
let bridge: ChildProcess | undefined;

function ip(...args: string[]): void {
  execFileSync("ip", args, { stdio: "pipe" });
}

beforeAll(async () => {
  if (!existsSync(join(ROOT, "dist", "server", "cli.js"))) {
    execFileSync("npx", ["tsc", "-p", "tsconfig.build.json"], { cwd: ROOT, stdio: "inherit", timeout: 120_000 });
  }
  dir = await mkdtemp(join(tmpdir(), "golive-rebinding-"));
  ip("netns", "add", NS);
  ip("-n", NS, "link", "set", "lo", "up");
  ip("-n", NS, "addr", "add", `${ADDRESS}/24`, "dev", "lo");
  bridge = spawn("ip", ["netns", "exec", NS, process.execPath, BIN, "serve", "--host", ADDRESS, "--port", String(PORT),
    "--allow-destination", "rtmp://ingest.invalid/live/*", "--allow-origin", "https://app.example", "--record-dir", dir, "--log-level", "warn"],
  { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
  let err = "";
  bridge.stderr!.setEncoding("utf8").on("data", (d: string) => (err += d));
  const deadline = Date.now() + 15_000;
  while (!/golive bridge on/.test(err)) {
    if (Date.now() > deadline || bridge.exitCode !== null) throw new Error(`bridge did not start in ${NS}: ${err}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}, 180_000);

afterAll(async () => {
  if (bridge?.pid !== undefined && bridge.exitCode === null) {
    bridge.kill("SIGTERM");
    await new Promise((r) => bridge!.once("exit", r));
  }
  try {
    ip("netns", "del", NS);
  } catch {
    // not created
  }
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** Runs requests from inside the namespace: [path, Host, Origin|"", upgrade?] -> status. */
const CLIENT = `
const http = require("node:http");
const [address, port, cases] = [process.argv[1], Number(process.argv[2]), JSON.parse(process.argv[3])];
const one = ([path, host, origin, upgrade]) => new Promise((resolve) => {
  const headers = { Host: host };
  if (origin) headers.Origin = origin;
  if (upgrade) Object.assign(headers, { Connection: "Upgrade", Upgrade: "websocket", "Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Protocol": "golive.v1" });
  const req = http.request({ host: address, port, path, headers });
  req.on("response", (res) => { res.resume(); resolve(res.statusCode); });
  req.on("upgrade", (_res, socket) => { socket.destroy(); resolve(101); });
  req.on("error", (e) => resolve(String(e.code)));
  req.end();
});
(async () => { const out = []; for (const c of cases) out.push(await one(c)); console.log(JSON.stringify(out)); })();
`;

function fromInside(cases: Array<[string, string, string, boolean]>): number[] {
  const out = execFileSync("ip", ["netns", "exec", NS, process.execPath, "-e", CLIENT, ADDRESS, String(PORT), JSON.stringify(cases)], { encoding: "utf8", timeout: 20_000 });
  return JSON.parse(out) as number[];
}

describe("DNS rebinding on a non-loopback bridge", () => {
  it("a rebound page (Host and Origin evil.example) is refused at the upgrade and on every route; the bridge's own address is served", () => {
    const evil = `evil.example:${PORT}`;
    const own = `${ADDRESS}:${PORT}`;
    const statuses = fromInside([
      ["/ingest", evil, `http://${evil}`, true], // the attack: same "origin" by the Host header
      ["/ingest", evil, "", true], // no Origin, but a Host that is not ours
      ["/metrics", evil, "", false],
      ["/healthz", evil, "", false],
      ["/", evil, "", false],
      ["/ingest", own, "https://evil.example", true], // a foreign page on our address
      ["/ingest", own, `http://${own}`, true], // our own page
      ["/ingest", own, "https://app.example", true], // the listed app
      ["/healthz", own, "", false],
      ["/metrics", own, "", false],
    ]);
    expect(statuses).toEqual([403, 403, 403, 403, 403, 403, 101, 101, 200, 200]);
  });
});
