/**
 * The shared pacing loop (server/replay/pacer.ts) on fake timers, and the
 * shared wire messages (server/replay/wire-feed.ts): one pending timer for
 * any number of sessions, runs in time order, wake/remove/reschedule; and
 * each pass's messages decode to the file's frames with time shifted by
 * whole passes.
 */
import { readFile } from "node:fs/promises";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { decodeMediaFrame } from "../../protocol/wire.js";
import { replayMediaFromFlv, type ReplayMedia } from "../../server/replay/media.js";
import { Pacer, type Paced } from "../../server/replay/pacer.js";
import { WireFeed } from "../../server/replay/wire-feed.js";
import { cachedTestFlv } from "../support/ingest.js";

describe("Pacer", () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  /** A paced item that records when it ran and asks to run again `every` ms, `times` times. */
  function ticker(log: Array<[string, number]>, name: string, every: number, times: number): Paced {
    let left = times;
    return {
      run(until) {
        log.push([name, Date.now()]);
        expect(until).toBeGreaterThanOrEqual(Date.now());
        return --left > 0 ? Date.now() + every : undefined;
      },
    };
  }

  it("1,000 sessions cost one pending timer, and each runs at its time, in time order", () => {
    const pacer = new Pacer({ now: () => Date.now(), granularityMs: 0 });
    const log: Array<[string, number]> = [];
    const t0 = Date.now();
    for (let i = 0; i < 1000; i++) pacer.schedule(ticker(log, `s${i}`, 33, 3), t0 + 1 + (i % 33));
    expect(vi.getTimerCount()).toBe(1);
    vi.advanceTimersByTime(200);
    expect(log).toHaveLength(3000);
    for (let i = 1; i < log.length; i++) expect(log[i]![1]).toBeGreaterThanOrEqual(log[i - 1]![1]);
    // Session i runs at +1 + i % 33, then 33 and 66 ms later.
    const runs = log.filter(([name]) => name === "s40").map(([, t]) => t - t0);
    expect(runs).toEqual([8, 41, 74]);
    expect(vi.getTimerCount()).toBe(0); // all done: nothing left pending
    expect(pacer.size).toBe(0);
  });

  it("granularity: entries due within it run in the same wake-up", () => {
    const pacer = new Pacer({ now: () => Date.now(), granularityMs: 5 });
    const log: Array<[string, number]> = [];
    const t0 = Date.now();
    pacer.schedule(ticker(log, "a", 0, 1), t0 + 10);
    pacer.schedule(ticker(log, "b", 0, 1), t0 + 14);
    pacer.schedule(ticker(log, "c", 0, 1), t0 + 16);
    vi.advanceTimersByTime(10);
    expect(log.map(([n, t]) => [n, t - t0])).toEqual([["a", 10], ["b", 10]]);
    vi.advanceTimersByTime(10);
    expect(log.map(([n]) => n)).toEqual(["a", "b", "c"]);
  });

  it("wake runs at the next turn; schedule replaces an earlier time; remove forgets", () => {
    const pacer = new Pacer({ now: () => Date.now() });
    const log: Array<[string, number]> = [];
    const t0 = Date.now();
    const a = ticker(log, "a", 0, 1);
    const b = ticker(log, "b", 0, 1);
    const c = ticker(log, "c", 0, 1);
    pacer.schedule(a, t0 + 100);
    pacer.schedule(a, t0 + 50); // replaces +100
    pacer.schedule(b, t0 + 20);
    pacer.remove(b);
    pacer.wake(c);
    vi.advanceTimersByTime(0);
    expect(log.map(([n]) => n)).toEqual(["c"]);
    vi.advanceTimersByTime(200);
    expect(log.map(([n, t]) => [n, t - t0])).toEqual([["c", 0], ["a", 50]]);
  });

  it("an item that throws is reported and dropped; the others go on", () => {
    const errors: unknown[] = [];
    const pacer = new Pacer({ now: () => Date.now(), onError: (err) => errors.push(err) });
    const log: Array<[string, number]> = [];
    pacer.schedule({ run: () => { throw new Error("boom"); } }, Date.now() + 5);
    pacer.schedule(ticker(log, "ok", 10, 2), Date.now() + 5);
    vi.advanceTimersByTime(50);
    expect(errors).toEqual([new Error("boom")]);
    expect(log.map(([n]) => n)).toEqual(["ok", "ok"]);
  });
});

describe("WireFeed", () => {
  let media: ReplayMedia;
  beforeEach(async () => {
    media = replayMediaFromFlv(new Uint8Array(await readFile(await cachedTestFlv({ seconds: 3, gop: 60 }))), "3s.flv");
  });

  it("pass 0 decodes to the media's frames: track, key flag, timestamps, payload", () => {
    const feed = new WireFeed(media);
    const messages = feed.acquire(0);
    expect(messages).toHaveLength(media.frames.length);
    messages.forEach((m, i) => {
      const f = media.frames[i]!;
      const d = decodeMediaFrame(m);
      expect([d.track, d.keyframe, d.timestampUs, d.compositionUs], `frame ${i}`).toEqual([f.track === "video" ? 0 : 1, f.keyframe, f.dtsUs, f.ctsUs]);
      expect(Buffer.compare(d.payload, f.data), `frame ${i} payload`).toBe(0);
    });
    expect(feed.passBytes).toBe(media.payloadBytes + 16 * media.frames.length);
  });

  it("pass k is pass 0 shifted by k passes; a pass nobody holds is freed (pass 0 never)", () => {
    const feed = new WireFeed(media);
    const p2 = feed.acquire(2);
    const again = feed.acquire(2);
    expect(again).toBe(p2); // shared, not rebuilt
    expect(feed.builtPasses).toBe(2);
    p2.forEach((m, i) => expect(decodeMediaFrame(m).timestampUs).toBe(media.frames[i]!.dtsUs + 2 * media.durationUs));
    feed.release(2);
    expect(feed.builtPasses).toBe(2);
    feed.release(2);
    expect(feed.builtPasses).toBe(1);
    feed.acquire(0);
    feed.release(0);
    expect(feed.builtPasses).toBe(1);
    expect(() => feed.release(5)).toThrow(TypeError);
  });
});
