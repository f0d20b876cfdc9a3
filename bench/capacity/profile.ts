/**
 * Reads a V8 CPU profile (`node --cpu-prof`, .cpuprofile JSON) of the bridge
 * and says where its time went: self time by area of the code (the WebSocket
 * library, the RTMP writer, the wasm core, Node's streams and sockets, GC,
 * native code outside JS) and the top functions by self and by total time.
 * Percentages are of busy time (samples not in "(idle)").
 */
import { readFileSync } from "node:fs";

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

/** One line of the summary. */
export interface ProfileRow {
  name: string;
  ms: number;
  /** Share of busy time, 0..1. */
  share: number;
}

/** What a profile says. */
export interface ProfileSummary {
  /** Profiled wall time and busy (not idle) time, ms. */
  wallMs: number;
  busyMs: number;
  areas: ProfileRow[];
  selfTop: ProfileRow[];
  totalTop: ProfileRow[];
  /** golive's own functions (server/, wasm/host/, protocol/) by total time: where the per-frame path spends it. */
  ownTotalTop: ProfileRow[];
}

/** A frame of golive's own code (not a dependency, not Node). */
function isOwn(frame: CallFrame): boolean {
  return !frame.url.includes("/node_modules/") && /\/(server|wasm\/host|protocol)\//.test(frame.url);
}

/** The area of the code a frame belongs to. */
export function areaOf(frame: CallFrame): string {
  const { url, functionName } = frame;
  if (url === "") {
    if (functionName === "(garbage collector)") return "GC";
    if (functionName === "(program)") return "native (outside JS: syscalls, libuv, V8)";
    if (functionName === "(idle)") return "idle";
    return "native builtins";
  }
  if (url.startsWith("wasm://")) return "wasm core";
  if (url.includes("/node_modules/ws/")) return "ws (WebSocket library)";
  if (url.includes("/node_modules/prom-client/")) return "prom-client (metrics)";
  if (url.includes("/node_modules/pino")) return "pino (logging)";
  if (url.includes("/node_modules/")) return "other node_modules";
  if (url.includes("/server/rtmp/")) return "RTMP client (server/rtmp)";
  if (url.includes("/wasm/host/")) return "wasm host glue (wasm/host)";
  if (url.includes("/server/bridge/")) return "bridge + session (server/bridge)";
  if (url.includes("/protocol/")) return "wire protocol (protocol/)";
  if (url.startsWith("node:")) return "Node internals (net, streams, timers)";
  return "other";
}

function label(frame: CallFrame): string {
  const file = frame.url.replace(/^.*\/(node_modules\/)?/, (m) => (m.includes("node_modules") ? "node_modules/" : "")).replace(/^file:\/\//, "");
  const where = frame.url === "" ? "" : ` ${file.split("/").slice(-2).join("/")}:${frame.lineNumber + 1}`;
  return `${frame.functionName || "(anonymous)"}${where}`;
}

function top(map: Map<string, number>, busy: number, count: number): ProfileRow[] {
  return [...map.entries()].sort((a, b) => b[1] - a[1]).slice(0, count).map(([name, us]) => ({ name, ms: us / 1000, share: us / busy }));
}

/** Summarises the profile at `path`. */
export function summarizeProfile(path: string, count = 15): ProfileSummary {
  const profile = JSON.parse(readFileSync(path, "utf8")) as CpuProfile;
  const byId = new Map<number, ProfileNode>();
  const parent = new Map<number, number>();
  for (const node of profile.nodes) {
    byId.set(node.id, node);
    for (const c of node.children ?? []) parent.set(c, node.id);
  }
  const areas = new Map<string, number>();
  const self = new Map<string, number>();
  const total = new Map<string, number>();
  const ownTotal = new Map<string, number>();
  let busy = 0;
  let wall = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    // The time up to the next sample belongs to this one.
    const dt = profile.timeDeltas[i + 1] ?? 0;
    wall += dt;
    const node = byId.get(profile.samples[i]!);
    if (!node) continue;
    const area = areaOf(node.callFrame);
    if (area === "idle") continue;
    busy += dt;
    areas.set(area, (areas.get(area) ?? 0) + dt);
    const name = label(node.callFrame);
    self.set(name, (self.get(name) ?? 0) + dt);
    const seen = new Set<string>();
    for (let id: number | undefined = node.id; id !== undefined; id = parent.get(id)) {
      const n = byId.get(id)!;
      if (n.callFrame.functionName === "(root)") continue;
      const l = label(n.callFrame);
      if (seen.has(l)) continue;
      seen.add(l);
      total.set(l, (total.get(l) ?? 0) + dt);
      if (isOwn(n.callFrame)) ownTotal.set(l, (ownTotal.get(l) ?? 0) + dt);
    }
  }
  return {
    wallMs: wall / 1000,
    busyMs: busy / 1000,
    areas: top(areas, busy, 20),
    selfTop: top(self, busy, count),
    totalTop: top(total, busy, count),
    ownTotalTop: top(ownTotal, busy, count),
  };
}

/** The summary as text. */
export function formatProfile(s: ProfileSummary): string {
  const rows = (title: string, list: ProfileRow[]): string =>
    `${title}\n${list.map((r) => `  ${(r.share * 100).toFixed(1).padStart(5)}%  ${r.ms.toFixed(0).padStart(7)} ms  ${r.name}`).join("\n")}`;
  return [
    `profiled ${(s.wallMs / 1000).toFixed(1)} s, busy ${(s.busyMs / 1000).toFixed(1)} s (${((100 * s.busyMs) / Math.max(1, s.wallMs)).toFixed(0)}% of the main thread)`,
    rows("self time by area:", s.areas),
    rows("top functions, self time:", s.selfTop),
    rows("top functions, total time (self + callees):", s.totalTop),
    rows("golive's own functions, total time:", s.ownTotalTop),
  ].join("\n");
}
