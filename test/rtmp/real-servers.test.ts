// The RTMP client against three real ingest servers and an RTMPS front:
// publish 10 s of H.264 + AAC (ffmpeg testsrc2 + sine, 2 s GOP) read from an
// FLV, then ffprobe what the server recorded and compare it, packet by
// packet, with the input: codecs, size, counts, timestamps, keyframes.
import { afterEach, describe, expect, it } from "vitest";
import { RtmpError } from "../../server/rtmp/rtmp-errors.js";
import {
  cachedTestFlv, ffprobeFrames, startFfmpegListen, startHttpStatusServer, startNginxRtmp, startNginxRtmps,
  startNodeMediaServer, type ProbeResult,
} from "../support/ingest.js";
import { publishFlv } from "../support/publish-flv.js";

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

/** The 10 s input, probed once. */
async function input(): Promise<{ path: string; probe: ProbeResult }> {
  const path = await cachedTestFlv({ seconds: 10, gop: 60 });
  return { path, probe: await ffprobeFrames(path) };
}

/** Everything that must match between what we sent and what arrived. */
function expectSameMedia(recorded: ProbeResult, sent: ProbeResult): void {
  expect(recorded.video?.codecName).toBe("h264");
  expect(recorded.audio?.codecName).toBe("aac");
  expect([recorded.video?.width, recorded.video?.height]).toEqual([640, 360]);
  expect(recorded.counts).toEqual(sent.counts);
  expect(sent.counts.video).toBe(300); // 10 s at 30 fps: the fixture is what we think
  for (const kind of ["video", "audio"] as const) {
    const got = recorded.packets.filter((p) => p.stream === kind);
    const want = sent.packets.filter((p) => p.stream === kind);
    for (let i = 0; i < want.length; i++) {
      expect(Math.abs(got[i]!.dtsMs - want[i]!.dtsMs), `${kind} packet ${i} dts`).toBeLessThanOrEqual(1);
      expect(Math.abs(got[i]!.ptsMs - want[i]!.ptsMs), `${kind} packet ${i} pts`).toBeLessThanOrEqual(1);
      expect(got[i]!.size, `${kind} packet ${i} size`).toBe(want[i]!.size);
    }
  }
  const keys = (r: ProbeResult): number[] => r.packets.filter((p) => p.stream === "video" && p.keyframe).map((p) => p.ptsMs);
  expect(keys(recorded)).toEqual(keys(sent));
  expect(keys(sent)).toHaveLength(5); // a keyframe every 2 s
}

describe("RtmpPublisher against real servers", () => {
  it("nginx-rtmp records exactly what was published", async () => {
    const { path, probe } = await input();
    const nginx = await startNginxRtmp();
    cleanups.push(() => nginx.dispose());
    const { acksReceived, ...sent } = await publishFlv(path, { url: `${nginx.rtmpUrl()}/nginx-key` });
    expect(sent).toEqual({ video: 300, audio: probe.counts.audio, keyframes: 5 });
    // It acknowledges what it receives, in the 16 KiB window we announce: the backlog measure works here.
    expect(acksReceived).toBeGreaterThan(10);
    expectSameMedia(await ffprobeFrames(await nginx.waitForRecording("nginx-key")), probe);
  });

  it("ffmpeg -listen receives exactly what was published", async () => {
    const { path, probe } = await input();
    const ffmpeg = await startFfmpegListen({ app: "live", key: "ffkey" });
    cleanups.push(() => ffmpeg.dispose());
    const { acksReceived } = await publishFlv(path, { url: ffmpeg.url });
    expect(acksReceived).toBeGreaterThan(10);
    expect(await ffmpeg.waitForExit(15_000)).toBe(0);
    expectSameMedia(await ffprobeFrames(ffmpeg.outPath), probe);
  });

  it("node-media-server records exactly what was published", async () => {
    const { path, probe } = await input();
    const nms = await startNodeMediaServer();
    cleanups.push(() => nms.dispose());
    const { acksReceived } = await publishFlv(path, { url: `${nms.rtmpUrl()}/nms-key` });
    expect(acksReceived).toBe(0); // Node-Media-Server sends none: the bridge falls back to its own queue
    expectSameMedia(await ffprobeFrames(await nms.waitForRecording("nms-key", { quietMs: 1500 })), probe);
  });

  it("RTMPS through nginx's TLS front, trusting the test CA", async () => {
    const { path, probe } = await input();
    const nginx = await startNginxRtmps();
    cleanups.push(() => nginx.dispose());
    await publishFlv(path, { url: `${nginx.rtmpUrl("live", "localhost")}/tls-key`, ca: nginx.caPem });
    expectSameMedia(await ffprobeFrames(await nginx.waitForRecording("tls-key")), probe);
  });

  it("RTMPS refuses a certificate for another host name", async () => {
    const nginx = await startNginxRtmps({ cert: "wrongHost" });
    cleanups.push(() => nginx.dispose());
    const { path } = await input();
    const err = await publishFlv(path, { url: `${nginx.rtmpUrl("live", "localhost")}/tls-key`, ca: nginx.caPem }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RtmpError);
    expect((err as RtmpError).code).toBe("RTMP_TLS_FAILED");
    expect((err as RtmpError).message).toMatch(/secure connection to localhost:\d+ failed/);
    expect((err as RtmpError).message).not.toContain("tls-key");
  });

  it("RTMPS refuses a certificate from an untrusted CA", async () => {
    const nginx = await startNginxRtmps();
    cleanups.push(() => nginx.dispose());
    const { path } = await input();
    const err = await publishFlv(path, { url: `${nginx.rtmpUrl("live", "localhost")}/tls-key` }).catch((e: unknown) => e);
    expect((err as RtmpError).code).toBe("RTMP_TLS_FAILED");
  });

  it("nginx-rtmp on_publish answering 403 gives the readable 'rejected the stream key' error", async () => {
    const auth = await startHttpStatusServer(403);
    cleanups.push(() => auth.close());
    const nginx = await startNginxRtmp({ onPublish: `${auth.url}/on_publish` });
    cleanups.push(() => nginx.dispose());
    const { path } = await input();
    const started = Date.now();
    const err = await publishFlv(path, { url: `${nginx.rtmpUrl()}/denied-key` }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RtmpError);
    expect((err as RtmpError).code).toBe("PUBLISH_REJECTED");
    expect((err as RtmpError).message).toContain("rejected the stream key");
    expect((err as RtmpError).message).not.toContain("denied-key");
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(auth.requests.map((r) => r.form.get("name"))).toEqual(["denied-key"]);
  });
});
