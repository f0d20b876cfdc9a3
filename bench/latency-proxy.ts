/**
 * Counts what a page downloads, the same way in every engine: a plain HTTP
 * reverse proxy in front of the bridge's static files. The page is loaded
 * through it (so `/golive.js`, its workers, worklets and ffmpeg.wasm's core
 * all come through it, same-origin as the SDK needs), while the page's
 * WebSocket goes straight to the bridge (the media path is not what is
 * counted, and a hop would add to the latency measured). Every chunk of
 * every response body is logged with its time, so "bytes before live" is
 * the sum of the body bytes that passed before the page went live (as sent:
 * compressed where the bridge compresses; response headers not counted).
 */
import { createServer, request, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { LOOPBACK } from "../server/testing/ports.js";

/** One chunk of a response body. */
export interface DownloadChunk {
  atMs: number;
  bytes: number;
  path: string;
}

/** A running proxy. */
export interface CountingProxy {
  /** http://127.0.0.1:PORT/ */
  readonly url: string;
  /** Every body chunk so far, in order. */
  readonly chunks: readonly DownloadChunk[];
  /** Forgets the chunks so far (between rows). */
  reset(): void;
  /** Body bytes that passed before `atMs` (epoch ms), and per path. */
  bytesBefore(atMs: number): { total: number; byPath: Map<string, number> };
  stop(): Promise<void>;
}

/** Starts a proxy on a free loopback port that forwards every request to `targetPort`. */
export async function startCountingProxy(targetPort: number): Promise<CountingProxy> {
  let chunks: DownloadChunk[] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? "/").split("?")[0] ?? "/";
    const upstream = request({ host: LOOPBACK, port: targetPort, method: req.method, path: req.url, headers: req.headers }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.on("data", (chunk: Buffer) => chunks.push({ atMs: performance.timeOrigin + performance.now(), bytes: chunk.length, path }));
      up.pipe(res);
    });
    upstream.on("error", (err) => {
      if (!res.headersSent) res.writeHead(502, { "content-type": "text/plain" });
      res.end(`proxy: ${err.message}`);
    });
    req.pipe(upstream);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, LOOPBACK, resolve);
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${LOOPBACK}:${port}/`,
    get chunks() {
      return chunks;
    },
    reset: () => {
      chunks = [];
    },
    bytesBefore(atMs) {
      const byPath = new Map<string, number>();
      let total = 0;
      for (const c of chunks) {
        if (c.atMs > atMs) continue;
        total += c.bytes;
        byPath.set(c.path, (byPath.get(c.path) ?? 0) + c.bytes);
      }
      return { total, byPath };
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
