/**
 * RTMP(S) stream URLs as ingest services hand them out:
 *
 *   rtmp://host[:1935]/app[/instance]/streamKey[?query]
 *   rtmps://host[:443]/app[/instance]/streamKey[?query]
 *
 * e.g. rtmp://a.rtmp.youtube.com/live2/KEY, rtmp://live.twitch.tv/app/KEY,
 * rtmps://live-api-s.facebook.com:443/rtmp/KEY?s_bl=1&s_sc=x.
 *
 * As in FFmpeg's rtmp_open: with two path segments the first is the app; with
 * three or more the first two are app/instance and the rest is the stream
 * name. The query string stays part of the stream name (Facebook and others
 * put per-stream parameters there); when the key is given apart, a query on
 * the server URL stays with the app (YouTube's backup ingest "live2?backup=1"). tcUrl is scheme://host[:port]/app as the
 * person wrote it, as OBS sends it.
 *
 * The stream name is a secret. `RtmpUrl` shows it only through `streamName`;
 * toString(), JSON and util.inspect give the redacted form.
 */
import { inspect } from "node:util";
import { RtmpError, RtmpErrorCode } from "./rtmp-errors.js";

/** A parsed, validated publish URL. */
export class RtmpUrl {
  /** "rtmp" or "rtmps". */
  readonly scheme: "rtmp" | "rtmps";
  /** Host name or IP literal (IPv6 without brackets). */
  readonly host: string;
  readonly port: number;
  /** Application, with the instance if any ("live2", "app/inst"). */
  readonly app: string;
  /** scheme://host[:port]/app, sent in connect. */
  readonly tcUrl: string;
  /** The URL with the stream name replaced by "****". Safe to log. */
  readonly redacted: string;
  readonly #streamName: string;
  readonly #secrets: readonly string[];

  constructor(fields: { scheme: "rtmp" | "rtmps"; host: string; port: number; app: string; tcUrl: string; streamName: string }) {
    this.scheme = fields.scheme;
    this.host = fields.host;
    this.port = fields.port;
    this.app = fields.app;
    this.tcUrl = fields.tcUrl;
    this.#streamName = fields.streamName;
    // Host and the app's first segment only: an instance segment or a query
    // on the server URL (?pass=...) may be secret too.
    const firstApp = fields.app.split(/[/?]/)[0]!;
    const authority = fields.tcUrl.slice(fields.scheme.length + 3).split("/")[0]!;
    this.redacted = `${fields.scheme}://${authority}/${firstApp}/****`;
    const secrets = [fields.streamName, fields.streamName.split("?")[0]!];
    const appQuery = fields.app.includes("?") ? fields.app.slice(fields.app.indexOf("?") + 1) : "";
    for (const pair of appQuery.split("&")) {
      const value = pair.slice(pair.indexOf("=") + 1);
      if (value.length >= 4) secrets.push(value);
    }
    this.#secrets = [...new Set(secrets.filter((x) => x.length > 0))];
  }

  /** Every form of this URL's secrets that must not reach a client or a log (see redact()). Secret. */
  get secrets(): readonly string[] {
    return this.#secrets;
  }

  /** The stream name (key plus any query). Secret: never log it. */
  get streamName(): string {
    return this.#streamName;
  }

  /** True for rtmps. */
  get tls(): boolean {
    return this.scheme === "rtmps";
  }

  toString(): string {
    return this.redacted;
  }

  toJSON(): string {
    return this.redacted;
  }

  [inspect.custom](): string {
    return `RtmpUrl(${this.redacted})`;
  }
}

function bad(message: string): RtmpError {
  return new RtmpError(RtmpErrorCode.BadUrl, message);
}

/**
 * Parses a stream URL. When `streamKey` is given (a separate "Stream key"
 * field, as YouTube and OBS present it), the URL holds only the app path and
 * the key is appended as the stream name.
 */
export function parseRtmpUrl(input: string, streamKey?: string): RtmpUrl {
  if (typeof input !== "string") throw new TypeError("stream URL must be a string");
  const text = input.trim();
  const m = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\/([^/?#]*)([^?#]*)(\?[^#]*)?(#.*)?$/.exec(text);
  if (!m) throw bad("the stream URL is not a URL: expected rtmp://host/app/streamKey");
  const scheme = m[1]!.toLowerCase();
  if (scheme !== "rtmp" && scheme !== "rtmps") {
    throw bad(`unsupported scheme "${scheme}://": use rtmp:// or rtmps://`);
  }
  const authority = m[2]!;
  if (authority.includes("@")) throw bad("the stream URL must not contain a user name or password");
  let host: string;
  let portText: string | undefined;
  let hostForUrl: string;
  // The port is matched loosely (anything after the colon) so that a bad one
  // is reported as a bad port, not as a malformed host.
  const v6 = /^\[([0-9a-fA-F:.]+)\](?::(.*))?$/.exec(authority);
  if (v6) {
    host = v6[1]!.toLowerCase();
    portText = v6[2];
    hostForUrl = `[${host}]`;
  } else {
    const hp = /^([^:]*)(?::(.*))?$/.exec(authority);
    if (!hp) throw bad("the stream URL has a malformed host (an IPv6 address goes in brackets: rtmp://[::1]/app/key)");
    host = hp[1]!.toLowerCase();
    portText = hp[2];
    hostForUrl = host;
  }
  if (!host) throw bad("the stream URL has no host");
  if (!/^[a-z0-9.-]+$/.test(host) && !v6) throw bad("the stream URL's host has characters a host name cannot have");
  let port = scheme === "rtmps" ? 443 : 1935;
  if (portText !== undefined) {
    if (portText === "") throw bad("the stream URL has an empty port");
    if (!/^\d+$/.test(portText)) throw bad("the stream URL's port must be a number 1..65535");
    port = Number(portText);
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw bad("the stream URL's port must be 1..65535");
  }
  const segments = m[3]!.split("/").filter((s) => s.length > 0);
  const query = m[4] ?? "";
  let app: string;
  let name: string;
  if (streamKey !== undefined) {
    if (segments.length === 0) throw bad("the stream URL has no application: expected rtmp://host/app");
    // A server URL's query belongs to the app, as OBS and librtmp send it:
    // YouTube's backup ingest is rtmp://b.rtmp.youtube.com/live2?backup=1.
    app = segments.join("/") + query;
    name = streamKey.trim();
    if (!name) throw bad("the stream key is empty");
  } else {
    if (segments.length === 0) throw bad("the stream URL has no application: expected rtmp://host/app/streamKey");
    if (segments.length === 1) throw bad("the stream URL has no stream key: expected rtmp://host/app/streamKey");
    const appParts = segments.length >= 3 ? 2 : 1;
    app = segments.slice(0, appParts).join("/");
    name = segments.slice(appParts).join("/") + query;
  }
  // Stream keys never contain whitespace: one inside is a paste accident
  // (two fields run together, a line break) that the server would reject.
  if (/\s/.test(app) || /\s/.test(name) || hasControlCharacter(app) || hasControlCharacter(name)) {
    throw bad("the stream URL contains control characters or spaces");
  }
  const tcUrl = `${scheme}://${hostForUrl}${portText !== undefined ? `:${port}` : ""}/${app}`;
  return new RtmpUrl({ scheme, host, port, app, tcUrl, streamName: name });
}

function hasControlCharacter(text: string): boolean {
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) < 0x20 || text.charCodeAt(i) === 0x7f) return true;
  return false;
}

/** What a text that still holds part of a secret after redaction is replaced by. */
export const HIDDEN = "(not shown: it contained the stream key)";

/** Runs of a secret at least this long (or the whole secret, when shorter) count as the secret. */
const MIN_RUN = 6;

/**
 * Makes `text` safe to show or log: every occurrence of each secret, also
 * URL-encoded and in any letter case, becomes "****"; a text that still holds
 * a run of MIN_RUN characters of a secret after that (a key one character
 * short, split between two fields, percent-encoded piecemeal, the key without
 * its query...) is replaced as a whole by HIDDEN. Servers echo keys in forms
 * nobody can list; a message shown less is better than a key shown.
 */
export function redact(text: string, secrets: string | readonly string[]): string {
  const list = (typeof secrets === "string" ? [secrets] : secrets).filter((x) => x.length > 0);
  if (list.length === 0) return text;
  let out = text;
  for (const secret of list) {
    for (const form of new Set([secret, encodeURIComponent(secret)])) {
      out = out.replace(new RegExp(escapeRegExp(form), "gi"), "****");
    }
  }
  const plain = percentDecoded(out).toLowerCase();
  for (const secret of list) {
    const s = secret.toLowerCase();
    const run = Math.min(s.length, MIN_RUN);
    for (let i = 0; i + run <= s.length; i++) {
      if (plain.includes(s.slice(i, i + run))) return HIDDEN;
    }
  }
  return out;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** `text` with %XX escapes decoded byte by byte (never throws). */
function percentDecoded(text: string): string {
  return text.replace(/%([0-9a-f]{2})/gi, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
}
