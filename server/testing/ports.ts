/**
 * Loopback ports for integration tests: pick a free one, and find out which
 * process is listening on one.
 *
 * Everything here stays on 127.0.0.1. The listener check reads the kernel's
 * socket tables (`/proc/net/tcp`, `/proc/net/tcp6`) instead of connecting,
 * because a probe connection is not harmless everywhere: `ffmpeg -listen 1`
 * takes the first connection as its one and only client.
 */
import { readFile, readdir, readlink } from "node:fs/promises";
import { createServer } from "node:net";

/** The only address the test servers bind to and the tests connect to. */
export const LOOPBACK = "127.0.0.1";

/**
 * A TCP port that was free on 127.0.0.1 a moment ago: listens on port 0, reads
 * the port the kernel chose, closes. Another process can take it before the
 * caller binds it, so the server launchers retry with a new port when their
 * bind fails with "Address already in use".
 */
export function freePort(): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once("error", reject);
    server.listen({ host: LOOPBACK, port: 0, exclusive: true }, () => {
      const address = server.address();
      if (address === null || typeof address === "string") {
        server.close();
        reject(new Error(`freePort: unexpected server address ${String(address)}`));
        return;
      }
      const { port } = address;
      server.close((err) => (err ? reject(err) : resolve(port)));
    });
  });
}

/**
 * `count` distinct free ports. The probe sockets stay open until all ports are
 * known, so the kernel cannot hand out the same port twice.
 */
export async function freePorts(count: number): Promise<number[]> {
  if (!Number.isInteger(count) || count < 1) throw new TypeError(`freePorts: count must be a positive integer, got ${count}`);
  const servers = Array.from({ length: count }, () => createServer());
  try {
    return await Promise.all(
      servers.map(
        (server) =>
          new Promise<number>((resolve, reject) => {
            server.once("error", reject);
            server.listen({ host: LOOPBACK, port: 0, exclusive: true }, () => {
              const address = server.address();
              if (address === null || typeof address === "string") reject(new Error("freePorts: unexpected server address"));
              else resolve(address.port);
            });
          }),
      ),
    );
  } finally {
    await Promise.all(servers.map((server) => new Promise<void>((resolve) => (server.listening ? server.close(() => resolve()) : resolve()))));
  }
}

/** One row of `/proc/net/tcp{,6}` in the LISTEN state. */
export interface ListeningSocket {
  /** Local address as the kernel prints it (hex, host byte order for IPv4), e.g. `0100007F` for 127.0.0.1. */
  readonly addressHex: string;
  /** Local port. */
  readonly port: number;
  /** Socket inode: `/proc/<pid>/fd/N` links to `socket:[inode]` for its owner. */
  readonly inode: string;
  /** `tcp` or `tcp6`. */
  readonly family: "tcp" | "tcp6";
}

/** TCP state code for LISTEN in `/proc/net/tcp` (include/net/tcp_states.h: TCP_LISTEN = 10). */
const TCP_LISTEN = "0A";

/**
 * Sockets listening on `port` right now, read from `/proc/net/tcp` and
 * `/proc/net/tcp6` (this network namespace only). Throws if neither table
 * exists: the harness needs Linux procfs.
 */
export async function listeningSockets(port: number): Promise<ListeningSocket[]> {
  const found: ListeningSocket[] = [];
  let tables = 0;
  for (const family of ["tcp", "tcp6"] as const) {
    let text: string;
    try {
      text = await readFile(`/proc/net/${family}`, "utf8");
    } catch {
      continue;
    }
    tables++;
    // Row layout: sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode ...
    for (const line of text.split("\n").slice(1)) {
      const fields = line.trim().split(/\s+/);
      const local = fields[1];
      const state = fields[3];
      const inode = fields[9];
      if (local === undefined || state !== TCP_LISTEN || inode === undefined) continue;
      const colon = local.lastIndexOf(":");
      if (Number.parseInt(local.slice(colon + 1), 16) !== port) continue;
      found.push({ addressHex: local.slice(0, colon), port, inode, family });
    }
  }
  if (tables === 0) throw new Error("listeningSockets: /proc/net/tcp is not readable; the ingest harness needs Linux procfs");
  return found;
}

/** Socket inodes held open by process `pid` (from the `/proc/<pid>/fd` links). Empty if the process is gone. */
export async function socketInodesOf(pid: number): Promise<Set<string>> {
  const inodes = new Set<string>();
  let fds: string[];
  try {
    fds = await readdir(`/proc/${pid}/fd`);
  } catch {
    return inodes;
  }
  await Promise.all(
    fds.map(async (fd) => {
      try {
        const target = await readlink(`/proc/${pid}/fd/${fd}`);
        const match = /^socket:\[(\d+)\]$/.exec(target);
        if (match?.[1] !== undefined) inodes.add(match[1]);
      } catch {
        // the fd was closed between readdir and readlink
      }
    }),
  );
  return inodes;
}

/**
 * True when process `pid` itself holds a socket listening on `port`. Stricter
 * than "something accepts on the port": a stray process that grabbed the port
 * between `freePort()` and our server's bind does not count.
 */
export async function isListeningBy(pid: number, port: number): Promise<boolean> {
  const sockets = await listeningSockets(port);
  if (sockets.length === 0) return false;
  const owned = await socketInodesOf(pid);
  return sockets.some((socket) => owned.has(socket.inode));
}
