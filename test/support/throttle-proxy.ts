/**
 * A bandwidth-limiting TCP proxy on 127.0.0.1 for tests: a slow or stalled
 * network link between the bridge and an ingest, on demand.
 *
 * Every accepted connection gets its own connection to the target. Bytes
 * from the target go back as they come; bytes to the target (the publisher's
 * direction) pass through a token bucket of `bytesPerSecond`, and can be
 * paused and resumed. The proxy holds at most `maxBufferedBytes` per
 * connection in user space: past that it stops reading, so the publisher's
 * socket backs up through TCP flow control exactly as behind a slow link.
 *
 * On loopback the kernel still buffers a lot before that shows in the
 * publisher's own queue (Linux sizes the send buffer from the 64 KiB MSS of
 * `lo`: about 4 MB), so tests that want a backlog quickly send faster than the
 * limit by a wide margin.
 *
 * The bucket releases bytes as a packetised link does: in segments of at
 * most `mss` bytes, each a write of its own, and only whole segments unless
 * a connection has less than one queued (then what it has goes as one short
 * segment). Segments due in the same tick go out one per turn of the event
 * loop, taking turns between connections, so a reader on the other side sees
 * them apart instead of one burst. With no limit, bytes pass as they come.
 *
 * `cut()` destroys every connection at once (both legs), as a link that dies.
 * `silence()` makes the open connections swallow everything both ways with
 * no FIN and no RST, as the path to a host that vanished; new connections
 * pass as before.
 *
 * A reset (RST) from the client reaches the target at once, as across a
 * real path, even while the proxy is not reading that client: a socket that
 * is not read is not polled either, so the proxy probes it with an empty
 * write (which fails on a reset connection) every `PROBE_MS`.
 */
import net from "node:net";
import { LOOPBACK } from "../../server/testing/ports.js";

export interface ThrottleProxyOptions {
  /** Where to connect: 127.0.0.1 and this port. */
  targetPort: number;
  /** Target host (default 127.0.0.1). */
  targetHost?: string;
  /** Client -> target rate limit, bytes per second (default Infinity: no limit). */
  bytesPerSecond?: number;
  /** User-space buffer per connection before the proxy stops reading the client (default 64 KiB). */
  maxBufferedBytes?: number;
  /** Largest segment the rate-limited link releases at once, bytes (default 1460: Ethernet's TCP MSS). */
  mss?: number;
}

/** One proxied connection: the client's socket and ours to the target. */
interface Leg {
  readonly client: net.Socket;
  readonly upstream: net.Socket;
  /** Bytes read from the client, not yet written to the target. */
  readonly queue: Buffer[];
  queued: number;
  /** The client ended its side: end ours to the target once the queue is empty. */
  clientEnded: boolean;
}

/** Timer period of the token bucket, ms. */
const TICK_MS = 5;
/** How often a client the proxy is not reading is probed for a reset, ms. */
const PROBE_MS = 50;
const EMPTY = Buffer.alloc(0);

export class ThrottleProxy {
  readonly server: net.Server;
  /** The proxy's port on 127.0.0.1. */
  readonly port: number;
  /** Bytes forwarded client -> target, over every connection. */
  bytesForwarded = 0;
  /** Connections accepted so far. */
  accepted = 0;
  readonly #legs = new Set<Leg>();
  /** Connections silenced: neither read nor written, kept until close(). */
  readonly #silent = new Set<Leg>();
  readonly #opts: Required<Omit<ThrottleProxyOptions, "bytesPerSecond">>;
  #rate: number;
  #paused = false;
  #tokens = 0;
  /** A release of further segments is scheduled for the next turn of the event loop. */
  #releasing = false;
  #lastTick = performance.now();
  #lastProbe = performance.now();
  readonly #timer: NodeJS.Timeout;

  private constructor(server: net.Server, port: number, options: ThrottleProxyOptions) {
    this.server = server;
    this.port = port;
    this.#opts = {
      targetPort: options.targetPort,
      targetHost: options.targetHost ?? LOOPBACK,
      maxBufferedBytes: options.maxBufferedBytes ?? 64 * 1024,
      mss: checkMss(options.mss ?? 1460),
    };
    this.#rate = checkRate(options.bytesPerSecond ?? Number.POSITIVE_INFINITY);
    this.#timer = setInterval(() => this.#tick(), TICK_MS);
    this.#timer.unref();
    server.on("connection", (socket) => this.#accept(socket));
  }

  /** Starts a proxy on 127.0.0.1 and a free port. */
  static async start(options: ThrottleProxyOptions): Promise<ThrottleProxy> {
    // Refuse bad options before listening: the constructor would leave the listener open.
    checkRate(options.bytesPerSecond ?? Number.POSITIVE_INFINITY);
    checkMss(options.mss ?? 1460);
    // Half-open both ways: the publisher's FIN (after FCUnpublish) must reach
    // the target only after the bytes still queued here.
    const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true });
    const port = await new Promise<number>((resolve, reject) => {
      server.once("error", reject);
      server.listen({ host: LOOPBACK, port: 0 }, () => {
        const address = server.address();
        if (address === null || typeof address === "string") reject(new Error("throttle proxy: no address"));
        else resolve(address.port);
      });
    });
    return new ThrottleProxy(server, port, options);
  }

  /** The current client -> target limit, bytes per second. */
  get bytesPerSecond(): number {
    return this.#rate;
  }

  /** Changes the limit (Infinity lifts it). */
  setRate(bytesPerSecond: number): void {
    this.#rate = checkRate(bytesPerSecond);
    this.#tokens = 0;
  }

  /** Forwards nothing client -> target until resume(); the client backs up. */
  pause(): void {
    this.#paused = true;
  }

  /** Forwards again at the current rate. */
  resume(): void {
    this.#paused = false;
    this.#tokens = 0;
    this.#lastTick = performance.now();
  }

  get paused(): boolean {
    return this.#paused;
  }

  /** Connections open now. */
  get openConnections(): number {
    return this.#legs.size;
  }

  /** Bytes held in the proxy (read from clients, not yet forwarded). */
  get bufferedBytes(): number {
    let n = 0;
    for (const leg of this.#legs) n += leg.queued;
    return n;
  }

  /** Destroys every open connection, both legs, at once: the link died. */
  cut(): void {
    for (const leg of [...this.#legs]) {
      leg.client.destroy();
      leg.upstream.destroy();
      this.#legs.delete(leg);
    }
  }

  /**
   * The connections open now go silent both ways: nothing more is read or
   * forwarded, nothing is closed, so neither end hears of it (no FIN, no
   * RST), as with a host gone from the path. New connections pass.
   */
  silence(): void {
    for (const leg of [...this.#legs]) {
      this.#legs.delete(leg);
      this.#silent.add(leg);
      for (const s of [leg.client, leg.upstream]) {
        s.removeAllListeners("data");
        s.removeAllListeners("end");
        s.removeAllListeners("close");
        s.pause();
      }
    }
  }

  /** Cuts every connection and stops listening. */
  async close(): Promise<void> {
    clearInterval(this.#timer);
    this.cut();
    for (const leg of this.#silent) {
      leg.client.destroy();
      leg.upstream.destroy();
    }
    this.#silent.clear();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  #accept(client: net.Socket): void {
    this.accepted++;
    client.setNoDelay(true);
    const upstream = net.connect({ host: this.#opts.targetHost, port: this.#opts.targetPort, allowHalfOpen: true, noDelay: true });
    const leg: Leg = { client, upstream, queue: [], queued: 0, clientEnded: false };
    this.#legs.add(leg);
    const drop = (): void => {
      this.#legs.delete(leg);
      client.destroy();
      upstream.destroy();
    };
    const unthrottled = (): number => (this.#paused ? 0 : this.#rate === Number.POSITIVE_INFINITY ? Number.POSITIVE_INFINITY : 0);
    client.on("data", (chunk: Buffer) => {
      leg.queue.push(chunk);
      leg.queued += chunk.length;
      if (leg.queued >= this.#opts.maxBufferedBytes) client.pause();
      this.#forward(leg, unthrottled());
    });
    client.on("end", () => {
      leg.clientEnded = true;
      this.#forward(leg, unthrottled());
    });
    // Target -> client: unthrottled.
    upstream.on("data", (chunk: Buffer) => {
      if (!client.destroyed) client.write(chunk);
    });
    upstream.on("end", () => client.end());
    client.on("error", drop);
    upstream.on("error", drop);
    // A client gone without ending (destroyed, reset) takes the link down;
    // one that ended cleanly still gets what it queued delivered.
    client.on("close", () => {
      if (!leg.clientEnded) drop();
      else if (upstream.destroyed) this.#legs.delete(leg);
    });
    upstream.on("close", () => {
      if (!client.destroyed) client.end();
      if (client.destroyed) this.#legs.delete(leg);
      else client.once("close", () => this.#legs.delete(leg));
    });
    client.resume();
  }

  /** Writes up to `budget` bytes of one connection's queue as it was read (the unlimited path). */
  #forward(leg: Leg, budget: number): number {
    let sent = 0;
    while (leg.queue.length > 0 && sent < budget) {
      const head = leg.queue[0]!;
      const take = Math.min(head.length, budget - sent);
      if (take === head.length) leg.queue.shift();
      else leg.queue[0] = head.subarray(take);
      if (!leg.upstream.destroyed) leg.upstream.write(take === head.length ? head : head.subarray(0, take));
      leg.queued -= take;
      sent += take;
    }
    this.bytesForwarded += sent;
    this.#settle(leg);
    return sent;
  }

  /** Writes the first `size` bytes of one connection's queue as one segment. */
  #writeSegment(leg: Leg, size: number): void {
    const parts: Buffer[] = [];
    let left = size;
    while (left > 0) {
      const head = leg.queue[0]!;
      if (head.length <= left) {
        parts.push(head);
        leg.queue.shift();
        left -= head.length;
      } else {
        parts.push(head.subarray(0, left));
        leg.queue[0] = head.subarray(left);
        left = 0;
      }
    }
    if (!leg.upstream.destroyed) leg.upstream.write(parts.length === 1 ? parts[0]! : Buffer.concat(parts, size));
    leg.queued -= size;
    this.bytesForwarded += size;
    this.#settle(leg);
  }

  /** After bytes left a connection's queue: read the client again below half the buffer; pass its FIN on once empty. */
  #settle(leg: Leg): void {
    if (leg.queued < this.#opts.maxBufferedBytes / 2 && leg.client.isPaused() && !leg.client.destroyed) leg.client.resume();
    if (leg.clientEnded && leg.queued === 0 && !leg.upstream.writableEnded) leg.upstream.end();
  }

  /**
   * One segment per connection that has one due and the tokens for it, the
   * least recently served first; schedules another round on the next turn of
   * the event loop while tokens and whole segments remain.
   */
  #release(): void {
    this.#releasing = false;
    if (this.#paused || this.#rate === Number.POSITIVE_INFINITY) return;
    const mss = this.#opts.mss;
    const served: Leg[] = [];
    for (const leg of this.#legs) {
      if (leg.queued === 0) continue;
      const size = Math.min(mss, leg.queued);
      if (size > this.#tokens) continue;
      this.#tokens -= size;
      this.#writeSegment(leg, size);
      served.push(leg);
    }
    // Served connections go to the back of the line: with tokens for one
    // segment at a time, connections take turns instead of the first starving the rest.
    for (const leg of served) {
      if (this.#legs.delete(leg)) this.#legs.add(leg);
    }
    const more = served.some((leg) => leg.queued > 0 && Math.min(mss, leg.queued) <= this.#tokens);
    if (more && !this.#releasing) {
      this.#releasing = true;
      setImmediate(() => this.#release());
    }
  }

  #tick(): void {
    const now = performance.now();
    const elapsed = now - this.#lastTick;
    this.#lastTick = now;
    if (now - this.#lastProbe >= PROBE_MS) {
      this.#lastProbe = now;
      for (const leg of this.#legs) if (leg.client.isPaused() && !leg.client.destroyed && !leg.client.writableEnded) leg.client.write(EMPTY);
    }
    if (this.#paused || this.#rate === Number.POSITIVE_INFINITY) {
      if (!this.#paused) for (const leg of this.#legs) this.#forward(leg, Number.POSITIVE_INFINITY);
      return;
    }
    // A burst of at most 50 ms worth (or one segment): the link's rate holds over any 50 ms.
    this.#tokens = Math.min(this.#tokens + (this.#rate * elapsed) / 1000, Math.max(this.#rate / 20, this.#opts.mss));
    if (!this.#releasing) this.#release();
  }
}

function checkRate(bytesPerSecond: number): number {
  if (!(bytesPerSecond > 0)) throw new TypeError(`bytesPerSecond must be > 0, got ${bytesPerSecond}`);
  return bytesPerSecond;
}

function checkMss(mss: number): number {
  if (!Number.isInteger(mss) || mss < 1) throw new TypeError(`mss must be a positive integer, got ${mss}`);
  return mss;
}
