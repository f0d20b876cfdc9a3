/**
 * `golive replay` end to end: a bridge started in-process, nginx-rtmp as the
 * ingest, and the replay client speaking the wire protocol to the bridge.
 * What nginx recorded must be the file that was replayed: the same frames
 * per stream, timestamps (within 1 ms), keyframes and payload sizes, 640x360.
 * The same through the CLI entry (main(argv), exit codes and printed
 * outcomes), an MP4, a loop, five concurrent sessions in realtime, a
 * recording, and a destination that refuses while another completes.
 */
import { execFile } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { Bridge } from "../../server/bridge/bridge.js";
import { main } from "../../server/cli.js";
import { createLogger } from "../../server/log.js";
import { replay, replayMany } from "../../server/replay/index.js";
import { cachedTestFlv, ffprobeFrames, makeTempDir, removeTempDir, startNginxRtmp, type NginxRtmpServer, type ProbeResult } from "../support/ingest.js";
import { freePort } from "../../server/testing/ports.js";
import { requireBinary } from "../../server/testing/system.js";

const run = promisify(execFile);

let bridge: Bridge;
let nginx: NginxRtmpServer;
let scratch: string;
let recordDir: string;
let flv10: string;
let probe10: ProbeResult;

beforeAll(async () => {
  scratch = await makeTempDir("replay-e2e");
  recordDir = join(scratch, "recordings");
  bridge = new Bridge({ port: 0, allowPrivate: true, logger: createLogger({ level: "silent" }), recordDir });
  await bridge.listen();
  nginx = await startNginxRtmp();
  flv10 = await cachedTestFlv({ seconds: 10, gop: 60 });
  probe10 = await ffprobeFrames(flv10);
});

afterAll(async () => {
  await bridge?.close();
  await nginx?.dispose();
  await removeTempDir(scratch);
});

afterEach(() => {
  vi.restoreAllMocks();
  process.exitCode = undefined; // main() reports through it; keep the worker's clean
});

/** Every packet of `recorded` is `sent`'s, stream by stream, with pts shifted by `offsetMs`. */
function expectSameMedia(recorded: ProbeResult, sent: ProbeResult, options: { offsetMs?: number; sizes?: boolean } = {}): void {
  const offset = options.offsetMs ?? 0;
  expect(recorded.video?.codecName).toBe("h264");
  expect(recorded.audio?.codecName).toBe("aac");
  expect([recorded.video?.width, recorded.video?.height]).toEqual([sent.video?.width, sent.video?.height]);
  expect(recorded.counts).toEqual(sent.counts);
  for (const kind of ["video", "audio"] as const) {
    const got = recorded.packets.filter((p) => p.stream === kind);
    const want = sent.packets.filter((p) => p.stream === kind);
    for (let i = 0; i < want.length; i++) {
      expect(Math.abs(got[i]!.ptsMs - want[i]!.ptsMs - offset), `${kind} packet ${i} pts`).toBeLessThanOrEqual(1);
      expect(got[i]!.keyframe, `${kind} packet ${i} key`).toBe(want[i]!.keyframe);
      if (options.sizes ?? true) expect(got[i]!.size, `${kind} packet ${i} size`).toBe(want[i]!.size);
    }
  }
}

/** The FLV case: dts too, and no offset (both timelines start at 0). */
function expectSameFlv(recorded: ProbeResult, sent: ProbeResult): void {
  expectSameMedia(recorded, sent);
  for (const kind of ["video", "audio"] as const) {
    const got = recorded.packets.filter((p) => p.stream === kind);
    const want = sent.packets.filter((p) => p.stream === kind);
    want.forEach((w, i) => expect(Math.abs(got[i]!.dtsMs - w.dtsMs), `${kind} packet ${i} dts`).toBeLessThanOrEqual(1));
  }
  expect([recorded.video?.width, recorded.video?.height]).toEqual([640, 360]);
  expect(sent.counts.video).toBe(300); // the fixture is what we think
  expect(recorded.packets.filter((p) => p.stream === "video" && p.keyframe)).toHaveLength(5);
}

/** Runs the CLI in-process; returns its exit code and everything it printed. */
async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = "";
  let stderr = "";
  vi.spyOn(process.stdout, "write").mockImplementation((chunk: string | Uint8Array) => {
    stdout += String(chunk);
    return true;
  });
  vi.spyOn(process.stderr, "write").mockImplementation((chunk: string | Uint8Array) => {
    stderr += String(chunk);
    return true;
  });
  try {
    const code = await main(["node", "golive", "replay", ...args]);
    return { code, stdout, stderr };
  } finally {
    vi.restoreAllMocks();
    process.exitCode = undefined;
  }
}

describe("replay through the bridge into nginx-rtmp", () => {
  it("--fast: nginx records exactly the file's frames, timestamps and keyframes", async () => {
    const result = await replay({ file: flv10, bridge: bridge.ingestUrl, to: [`${nginx.rtmpUrl()}/fast-key`], pacing: "fast" });
    expect(result.error).toBeUndefined();
    expect(result.ok).toBe(true);
    expect(result.destinations).toEqual([
      expect.objectContaining({ id: "d1", kind: "rtmp", target: `${nginx.rtmpUrl()}/****`, outcome: "completed", state: "ended", wentLive: true }),
    ]);
    expect(result.framesSent).toBe(probe10.packets.length);
    expect(result.destinations[0]!.stats).toMatchObject({ framesSent: probe10.packets.length, framesDropped: 0 });
    expect(result.media).toMatchObject({ format: "flv", counts: { video: 300, audio: probe10.counts.audio, keyframes: 5 }, width: 640, height: 360 });
    expectSameFlv(await ffprobeFrames(await nginx.waitForRecording("fast-key")), probe10);
  });

  it("the CLI: exit 0, each destination's outcome printed with its stream key redacted", async () => {
    const { code, stdout, stderr } = await cli(flv10, "--bridge", bridge.ingestUrl, "--to", `${nginx.rtmpUrl()}/cli-secret-key`, "--fast");
    expect(stderr).not.toContain("cli-secret-key");
    expect(stdout).not.toContain("cli-secret-key");
    expect(stdout).toContain(`completed  d1  ${nginx.rtmpUrl()}/****`);
    expect(stdout).toMatch(/all 1 destination completed/);
    expect(code).toBe(0);
    expectSameFlv(await ffprobeFrames(await nginx.waitForRecording("cli-secret-key")), probe10);
  });

  it("an MP4 (libx264 with B-frames + AAC, +faststart): every frame arrives with its composition time", async () => {
    // ffmpeg -f lavfi -i testsrc2=size=640x360:rate=30 -f lavfi -i sine=frequency=440:sample_rate=44100
    //   -t 4 -c:v libx264 -preset veryfast -g 60 -pix_fmt yuv420p -c:a aac -movflags +faststart clip.mp4
    const mp4 = join(scratch, "clip.mp4");
    await run(requireBinary("ffmpeg"), [
      "-hide_banner", "-loglevel", "error", "-nostdin", "-y",
      "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100",
      "-t", "4", "-c:v", "libx264", "-preset", "veryfast", "-g", "60", "-pix_fmt", "yuv420p", "-c:a", "aac", "-movflags", "+faststart", mp4,
    ]);
    const sent = await ffprobeFrames(mp4);
    const result = await replay({ file: mp4, bridge: bridge.ingestUrl, to: [`${nginx.rtmpUrl()}/mp4-key`], pacing: "fast" });
    expect(result.ok).toBe(true);
    expect(result.media.format).toBe("mp4");
    const recorded = await ffprobeFrames(await nginx.waitForRecording("mp4-key"));
    // The session's time zero is the first frame's decode time: every pts moves by the same amount.
    const firstVideo = (r: ProbeResult): number => r.packets.find((p) => p.stream === "video")!.ptsMs;
    expectSameMedia(recorded, sent, { offsetMs: firstVideo(recorded) - firstVideo(sent) });
    expect(recorded.packets.some((p) => p.stream === "video" && p.ptsMs !== p.dtsMs)).toBe(true);
  });

  it("--loop 2: twice the frames, time going on across the loop", async () => {
    const flv3 = await cachedTestFlv({ seconds: 3, gop: 60 });
    const sent = await ffprobeFrames(flv3);
    const result = await replay({ file: flv3, bridge: bridge.ingestUrl, to: [`${nginx.rtmpUrl()}/loop-key`], pacing: "fast", loop: 2 });
    expect(result.ok).toBe(true);
    expect(result.passesSent).toBe(2);
    const recorded = await ffprobeFrames(await nginx.waitForRecording("loop-key"));
    expect(recorded.counts).toEqual({ video: 2 * sent.counts.video, audio: 2 * sent.counts.audio });
    const video = recorded.packets.filter((p) => p.stream === "video");
    for (let i = 1; i < video.length; i++) expect(video[i]!.dtsMs - video[i - 1]!.dtsMs, `video step ${i}`).toBeGreaterThan(0);
    // The second pass starts one pass length after the first: where the longer track (audio) ends.
    const lastAudio = sent.packets.filter((p) => p.stream === "audio").at(-1)!.dtsMs;
    expect(result.media.durationUs).toBe((lastAudio + 23) * 1000); // + one AAC frame, 1024 samples at 44.1 kHz (23 ms in FLV)
    expect(video[90]!.dtsMs - video[0]!.dtsMs).toBe(result.media.durationUs / 1000);
    expect(video.filter((p) => p.keyframe)).toHaveLength(4);
  });

  it("replayMany(5) in realtime: one process, five sessions, each destination completes with every frame", async () => {
    const flv3 = await cachedTestFlv({ seconds: 3, gop: 60 });
    const sent = await ffprobeFrames(flv3);
    const started = Date.now();
    const result = await replayMany(5, { file: flv3, bridge: bridge.ingestUrl, to: [`${nginx.rtmpUrl()}/many-{session}`], pacing: "realtime", zeroMask: true });
    const elapsed = Date.now() - started;
    expect(result.sessions.map((s) => s.error)).toEqual([undefined, undefined, undefined, undefined, undefined]);
    expect(result.ok).toBe(true);
    expect(new Set(result.sessions.map((s) => s.session)).size).toBe(5);
    // Realtime: the 3 s file takes about 3 s, not the fraction of a second --fast would.
    expect(elapsed).toBeGreaterThan(2900);
    for (let i = 1; i <= 5; i++) {
      const recorded = await ffprobeFrames(await nginx.waitForRecording(`many-${i}`));
      expect(recorded.counts, `session ${i}`).toEqual(sent.counts);
    }
  });

  it("--record: the bridge's recording holds the same frames", async () => {
    const result = await replay({ file: flv10, bridge: bridge.ingestUrl, to: [`${nginx.rtmpUrl()}/rec-key`], record: true, pacing: "fast" });
    expect(result.ok).toBe(true);
    expect(result.recording).toMatch(/\.flv$/);
    expect(result.destinations.map((d) => [d.id, d.kind, d.outcome])).toEqual([
      ["d1", "rtmp", "completed"],
      ["recording", "recording", "completed"],
    ]);
    expectSameFlv(await ffprobeFrames(join(recordDir, result.recording!)), probe10);
  });
});

describe("replay failures", () => {
  it("a destination that refuses fails with RTMP_CONNECTION_REFUSED while the other completes; the CLI exits 1", async () => {
    const closed = await freePort();
    const { code, stdout } = await cli(flv10, "--bridge", bridge.ingestUrl, "--to", `rtmp://127.0.0.1:${closed}/live/refused-key`, "--to", `${nginx.rtmpUrl()}/ok-key`, "--fast");
    expect(code).toBe(1);
    expect(stdout).toMatch(new RegExp(`FAILED {5}d1  rtmp://127\\.0\\.0\\.1:${closed}/live/\\*\\*\\*\\*  RTMP_CONNECTION_REFUSED: `));
    expect(stdout).toContain(`completed  d2  ${nginx.rtmpUrl()}/****`);
    expect(stdout).toMatch(/1 of 2 destinations failed \(1 RTMP_CONNECTION_REFUSED\)/);
    expect(stdout).not.toContain("refused-key");
    expectSameFlv(await ffprobeFrames(await nginx.waitForRecording("ok-key")), probe10);
  });

  it("every destination refusing: the bridge ends the session (ALL_DESTINATIONS_FAILED), replay reports each", async () => {
    const closed = await freePort();
    const result = await replay({ file: flv10, bridge: bridge.ingestUrl, to: [`rtmp://127.0.0.1:${closed}/live/k`], pacing: "fast" });
    expect(result.ok).toBe(false);
    expect(result.error?.code).toBe("ALL_DESTINATIONS_FAILED");
    expect(result.destinations).toEqual([expect.objectContaining({ outcome: "failed", code: "RTMP_CONNECTION_REFUSED", wentLive: false })]);
    expect(result.framesSent).toBe(0); // --fast waits for a live destination: nothing was sent for nothing
  });

  it("a bridge limit refuses one session of many: that session reports the bridge's code, the others complete", async () => {
    const limited = new Bridge({ port: 0, allowPrivate: true, logger: createLogger({ level: "silent" }), recordDir, maxSessionsPerIp: 2 });
    await limited.listen();
    try {
      const flv3 = await cachedTestFlv({ seconds: 3, gop: 60 });
      const result = await replayMany(3, { file: flv3, bridge: limited.ingestUrl, to: [`${nginx.rtmpUrl()}/limited-{session}`], pacing: "fast" });
      expect(result.ok).toBe(false);
      const codes = result.sessions.map((s) => s.error?.code ?? "ok").sort();
      expect(codes).toEqual(["SESSION_LIMIT_PER_IP", "ok", "ok"]);
      const refused = result.sessions.find((s) => s.error)!;
      expect(refused.error?.message).toBe("at most 2 sessions per address");
      expect(refused.closeCode).toBe(4009);
    } finally {
      await limited.close();
    }
  });

  it("an ingest that restarts mid-replay: the destination completes but is LOSSY, with what was dropped, lost and how long it was not live; exit 4, or 0 with --allow-loss", async () => {
    const own = await startNginxRtmp({ recordUnique: true });
    let restarted: NginxRtmpServer | undefined;
    try {
      const replaying = cli(flv10, "--bridge", bridge.ingestUrl, "--to", `${own.rtmpUrl()}/lossy-key`, "--realtime");
      await new Promise((r) => setTimeout(r, 3000));
      await own.stop();
      restarted = await startNginxRtmp({ recordUnique: true, port: own.port, recordDir: own.recordDir });
      const { code, stdout, stderr } = await replaying;
      expect(code).toBe(4);
      const line = stdout.split("\n").find((l) => l.includes(" d1 "))!;
      expect(line).toMatch(new RegExp(`^  LOSSY {6}d1  ${own.rtmpUrl().replaceAll(".", "\\.")}/\\*\\*\\*\\*  \\d+ frames sent \\(.+\\), [1-9]\\d* dropped, \\d+ lost in resets, of them \\d+ audio, \\d+ keyframes, 1 reconnect, \\d+\\.\\d s not live$`));
      expect(stdout).toMatch(/all 1 destination completed, but 1 of them is missing frames \(\d+ dropped or lost on the way\)/);
      expect(stderr).toMatch(/reconnecting \(attempt 1, next in \d+\.\d s\)/);
      expect(stderr).toMatch(/--allow-loss accepts that/);
    } finally {
      await restarted?.dispose();
      await own.dispose();
    }
    // The same loss accepted: exit 0, still reported.
    const again = await startNginxRtmp({ recordUnique: true });
    let back: NginxRtmpServer | undefined;
    try {
      const replaying = cli(flv10, "--bridge", bridge.ingestUrl, "--to", `${again.rtmpUrl()}/lossy-ok`, "--realtime", "--allow-loss");
      await new Promise((r) => setTimeout(r, 3000));
      await again.stop();
      back = await startNginxRtmp({ recordUnique: true, port: again.port, recordDir: again.recordDir });
      const { code, stdout } = await replaying;
      expect(code).toBe(0);
      expect(stdout).toMatch(/LOSSY/);
    } finally {
      await back?.dispose();
      await again.dispose();
    }
  }, 60_000);

  it("an unreachable bridge: BRIDGE_UNREACHABLE, exit 3", async () => {
    const closed = await freePort();
    const { code, stdout, stderr } = await cli(flv10, "--bridge", `ws://127.0.0.1:${closed}/ingest`, "--to", `${nginx.rtmpUrl()}/never`);
    expect(code).toBe(3);
    expect(stdout).toMatch(new RegExp(`FAILED {5}d1  ${nginx.rtmpUrl()}/\\*\\*\\*\\*  BRIDGE_UNREACHABLE: cannot reach the bridge at ws://127\\.0\\.0\\.1:${closed}/ingest: connect ECONNREFUSED`));
    expect(stderr).toMatch(/cannot be reached: is `golive serve` running there\?/);
  });

  it("a file that cannot be replayed: a clear error and exit 2, no stack trace", async () => {
    const bad = join(scratch, "cut.flv");
    const bytes = new Uint8Array(await (await import("node:fs/promises")).readFile(flv10));
    await writeFile(bad, bytes.subarray(0, 5000));
    const { code, stderr } = await cli(bad, "--bridge", bridge.ingestUrl, "--to", `${nginx.rtmpUrl()}/x`);
    expect(code).toBe(2);
    expect(stderr).toMatch(/^golive replay: cannot replay .*cut\.flv: FLV_TRUNCATED: the file ends inside a tag \(\d+ bytes of it\) \(at byte \d+\)\n$/);
    expect(stderr).not.toMatch(/\n\s+at /);
  });

  it("--json: the whole result, machine-readable", async () => {
    const closed = await freePort();
    const { code, stdout } = await cli(flv10, "--bridge", `ws://127.0.0.1:${closed}`, "--to", `${nginx.rtmpUrl()}/json-key`, "--json");
    expect(code).toBe(3);
    const parsed = JSON.parse(stdout) as { ok: boolean; sessions: Array<{ error: { code: string }; destinations: Array<{ target: string }> }> };
    expect(parsed.ok).toBe(false);
    expect(parsed.sessions[0]!.error.code).toBe("BRIDGE_UNREACHABLE");
    expect(parsed.sessions[0]!.destinations[0]!.target).toBe(`${nginx.rtmpUrl()}/****`);
    expect(stdout).not.toContain("json-key");
  });

  it("--help: usage, every option, examples and exit codes", async () => {
    const { code, stdout } = await cli("--help");
    expect(code).toBe(0);
    expect(stdout).toMatch(/^Usage: golive replay \[options\] <file>/);
    for (const option of ["--bridge <ws-url>", "--to <rtmp-url>", "--record", "--token <jwt>", "--realtime", "--fast", "--loop <n>", "--max-rate <mbit/s>", "--sessions <n>", "--ramp <ms>", "--json"]) {
      expect(stdout).toContain(option);
    }
    expect(stdout).toMatch(/Exit status: 0 when\s+every destination of every session completed/);
  });

  it("usage errors: nothing to publish to, a bad bridge URL, --fast with --realtime", async () => {
    expect(await cli(flv10, "--bridge", bridge.ingestUrl)).toMatchObject({ code: 2, stderr: expect.stringMatching(/nothing to publish to/) as unknown });
    expect(await cli(flv10, "--bridge", "ftp://x", "--to", "rtmp://h/a/k")).toMatchObject({ code: 2, stderr: expect.stringMatching(/--bridge: the bridge URL must be ws:\/\/ or wss:\/\//) as unknown });
    const both = await cli(flv10, "--to", "rtmp://h/a/k", "--fast", "--realtime");
    expect(both.code).not.toBe(0);
    expect(both.stderr).toMatch(/cannot be used with/);
  });
});
