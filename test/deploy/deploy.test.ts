// deploy/ checked against the code (issue 16): the Kubernetes manifests parse
// and hang together (selectors, ports, probe paths, grace period, the hash
// key), their and the Dockerfile's command lines are ones `golive serve`
// takes, a bridge started with them answers the probes and /metrics, and
// the load balancer configs pass their own checkers (haproxy -c, nginx -t).
// The Docker image itself is not built here: no container engine on these
// machines (README, "Running a fleet").
/* eslint-disable @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-assignment, @typescript-eslint/no-unsafe-argument -- parsed YAML is untyped: its shape is what these tests assert */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { parseAllDocuments } from "yaml";
import { SESSION_KEY_PARAM } from "../../protocol/wire.js";
import { freePort } from "../../server/testing/ports.js";
import { requireBinary } from "../../server/testing/system.js";

const exec = promisify(execFile);
const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const BIN = join(ROOT, "bin", "golive.js");
const K8S = join(ROOT, "deploy", "kubernetes");

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- see above
type Doc = Record<string, any>;

let docs: Doc[];
let serveHelp: string;
let dir: string;

beforeAll(async () => {
  docs = [];
  for (const f of (await readdir(K8S)).filter((n) => n.endsWith(".yaml"))) {
    for (const d of parseAllDocuments(await readFile(join(K8S, f), "utf8"))) {
      expect(d.errors, f).toEqual([]);
      docs.push(d.toJS() as Doc);
    }
  }
  serveHelp = (await exec(process.execPath, [BIN, "serve", "--help"])).stdout;
  dir = await mkdtemp(join(tmpdir(), "golive-deploy-"));
});
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

const kind = (k: string): Doc => {
  const found = docs.filter((d) => d.kind === k);
  expect(found, k).toHaveLength(1);
  return found[0]!;
};

/** The value after `flag` in an argv list. */
const arg = (args: string[], flag: string): string | undefined => args[args.indexOf(flag) + 1];

/** Every --flag of an argv list is one `golive serve --help` lists. */
function expectServeFlags(args: readonly string[], where: string): void {
  const flags = args.filter((a) => a.startsWith("--"));
  expect(flags.length, where).toBeGreaterThan(0);
  for (const f of flags) expect(serveHelp, `${where}: golive serve has no ${f}`).toMatch(new RegExp(`(^|[\\s,])${f}[\\s<]`, "m"));
}

/** Starts `golive serve` with `args` (host and port replaced by 127.0.0.1 and a free port); resolves with its base URL. */
async function serveWith(args: string[], env: Record<string, string>): Promise<{ base: string; proc: ChildProcess }> {
  const port = await freePort();
  const fixed = [...args];
  fixed[fixed.indexOf("--host") + 1] = "127.0.0.1";
  fixed[fixed.indexOf("--port") + 1] = String(port);
  const proc = spawn(process.execPath, [BIN, "serve", ...fixed, "--record-dir", join(dir, "rec")], { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  let err = "";
  proc.stderr.setEncoding("utf8").on("data", (d: string) => (err += d));
  const deadline = Date.now() + 15_000;
  while (!/golive bridge on/.test(err)) {
    if (Date.now() > deadline || proc.exitCode !== null) throw new Error(`serve did not start with ${fixed.join(" ")}:\n${err}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return { base: `http://127.0.0.1:${port}`, proc };
}

describe("deploy/kubernetes", () => {
  it("has the Deployment, Service, PodDisruptionBudget, HorizontalPodAutoscaler, Ingress and ServiceMonitor, tied together by one label and one port name", () => {
    const dep = kind("Deployment");
    const labels = dep.spec.template.metadata.labels as Record<string, string>;
    expect(dep.spec.selector.matchLabels).toEqual(labels);
    const container = dep.spec.template.spec.containers[0] as Doc;
    const portName = container.ports[0].name as string;
    const svc = kind("Service");
    expect(svc.spec.selector).toEqual(labels);
    expect(svc.spec.ports[0].targetPort).toBe(portName);
    expect(kind("PodDisruptionBudget").spec.selector.matchLabels).toEqual(labels);
    const hpa = kind("HorizontalPodAutoscaler");
    expect(hpa.spec.scaleTargetRef).toMatchObject({ kind: "Deployment", name: dep.metadata.name });
    expect(hpa.spec.metrics[0].resource.name).toBe("cpu");
    const ing = kind("Ingress");
    expect(ing.spec.rules[0].http.paths[0].backend.service).toEqual({ name: svc.metadata.name, port: { name: svc.spec.ports[0].name } });
    // Affinity: the hash key is the query parameter the clients set.
    expect(ing.metadata.annotations["nginx.ingress.kubernetes.io/upstream-hash-by"]).toBe(`$arg_${SESSION_KEY_PARAM}`);
    const sm = kind("ServiceMonitor");
    expect(sm.spec.selector.matchLabels).toMatchObject({ "app.kubernetes.io/name": labels["app.kubernetes.io/name"] });
    expect(sm.spec.endpoints[0]).toMatchObject({ port: svc.spec.ports[0].name, path: "/metrics" });
  });

  it("the pod runs unprivileged, and its grace period covers preStop, the drain and the shutdown", () => {
    const pod = kind("Deployment").spec.template.spec as Doc;
    const container = pod.containers[0] as Doc;
    expect(pod.securityContext.runAsNonRoot).toBe(true);
    expect(container.securityContext).toMatchObject({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true });
    const args = container.args as string[];
    const preStop = Number((container.lifecycle.preStop.exec.command as string[])[1]);
    const drain = Number(arg(args, "--drain-timeout"));
    expect(drain).toBeGreaterThan(0);
    // The bridge's own bound on the shutdown after the drain is 10 s.
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThan(preStop + drain + 10);
    expect(Number(arg(args, "--port"))).toBe(container.ports[0].containerPort);
  });

  it("the pod names its worker count: no more workers than whole CPUs it requests (at least one), since a pod sees the node's CPUs", () => {
    const container = kind("Deployment").spec.template.spec.containers[0] as Doc;
    const workers = Number(arg(container.args as string[], "--workers"));
    const cpu = String(container.resources.requests.cpu);
    const cores = cpu.endsWith("m") ? Number(cpu.slice(0, -1)) / 1000 : Number(cpu);
    expect(Number.isInteger(workers) && workers >= 1).toBe(true);
    expect(workers).toBeLessThanOrEqual(Math.max(1, Math.floor(cores)));
  });

  it("a bridge started with the Deployment's arguments answers its probes, is not ready once it drains, and serves /metrics", async () => {
    const container = kind("Deployment").spec.template.spec.containers[0] as Doc;
    const args = container.args as string[];
    expectServeFlags(args, "deployment.yaml");
    const env: Record<string, string> = {};
    for (const e of container.env as Doc[]) env[e.name as string] = "a-secret-of-at-least-32-characters-for-the-test";
    const { base, proc } = await serveWith(args, env);
    try {
      for (const probe of [container.readinessProbe, container.livenessProbe] as Doc[]) {
        expect((await fetch(`${base}${probe.httpGet.path as string}`)).status, probe.httpGet.path).toBe(200);
      }
      expect(await (await fetch(`${base}/metrics`)).text()).toMatch(/golive_sessions_active/);
      // SIGTERM with no session: ready no more, then gone, exit 0.
      proc.kill("SIGTERM");
      expect(await new Promise((r) => proc.once("exit", r))).toBe(0);
    } finally {
      if (proc.exitCode === null) proc.kill("SIGKILL");
    }
  });
});

describe("deploy/Dockerfile", () => {
  it("builds in stages, runs as an unprivileged user with a healthcheck, exposes the port it serves on, with flags golive serve takes", async () => {
    const text = await readFile(join(ROOT, "deploy", "Dockerfile"), "utf8");
    const instructions = text.split("\n").filter((l) => /^[A-Z]+\s/.test(l));
    const froms = instructions.filter((l) => l.startsWith("FROM "));
    expect(froms.length).toBeGreaterThanOrEqual(2);
    const last = instructions.slice(instructions.lastIndexOf(froms.at(-1)!));
    const user = last.find((l) => l.startsWith("USER "))?.split(/\s+/)[1];
    expect(user).toBeDefined();
    expect(["root", "0"]).not.toContain(user);
    expect(last.some((l) => l.startsWith("HEALTHCHECK "))).toBe(true);
    expect(text).toMatch(/healthz/);
    const json = (prefix: string): string[] => JSON.parse(last.find((l) => l.startsWith(prefix))!.slice(prefix.length)) as string[];
    const entry = json("ENTRYPOINT ");
    const cmd = json("CMD ");
    expect(entry.slice(-2)).toEqual(["bin/golive.js", "serve"]);
    expectServeFlags(cmd, "Dockerfile CMD");
    expect(last.find((l) => l.startsWith("EXPOSE "))?.split(/\s+/)[1]).toBe(arg(cmd, "--port"));
  });
});

describe("deploy/ load balancers", () => {
  it("haproxy.cfg passes haproxy -c, balances on the session key with consistent hashing, and checks /readyz", async () => {
    const cfg = await readFile(join(ROOT, "deploy", "haproxy.cfg"), "utf8");
    expect(cfg).toMatch(new RegExp(`balance url_param ${SESSION_KEY_PARAM}\\b`));
    expect(cfg).toMatch(/hash-type consistent/);
    expect(cfg).toMatch(/http-check send meth GET uri \/readyz /);
    // The runtime socket's directory need not exist on this machine.
    const path = join(dir, "haproxy.cfg");
    await writeFile(path, cfg.replace(/stats socket \S+/, `stats socket ${join(dir, "admin.sock")}`));
    await exec(requireBinary("haproxy"), ["-c", "-f", path]);
  });

  it("nginx.conf passes nginx -t and hashes on the session key, consistently", async () => {
    const conf = await readFile(join(ROOT, "deploy", "nginx.conf"), "utf8");
    expect(conf).toMatch(new RegExp(`hash \\$arg_${SESSION_KEY_PARAM} consistent;`));
    const prefix = join(dir, "nginx");
    await exec("mkdir", ["-p", join(prefix, "logs")]);
    // -t reads the file as is; only the pid and logs go to the test's own prefix.
    const { stderr } = await exec(requireBinary("nginx"), ["-t", "-p", `${prefix}/`, "-c", join(ROOT, "deploy", "nginx.conf"), "-g", `pid ${join(prefix, "nginx.pid")}; error_log ${join(prefix, "error.log")};`]);
    expect(stderr).toMatch(/syntax is ok/);
  });
});
