// The bitrate advisor against a simulated link: an encoder that follows the
// advice (or does not), a bottleneck of a given capacity with a FIFO in
// front of it, measured the way the bridge measures (backlog in media ms,
// delivery rate, link rate only while the link is the bottleneck).
import { describe, expect, it } from "vitest";
import { BitrateAdvisor, type AdvisorDestination } from "../../server/bridge/bitrate-advisor.js";

const AUDIO = 128_000;
const STEP_MS = 50;
const TICK_MS = 1000;

interface Run {
  /** Advised target after each tick, with its time (s). */
  targets: Array<{ s: number; target: number }>;
  /** Encoder's video bitrate after each tick. */
  sent: number[];
  /** Backlog (ms) after each tick. */
  backlogs: number[];
}

interface Sim {
  advisor: BitrateAdvisor;
  /** Capacity of the link at time t (s), bits/s. */
  capacity: (s: number) => number;
  seconds: number;
  /** The encoder follows the advice (default true); otherwise it keeps the base bitrate. */
  follows?: boolean;
  /** State of the destination at time t (default live). */
  state?: (s: number) => AdvisorDestination["state"];
}

function simulate({ advisor, capacity, seconds, follows = true, state = () => "live" }: Sim): Run {
  let video = advisor.ceiling;
  let queued = 0; // bytes in front of the bottleneck
  const samples: Array<{ t: number; delivered: number; busy: boolean }> = [];
  let delivered = 0;
  const run: Run = { targets: [], sent: [], backlogs: [] };
  for (let t = 0; t < seconds * 1000; t += STEP_MS) {
    const s = t / 1000;
    const live = state(s) === "live";
    if (live) {
      queued += ((video + AUDIO) / 8) * (STEP_MS / 1000);
      const out = Math.min(queued, (capacity(s) / 8) * (STEP_MS / 1000));
      queued -= out;
      delivered += out;
    } else {
      queued = 0;
    }
    samples.push({ t, delivered, busy: queued > 32 * 1024 });
    while (samples.length > 2 && t - samples[0]!.t > 2000) samples.shift();
    if ((t + STEP_MS) % TICK_MS !== 0) continue;
    const backlogMs = (queued * 8 * 1000) / (video + AUDIO);
    let busyBytes = 0;
    let busyMs = 0;
    for (let i = 1; i < samples.length; i++) {
      if (!samples[i - 1]!.busy || !samples[i]!.busy) continue;
      busyBytes += samples[i]!.delivered - samples[i - 1]!.delivered;
      busyMs += samples[i]!.t - samples[i - 1]!.t;
    }
    const span = samples.at(-1)!.t - samples[0]!.t;
    const advice = advisor.observe({
      now: t,
      destinations: [{
        state: state(s),
        backlogMs: live ? backlogMs : 0,
        deliveryBitrate: span >= 500 ? ((samples.at(-1)!.delivered - samples[0]!.delivered) * 8 * 1000) / span : undefined,
        linkBitrate: busyMs >= 500 ? (busyBytes * 8 * 1000) / busyMs : undefined,
      }],
      audioBitrate: AUDIO,
      videoInBitrate: video,
    });
    if (advice && follows) video = advice.targetBitrate;
    run.targets.push({ s: (t + STEP_MS) / 1000, target: advisor.target });
    run.sent.push(video);
    run.backlogs.push(live ? backlogMs : 0);
  }
  return run;
}

const after = (run: Run, s: number): number[] => run.targets.filter((x) => x.s > s).map((x) => x.target);

describe("bitrate advisor", () => {
  it("2.5 Mbit/s into a 1 Mbit/s link: the target settles under the link (less audio) within 10 s and stays there for 10 minutes", () => {
    const advisor = new BitrateAdvisor({ baseBitrate: 2_500_000 });
    const run = simulate({ advisor, capacity: () => 1_000_000, seconds: 600 });
    const settled = after(run, 10);
    // The video target never reaches the link's rate...
    expect(Math.max(...settled)).toBeLessThan(1_000_000);
    // ...and with the audio it is under the link nearly all the time: only a
    // probe (5 % steps, once the measured capacity is 5 minutes old) goes past it, briefly.
    const over = settled.filter((t) => t + AUDIO > 1_000_000).length / settled.length;
    expect(over).toBeLessThan(0.05);
    // Not starved either: never below 60 % of what the link can take.
    expect(Math.min(...settled)).toBeGreaterThan(0.6 * (1_000_000 - AUDIO));
    // And the backlog the probes cause stays short.
    expect(Math.max(...run.backlogs.slice(20))).toBeLessThan(1500);
  });

  it("a link that recovers: the target climbs back to the configured bitrate, slowly", () => {
    const advisor = new BitrateAdvisor({ baseBitrate: 2_500_000 });
    const run = simulate({ advisor, capacity: (s) => (s < 60 ? 1_000_000 : 10_000_000), seconds: 900 });
    const at = (s: number): number => run.targets.find((x) => x.s >= s)!.target;
    expect(at(59)).toBeLessThan(1_000_000);
    // No jump when the link gets faster: the raises wait for calm, and go in steps...
    expect(at(70)).toBeLessThan(1_000_000);
    // ...the measured capacity holds them for 5 minutes; then 5 % per 10 s
    // of calm, back to the configured bitrate.
    expect(at(300)).toBeLessThan(1_000_000);
    expect(at(900)).toBe(2_500_000);
    const raises = run.targets.filter((x, i) => i > 0 && x.target > run.targets[i - 1]!.target);
    for (let i = 1; i < raises.length; i++) expect(raises[i]!.s - raises[i - 1]!.s).toBeGreaterThanOrEqual(10);
  });

  it("a reconnect is not calm: no raise while a destination reconnects, and the calm clock starts over after it", () => {
    const advisor = new BitrateAdvisor({ baseBitrate: 2_500_000, calmMs: 5000, probeAfterMs: 1000 });
    const run = simulate({
      advisor,
      capacity: (s) => (s < 20 ? 1_000_000 : 10_000_000),
      state: (s) => (s >= 20 && s < 50 ? "reconnecting" : "live"),
      seconds: 70,
    });
    const at = (s: number): number => run.targets.find((x) => x.s >= s)!.target;
    expect(at(49)).toBe(at(20)); // reconnecting for 30 s: nothing raised
    expect(at(54)).toBe(at(20)); // live again, but not yet 5 s of calm
    expect(at(70)).toBeGreaterThan(at(20));
  });

  it("a client that does not follow: the target holds at what the link carries, it does not spiral to the floor", () => {
    const advisor = new BitrateAdvisor({ baseBitrate: 2_500_000 });
    const run = simulate({ advisor, capacity: () => 1_000_000, seconds: 120, follows: false });
    const settled = after(run, 10);
    expect(Math.max(...settled)).toBeLessThan(1_000_000 - AUDIO);
    expect(Math.min(...settled)).toBeGreaterThan(0.6 * (1_000_000 - AUDIO));
  });

  it("floor and ceiling bound every target; a ceiling above the client's bitrate is the client's", () => {
    const floor = 900_000;
    const advisor = new BitrateAdvisor({ baseBitrate: 2_500_000, floor, ceiling: 2_000_000 });
    expect(advisor.ceiling).toBe(2_000_000);
    const run = simulate({ advisor, capacity: () => 500_000, seconds: 60 });
    expect(Math.min(...run.targets.map((x) => x.target))).toBe(floor);
    expect(Math.max(...run.targets.map((x) => x.target))).toBeLessThanOrEqual(2_000_000);
    expect(new BitrateAdvisor({ baseBitrate: 1_000_000, ceiling: 5_000_000 }).ceiling).toBe(1_000_000);
    expect(new BitrateAdvisor({ baseBitrate: 1_000_000 }).floor).toBe(150_000);
  });

  it("congestion without a measure of the link (the sender ran dry): 30 % steps, at most one a second", () => {
    const advisor = new BitrateAdvisor({ baseBitrate: 2_000_000 });
    const d = (backlogMs: number): AdvisorDestination[] => [{ state: "live", backlogMs }];
    expect(advisor.observe({ now: 0, destinations: d(500), audioBitrate: AUDIO })).toEqual({ targetBitrate: 1_400_000, reason: "congestion" });
    expect(advisor.observe({ now: 500, destinations: d(500), audioBitrate: AUDIO })).toBeUndefined();
    expect(advisor.observe({ now: 1000, destinations: d(500), audioBitrate: AUDIO })).toEqual({ targetBitrate: 980_000, reason: "congestion" });
    // Under the threshold: nothing, until calm lasts.
    expect(advisor.observe({ now: 2000, destinations: d(100), audioBitrate: AUDIO })).toBeUndefined();
  });
});
