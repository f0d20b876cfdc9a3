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

  constructor(fields: { scheme: "rtmp" | "rtmps"; host: string; port: number; app: string; tcUrl: string; streamName: string }) {
    this.scheme = fields.scheme;
    this.host = fields.host;
    this.port = fields.port;
    this.app = fields.app;
    this.tcUrl = fields.tcUrl;
    this.#streamName = fields.streamName;
    this.redacted = `${fields.tcUrl}/****`;
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

/** Replaces every occurrence of `secret` in `text` (for log lines and errors). */
export function redact(text: string, secret: string): string {
  if (!secret) return text;
  return text.split(secret).join("****");
}
