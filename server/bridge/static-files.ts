/**
 * The bridge's static files (the demo page, golive.js and its workers, the
 * 31 MB ffmpeg-core WASM, an app's own pages), served without letting an
 * anonymous client pin memory or connections:
 *
 * - streamed from disk (64 KiB at a time, with the socket's backpressure),
 *   never read whole into memory;
 * - a send that makes no progress for `idleTimeoutMs` (a reader that stopped
 *   reading), or lasts past `totalTimeoutMs`, is cut;
 * - at most `maxTransfersPerAddress` transfers at once per client address
 *   (503 with Retry-After past it);
 * - X-Content-Type-Options: nosniff on every answer; hashed assets
 *   (assets/<name>-<hash>.<ext>) cached for a year as immutable, anything
 *   else revalidated (no-cache);
 * - Content-Length, Last-Modified and a weak ETag; If-None-Match and
 *   If-Modified-Since answer 304; a single `Range` is honoured (206, or 416
 *   when it cannot be satisfied); HEAD sends the headers only;
 * - the file must be a regular file whose real path is inside the root's
 *   real path (symlinks out of the root are not followed); `..` and NUL
 *   are refused; a malformed `%` escape is a 400, not a server error.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Stats } from "node:fs";
import { open, realpath, type FileHandle } from "node:fs/promises";
import { extname, join, normalize, sep } from "node:path";
import { LocalAdmission, type Admission } from "./admission.js";

export interface StaticFilesOptions {
  /** Directories to serve from, first match wins. */
  roots: readonly string[];
  /** Cut a response that sent nothing for this long, ms (default 10,000). */
  idleTimeoutMs?: number;
  /** Cut a response that takes longer than this, ms (default 300,000). */
  totalTimeoutMs?: number;
  /** Transfers at once from one client address (default 32: a browser opens at most 6 per host; many behind one NAT or proxy). */
  maxTransfersPerAddress?: number;
  /** Where the per-address count is kept (default: this instance; a bridge shares its own, a process group the primary's). */
  admission?: Admission;
  /** More response headers for a file (e.g. a Content-Security-Policy for HTML), given its root's index and its content type. */
  headers?: (file: { root: number; path: string; contentType: string }) => Record<string, string>;
}

/** Vite's hashed output: assets/<name>-<8-character hash>.<ext>; its content never changes under that name. */
const HASHED_ASSET = /(?:^|\/)assets\/[^/]+-[A-Za-z0-9_-]{8}\.[a-z0-9]+$/;

/** Headers on every response: the type given is the type meant (no sniffing a download into a script). */
const BASE_HEADERS = { "x-content-type-options": "nosniff" } as const;

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8", ".wasm": "application/wasm", ".json": "application/json", ".svg": "image/svg+xml",
  ".png": "image/png", ".ico": "image/x-icon", ".map": "application/json", ".txt": "text/plain; charset=utf-8",
};

export class StaticFiles {
  readonly #roots: readonly string[];
  readonly #idleMs: number;
  readonly #totalMs: number;
  readonly #maxPerAddress: number;
  readonly #headers: StaticFilesOptions["headers"];
  readonly #admission: Admission;
  #realRoots: Promise<Array<string | undefined>> | undefined;

  constructor(options: StaticFilesOptions) {
    this.#roots = options.roots;
    this.#idleMs = options.idleTimeoutMs ?? 10_000;
    this.#totalMs = options.totalTimeoutMs ?? 300_000;
    this.#maxPerAddress = options.maxTransfersPerAddress ?? 32;
    this.#headers = options.headers;
    this.#admission = options.admission ?? new LocalAdmission();
  }

  /**
   * Serves a GET or HEAD. Never throws; answers 400/404/416/503 itself.
   * With `fallthrough`, a file that is not there is not answered (404) but
   * reported: resolves false, and the caller may answer (e.g. Express's next()).
   */
  async serve(req: IncomingMessage, res: ServerResponse, pathname: string, client = req.socket.remoteAddress ?? "", fallthrough = false): Promise<boolean> {
    let rel: string;
    try {
      rel = normalize(decodeURIComponent(pathname)).replace(/^([/\\])+/, "");
    } catch {
      res.writeHead(400, { ...BASE_HEADERS, "content-type": "text/plain" }).end("bad path");
      return true;
    }
    if (rel.includes("\0") || rel.split(/[/\\]/).includes("..")) {
      res.writeHead(400, { ...BASE_HEADERS, "content-type": "text/plain" }).end("bad path");
      return true;
    }
    const found = await this.#find(rel === "" ? "index.html" : rel);
    if (!found) {
      if (fallthrough) return false;
      res.writeHead(404, { ...BASE_HEADERS, "content-type": "text/plain" }).end("not found");
      return true;
    }
    const { handle, stat, path, root } = found;
    let handed = false;
    try {
      const etag = `W/"${stat.size.toString(16)}-${Math.floor(stat.mtimeMs).toString(16)}"`;
      const lastModified = new Date(Math.floor(stat.mtimeMs / 1000) * 1000).toUTCString();
      const contentType = TYPES[extname(path)] ?? "application/octet-stream";
      const headers: Record<string, string | number> = {
        ...this.#headers?.({ root, path: rel, contentType }),
        ...BASE_HEADERS,
        "content-type": contentType,
        "last-modified": lastModified,
        etag,
        "accept-ranges": "bytes",
        // Hashed assets never change: kept for a year without asking. Anything
        // else (the page, golive.js, an app's files) is revalidated each time.
        "cache-control": HASHED_ASSET.test(rel.split(sep).join("/")) ? "public, max-age=31536000, immutable" : "no-cache",
      };
      if (notModified(req, etag, stat)) {
        res.writeHead(304, headers).end();
        return true;
      }
      const ifRange = req.headers["if-range"];
      const range = parseRange(req.headers.range, stat.size, typeof ifRange === "string" ? ifRange : undefined, etag);
      if (range === "unsatisfiable") {
        res.writeHead(416, { ...BASE_HEADERS, "content-range": `bytes */${stat.size}`, "content-type": "text/plain" }).end("range not satisfiable");
        return true;
      }
      const [start, end] = range ?? [0, stat.size - 1];
      const length = stat.size === 0 ? 0 : end - start + 1;
      headers["content-length"] = length;
      if (range) headers["content-range"] = `bytes ${start}-${end}/${stat.size}`;
      if (req.method === "HEAD" || length === 0) {
        res.writeHead(range ? 206 : 200, headers).end();
        return true;
      }
      const admitted = await this.#admission.take([{ key: `downloads:${client}`, limit: this.#maxPerAddress, refusal: "TOO_MANY_DOWNLOADS" }]);
      if (!admitted.ok) {
        res.writeHead(503, { ...BASE_HEADERS, "retry-after": "5", "content-type": "text/plain" }).end(admitted.refusal === "TOO_MANY_DOWNLOADS" ? `at most ${this.#maxPerAddress} downloads at once from one address` : "busy: try again");
        return true;
      }
      if (res.destroyed) {
        admitted.ticket.release();
        return true;
      }
      res.writeHead(range ? 206 : 200, headers);
      handed = true;
      this.#stream(handle, start, end, res, () => admitted.ticket.release());
    } finally {
      if (!handed) await handle.close().catch(() => undefined);
    }
    return true;
  }

  /** Streams [start, end] of the file; `done` runs once, however it ends. */
  #stream(handle: FileHandle, start: number, end: number, res: ServerResponse, done: () => void): void {
    // The stream owns the handle from here: it closes it once, however it
    // ends. (A stream on the bare descriptor closes it on destroy whatever
    // autoClose says; closing the handle as well closed the number twice,
    // and in between it may be another connection's.)
    const stream = handle.createReadStream({ start, end, highWaterMark: 64 * 1024, autoClose: true });
    let finished = false;
    const finish = (): void => {
      if (finished) return;
      finished = true;
      clearTimeout(total);
      clearTimeout(idle);
      stream.destroy();
      done();
    };
    // Idle: nothing more read from the file for idleMs. The pipe reads only
    // as the response drains, so that is a reader that stopped reading. A
    // timer of its own, not the socket's timeout: that one is the server's
    // (keep-alive, its own limits) and stays as the server set it.
    const idle = setTimeout(() => {
      res.destroy();
      finish();
    }, this.#idleMs);
    idle.unref();
    stream.on("data", () => idle.refresh());
    const total = setTimeout(() => {
      res.destroy();
      finish();
    }, this.#totalMs);
    total.unref();
    res.once("close", finish);
    stream.once("error", () => {
      res.destroy();
      finish();
    });
    stream.pipe(res);
  }

  /** The first root holding `rel` as a regular file, its real path inside the root's. */
  async #find(rel: string): Promise<{ handle: FileHandle; stat: Stats; path: string; root: number } | undefined> {
    this.#realRoots ??= Promise.all(this.#roots.map((r) => realpath(r).catch(() => undefined)));
    const realRoots = await this.#realRoots;
    for (let i = 0; i < this.#roots.length; i++) {
      const root = realRoots[i];
      if (root === undefined) continue;
      const candidate = join(this.#roots[i]!, rel);
      const real = await realpath(candidate).catch(() => undefined);
      if (real === undefined || (real !== root && !real.startsWith(root.endsWith(sep) ? root : root + sep))) continue;
      const handle = await open(real, "r").catch(() => undefined);
      if (!handle) continue;
      const stat = await handle.stat().catch(() => undefined);
      if (stat?.isFile()) return { handle, stat, path: real, root: i };
      await handle.close().catch(() => undefined);
    }
    return undefined;
  }
}

/** If-None-Match (weak comparison) or, without it, If-Modified-Since. */
function notModified(req: IncomingMessage, etag: string, stat: Stats): boolean {
  const inm = req.headers["if-none-match"];
  if (inm !== undefined) {
    const tags = inm.split(",").map((t) => t.trim().replace(/^W\//, ""));
    return tags.includes("*") || tags.includes(etag.replace(/^W\//, ""));
  }
  const ims = req.headers["if-modified-since"];
  if (ims !== undefined) {
    const since = Date.parse(ims);
    return Number.isFinite(since) && Math.floor(stat.mtimeMs / 1000) * 1000 <= since;
  }
  return false;
}

/**
 * One `bytes=` range (RFC 9110 §14.1.2): [start, end] inclusive, undefined
 * for the whole file (no Range, an If-Range that no longer matches, several
 * ranges, or a syntax we do not take), "unsatisfiable" for a range past the end.
 */
export function parseRange(header: string | undefined, size: number, ifRange: string | undefined, etag: string): [number, number] | "unsatisfiable" | undefined {
  if (header === undefined) return undefined;
  if (ifRange !== undefined && ifRange.trim() !== etag) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === "" && m[2] === "")) return undefined;
  if (m[1] === "") {
    const suffix = Number(m[2]);
    if (suffix === 0) return "unsatisfiable";
    return size === 0 ? "unsatisfiable" : [Math.max(0, size - suffix), size - 1];
  }
  const start = Number(m[1]);
  const end = m[2] === "" ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (!Number.isSafeInteger(start) || start >= size) return "unsatisfiable";
  if (end < start) return undefined;
  return [start, end];
}
