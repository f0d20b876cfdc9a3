import { setTimeout as sleep } from "node:timers/promises";
import { syntheticMediaScript } from "../server/testing/browser.js";
import { openEngine, waitFor, type EngineName } from "./engines.js";
import { test } from "./fixtures.js";
test("scratch", async ({ bridge, nginx }) => {
  const p = await openEngine((process.env.ENGINE ?? "webkit") as EngineName);
  try {
    await p.goto(bridge.url);
    await waitFor(p, `"harness" in window`);
    if (process.env.SYNTH) await p.evaluate(syntheticMediaScript());
    console.log(await p.evaluate(`harness.start({ destinations: [{ id: "nginx", url: ${JSON.stringify(nginx.rtmpUrl())}, key: "scratch" }] })`));
    for (let i = 0; i < 5; i++) {
      await sleep(1000);
      console.log(JSON.stringify(await p.evaluate(`(() => { const s = harness.stats(); const st = harness.events.filter((e) => e.type === "stats").pop(); return { state: s.state, fps: st?.detail.fps, clk: s.audioClock, d: s.destinations.map((d) => [d.framesSent, d.framesDropped, d.queuedMs]) }; })()`)));
    }
    console.log(await p.evaluate("harness.stop()"));
    console.log("TS", JSON.stringify(await p.evaluate("({ v: window.__vts, a: window.__ats })")));

  } finally { await p.close(); }
  const { readdir } = await import("node:fs/promises");
  const { execFileSync } = await import("node:child_process");
  for (const f of await readdir(nginx.recordDir)) {
    const out = execFileSync("ffprobe", ["-v", "error", "-show_entries", "packet=stream_index,pts_time", "-of", "csv=p=0", `${nginx.recordDir}/${f}`], { encoding: "utf8" }).trim().split("\n");
    const v = out.filter((l) => l.startsWith("0,")), a = out.filter((l) => l.startsWith("1,"));
    console.log(f, "video", v[0], v[v.length - 1], v.length, "audio", a[0], a[a.length - 1], a.length);
  }
});
