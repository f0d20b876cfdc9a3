/**
 * Admission: the counts behind a bridge's limits (sessions in all and per
 * address, per token user, WebSockets not started yet, downloads per
 * address, single-use token ids), kept in one place per bridge.
 *
 * One process keeps them itself (LocalAdmission). With `golive serve
 * --workers N` every worker asks the primary, which holds the one ledger of
 * the process group (server/cluster.ts): a limit is the bridge's, however
 * many processes serve it, and a client cannot hold N times as much by
 * landing on N workers.
 *
 * A claim is a list of counters, each with its limit: taken only if every
 * counter is under its limit (all or nothing), else refused with the first
 * one that is full. A `peek` counter is checked, not taken. What is taken is
 * given back with the ticket's release() (idempotent). Claims carry their
 * limits, so the ledger needs no configuration of its own.
 */
import { CloseCode, WireError } from "../../protocol/wire.js";

export interface Counter {
  /** What is counted: "sessions", "sessions:203.0.113.7", "user:sub:alice", ... */
  key: string;
  /** Refused when the count is already this high. */
  limit: number;
  /** The refusal's code when this counter is full (e.g. "SESSION_LIMIT_PER_IP"). */
  refusal: string;
  /** Checked, not taken. */
  peek?: boolean;
}

export interface Ticket {
  /** Gives back what the claim took; again is a no-op. */
  release(): void;
}

export type Admitted = { ok: true; ticket: Ticket } | { ok: false; refusal: string; limit: number };

export interface Admission {
  /** Takes every counter of the claim, or none (refused with the first full one). */
  take(counters: readonly Counter[]): Promise<Admitted>;
  /** A single-use id (a token's `jti`): true the first time, false while remembered (until `untilMs`). */
  once(id: string, untilMs: number): Promise<boolean>;
}

/** Counters that were taken, per claim, and who holds them (a worker). */
export class AdmissionLedger {
  readonly #counts = new Map<string, number>();
  readonly #claims = new Map<number, { keys: string[]; owner: number | undefined }>();
  readonly #once = new Map<string, number>();
  #nextId = 1;

  /** A claim's id, or the first counter that is full. */
  take(counters: readonly Counter[], owner?: number): { id: number } | { refusal: string; limit: number } {
    for (const c of counters) {
      if ((this.#counts.get(c.key) ?? 0) >= c.limit) return { refusal: c.refusal, limit: c.limit };
    }
    const keys = counters.filter((c) => !c.peek).map((c) => c.key);
    for (const key of keys) this.#counts.set(key, (this.#counts.get(key) ?? 0) + 1);
    const id = this.#nextId++;
    this.#claims.set(id, { keys, owner });
    return { id };
  }

  /** Gives a claim back (an unknown or released id, or one another owner holds, is a no-op). */
  give(id: number, owner?: number): void {
    const claim = this.#claims.get(id);
    if (!claim || (owner !== undefined && claim.owner !== owner)) return;
    this.#claims.delete(id);
    for (const key of claim.keys) {
      const n = (this.#counts.get(key) ?? 1) - 1;
      if (n <= 0) this.#counts.delete(key);
      else this.#counts.set(key, n);
    }
  }

  /** Gives back every claim an owner holds (a worker that died: its sessions are gone with it). */
  giveAll(owner: number): number {
    let n = 0;
    for (const [id, claim] of this.#claims) {
      if (claim.owner !== owner) continue;
      this.give(id);
      n++;
    }
    return n;
  }

  once(id: string, untilMs: number, now = Date.now()): boolean {
    for (const [k, until] of this.#once) if (until <= now) this.#once.delete(k);
    if (this.#once.has(id)) return false;
    this.#once.set(id, untilMs);
    return true;
  }

  /** The current count of a key (0 when none). */
  count(key: string): number {
    return this.#counts.get(key) ?? 0;
  }

  /** Claims held, in all. */
  get claims(): number {
    return this.#claims.size;
  }
}

/** One process's admission: its own ledger. */
export class LocalAdmission implements Admission {
  readonly ledger = new AdmissionLedger();

  take(counters: readonly Counter[]): Promise<Admitted> {
    const r = this.ledger.take(counters);
    if ("refusal" in r) return Promise.resolve({ ok: false, ...r });
    let held = true;
    return Promise.resolve({
      ok: true,
      ticket: {
        release: () => {
          if (!held) return;
          held = false;
          this.ledger.give(r.id);
        },
      },
    });
  }

  once(id: string, untilMs: number): Promise<boolean> {
    return Promise.resolve(this.ledger.once(id, untilMs));
  }
}

// --- a worker asking its primary ---------------------------------------------

/** Messages of the admission exchange over the cluster's IPC channel. */
export type AdmissionRequest =
  | { type: "golive:take"; id: number; counters: Counter[] }
  | { type: "golive:give"; claim: number }
  | { type: "golive:once"; id: number; key: string; untilMs: number };
export type AdmissionAnswer =
  | { type: "golive:taken"; id: number; claim?: number; refusal?: string; limit?: number }
  | { type: "golive:onced"; id: number; first: boolean };

/** The channel to the primary: a worker's `process`. */
export interface AdmissionChannel {
  send(message: AdmissionRequest): void;
  on(event: "message", listener: (message: unknown) => void): unknown;
  readonly connected: boolean;
}

/** Answered when the primary cannot be asked (gone, or no answer in time): refused, never let in unchecked. */
export const ADMISSION_UNAVAILABLE = "ADMISSION_UNAVAILABLE";

/**
 * A worker's admission: each claim is asked of the primary's ledger. Fails
 * closed: without an answer within `timeoutMs` the claim is refused (and
 * given back if the answer comes later).
 */
export class RemoteAdmission implements Admission {
  readonly #channel: AdmissionChannel;
  readonly #timeoutMs: number;
  readonly #waiting = new Map<number, (answer: AdmissionAnswer | undefined) => void>();
  #nextId = 1;

  constructor(channel: AdmissionChannel, timeoutMs = 5000) {
    this.#channel = channel;
    this.#timeoutMs = timeoutMs;
    channel.on("message", (m) => {
      const answer = m as AdmissionAnswer;
      if (answer?.type !== "golive:taken" && answer?.type !== "golive:onced") return;
      const resolve = this.#waiting.get(answer.id);
      if (resolve) {
        this.#waiting.delete(answer.id);
        resolve(answer);
      } else if (answer.type === "golive:taken" && answer.claim !== undefined) {
        // Too late: the claim was refused here, give it back.
        this.#send({ type: "golive:give", claim: answer.claim });
      }
    });
  }

  async take(counters: readonly Counter[]): Promise<Admitted> {
    const id = this.#nextId++;
    const answer = await this.#ask(id, { type: "golive:take", id, counters: [...counters] });
    if (answer?.type !== "golive:taken") return { ok: false, refusal: ADMISSION_UNAVAILABLE, limit: 0 };
    if (answer.claim === undefined) return { ok: false, refusal: answer.refusal ?? ADMISSION_UNAVAILABLE, limit: answer.limit ?? 0 };
    const claim = answer.claim;
    let held = true;
    return {
      ok: true,
      ticket: {
        release: () => {
          if (!held) return;
          held = false;
          this.#send({ type: "golive:give", claim });
        },
      },
    };
  }

  async once(key: string, untilMs: number): Promise<boolean> {
    const id = this.#nextId++;
    const answer = await this.#ask(id, { type: "golive:once", id, key, untilMs });
    if (answer?.type !== "golive:onced") throw new WireError(ADMISSION_UNAVAILABLE, "this bridge cannot check the token now: try again", CloseCode.InternalError);
    return answer.first;
  }

  #ask(id: number, request: AdmissionRequest): Promise<AdmissionAnswer | undefined> {
    if (!this.#channel.connected) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#waiting.delete(id);
        resolve(undefined);
      }, this.#timeoutMs);
      timer.unref();
      this.#waiting.set(id, (answer) => {
        clearTimeout(timer);
        resolve(answer);
      });
      if (!this.#send(request)) {
        this.#waiting.delete(id);
        clearTimeout(timer);
        resolve(undefined);
      }
    });
  }

  #send(message: AdmissionRequest): boolean {
    if (!this.#channel.connected) return false;
    try {
      this.#channel.send(message);
      return true;
    } catch {
      return false;
    }
  }
}

/**
 * The primary's side: answers one worker's requests from the group's
 * ledger. `reply` sends to that worker; `owner` names it, so that its
 * claims can be given back at once if it dies (ledger.giveAll).
 */
export function answerAdmission(ledger: AdmissionLedger, owner: number, message: unknown, reply: (answer: AdmissionAnswer) => void): boolean {
  const m = message as AdmissionRequest;
  switch (m?.type) {
    case "golive:take": {
      if (!Array.isArray(m.counters)) return true;
      const r = ledger.take(m.counters, owner);
      reply("id" in r ? { type: "golive:taken", id: m.id, claim: r.id } : { type: "golive:taken", id: m.id, refusal: r.refusal, limit: r.limit });
      return true;
    }
    case "golive:give":
      ledger.give(m.claim, owner);
      return true;
    case "golive:once":
      reply({ type: "golive:onced", id: m.id, first: ledger.once(m.key, m.untilMs) });
      return true;
    default:
      return false;
  }
}
