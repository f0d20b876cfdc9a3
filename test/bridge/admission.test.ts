// The ledger behind a bridge's limits, and a worker's way of asking its
// primary for it (server/bridge/admission.ts). The process group itself is
// tested in test/resilience/workers-limits.test.ts.
import { describe, expect, it } from "vitest";
import { EventEmitter } from "node:events";
import { ADMISSION_UNAVAILABLE, AdmissionLedger, answerAdmission, LocalAdmission, RemoteAdmission, type AdmissionRequest, type Counter } from "../../server/bridge/admission.js";

const session = (ip: string): Counter[] => [
  { key: "sessions", limit: 3, refusal: "SESSION_LIMIT" },
  { key: `sessions:${ip}`, limit: 2, refusal: "SESSION_LIMIT_PER_IP" },
];

describe("AdmissionLedger", () => {
  it("takes every counter of a claim or none, refusing with the first full one and its limit", () => {
    const ledger = new AdmissionLedger();
    expect(ledger.take(session("a"))).toHaveProperty("id");
    expect(ledger.take(session("a"))).toHaveProperty("id");
    expect(ledger.take(session("a"))).toEqual({ refusal: "SESSION_LIMIT_PER_IP", limit: 2 });
    // The refused claim took nothing: the total is still 2.
    expect(ledger.count("sessions")).toBe(2);
    expect(ledger.take(session("b"))).toHaveProperty("id");
    expect(ledger.take(session("c"))).toEqual({ refusal: "SESSION_LIMIT", limit: 3 });
    expect(ledger.count("sessions:c")).toBe(0);
  });

  it("a peek counter is checked, not taken", () => {
    const ledger = new AdmissionLedger();
    const pending: Counter[] = [{ key: "pending", limit: 10, refusal: "TOO_MANY_PENDING" }, { key: "sessions", limit: 1, refusal: "SESSION_LIMIT", peek: true }];
    expect(ledger.take(pending)).toHaveProperty("id");
    expect(ledger.count("sessions")).toBe(0);
    ledger.take([{ key: "sessions", limit: 1, refusal: "SESSION_LIMIT" }]);
    expect(ledger.take(pending)).toEqual({ refusal: "SESSION_LIMIT", limit: 1 });
    expect(ledger.count("pending")).toBe(1);
  });

  it("give returns what a claim took, once; an unknown id or another owner's claim is a no-op", () => {
    const ledger = new AdmissionLedger();
    const r = ledger.take(session("a"), 7) as { id: number };
    ledger.give(r.id, 8);
    expect(ledger.count("sessions")).toBe(1);
    ledger.give(r.id, 7);
    ledger.give(r.id, 7);
    ledger.give(12345);
    expect(ledger.count("sessions")).toBe(0);
    expect(ledger.count("sessions:a")).toBe(0);
    expect(ledger.claims).toBe(0);
  });

  it("giveAll returns every claim of one owner (a worker that died), and only its", () => {
    const ledger = new AdmissionLedger();
    ledger.take(session("a"), 1);
    ledger.take(session("a"), 1);
    ledger.take(session("b"), 2);
    expect(ledger.giveAll(1)).toBe(2);
    expect(ledger.count("sessions")).toBe(1);
    expect(ledger.count("sessions:a")).toBe(0);
    expect(ledger.count("sessions:b")).toBe(1);
  });

  it("once: true the first time, false while remembered, true again after it expires", () => {
    const ledger = new AdmissionLedger();
    expect(ledger.once("jti-1", 2000, 1000)).toBe(true);
    expect(ledger.once("jti-1", 2000, 1500)).toBe(false);
    expect(ledger.once("jti-2", 2000, 1500)).toBe(true);
    expect(ledger.once("jti-1", 3000, 2000)).toBe(true);
  });
});

describe("LocalAdmission", () => {
  it("a ticket gives its claim back once, however often released", async () => {
    const admission = new LocalAdmission();
    const a = await admission.take(session("a"));
    const b = await admission.take(session("a"));
    expect(await admission.take(session("a"))).toEqual({ ok: false, refusal: "SESSION_LIMIT_PER_IP", limit: 2 });
    if (!a.ok || !b.ok) throw new Error("not admitted");
    a.ticket.release();
    a.ticket.release();
    expect(admission.ledger.count("sessions:a")).toBe(1);
    expect((await admission.take(session("a"))).ok).toBe(true);
  });
});

/** A worker's IPC channel wired to a primary's ledger, with a switch to stop answering. */
function channelTo(ledger: AdmissionLedger, owner = 1): { channel: EventEmitter & { send(m: AdmissionRequest): void; connected: boolean }; sent: AdmissionRequest[]; mute: (on: boolean) => void } {
  const sent: AdmissionRequest[] = [];
  let muted = false;
  const held: AdmissionRequest[] = [];
  const channel = Object.assign(new EventEmitter(), {
    connected: true,
    send(m: AdmissionRequest) {
      sent.push(m);
      if (muted) held.push(m);
      else setImmediate(() => answerAdmission(ledger, owner, m, (answer) => channel.emit("message", answer)));
    },
  });
  return {
    channel, sent,
    mute: (on: boolean) => {
      muted = on;
      if (!on) for (const m of held.splice(0)) answerAdmission(ledger, owner, m, (answer) => channel.emit("message", answer));
    },
  };
}

describe("RemoteAdmission (a worker asking its primary)", () => {
  it("claims and releases go to the primary's ledger; refusals come back with their limit", async () => {
    const ledger = new AdmissionLedger();
    const { channel } = channelTo(ledger);
    const remote = new RemoteAdmission(channel);
    const a = await remote.take(session("a"));
    expect(a.ok).toBe(true);
    expect(ledger.count("sessions")).toBe(1);
    await remote.take(session("a"));
    expect(await remote.take(session("a"))).toEqual({ ok: false, refusal: "SESSION_LIMIT_PER_IP", limit: 2 });
    if (a.ok) a.ticket.release();
    await new Promise((r) => setImmediate(r));
    expect(ledger.count("sessions:a")).toBe(1);
    expect(await remote.once("jti", Date.now() + 60_000)).toBe(true);
    expect(await remote.once("jti", Date.now() + 60_000)).toBe(false);
  });

  it("fails closed: no answer in time is a refusal (ADMISSION_UNAVAILABLE), and a claim granted too late is given back", async () => {
    const ledger = new AdmissionLedger();
    const { channel, mute } = channelTo(ledger);
    const remote = new RemoteAdmission(channel, 50);
    mute(true);
    expect(await remote.take(session("a"))).toEqual({ ok: false, refusal: ADMISSION_UNAVAILABLE, limit: 0 });
    await expect(remote.once("jti", Date.now() + 60_000)).rejects.toMatchObject({ code: ADMISSION_UNAVAILABLE });
    // The primary answers at last: the claim it granted is handed back, not leaked.
    mute(false);
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
    expect(ledger.count("sessions")).toBe(0);
    expect(ledger.claims).toBe(0);
  });

  it("without a channel (the primary is gone) every claim is refused at once", async () => {
    const { channel } = channelTo(new AdmissionLedger());
    channel.connected = false;
    const remote = new RemoteAdmission(channel, 10_000);
    const started = Date.now();
    expect(await remote.take(session("a"))).toMatchObject({ ok: false, refusal: ADMISSION_UNAVAILABLE });
    expect(Date.now() - started).toBeLessThan(1000);
  });
});
