/**
 * A loopback HTTP server that answers every request with one fixed status and
 * remembers what it was asked: the stand-in for an app's `on_publish` hook
 * (nginx-rtmp allows a publish on 2xx, rejects it on 4xx/5xx).
 */
import { createServer } from "node:http";
import { LOOPBACK } from "../ports.js";

/** One request the status server saw. */
export interface SeenRequest {
  /** HTTP method (nginx-rtmp notifications are POST by default). */
  readonly method: string;
  /** Request target, e.g. `/on_publish`. */
  readonly url: string;
  /** Lower-cased request headers. */
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  /** Raw body. */
  readonly body: string;
  /** The body parsed as `application/x-www-form-urlencoded` (nginx-rtmp sends `call=publish&app=live&name=KEY&...`). */
  readonly form: URLSearchParams;
}

/** A running {@link startHttpStatusServer}. */
export interface HttpStatusServer {
  /** Listening port on 127.0.0.1. */
  readonly port: number;
  /** `http://127.0.0.1:PORT`, without a trailing slash. */
  readonly url: string;
  /** Every request so far, in arrival order (live array). */
  readonly requests: readonly SeenRequest[];
  /** Stops listening and drops open connections. */
  close(): Promise<void>;
}

/** Starts an HTTP server on 127.0.0.1 (kernel-chosen port) answering every request with `status`. */
export async function startHttpStatusServer(status: number): Promise<HttpStatusServer> {
  if (!Number.isInteger(status) || status < 100 || status > 599) throw new TypeError(`startHttpStatusServer: bad status ${status}`);
  const requests: SeenRequest[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8");
      requests.push({ method: req.method ?? "", url: req.url ?? "", headers: { ...req.headers }, body, form: new URLSearchParams(body) });
      res.writeHead(status, { "content-type": "text/plain", connection: "close" });
      res.end(`${status}\n`);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen({ host: LOOPBACK, port: 0 }, resolve);
  });
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("startHttpStatusServer: no address");
  return {
    port: address.port,
    url: `http://${LOOPBACK}:${address.port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
