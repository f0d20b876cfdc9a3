/**
 * An app's own authorisation, instead of golive's tokens: the app embedding
 * the bridge decides from its own session or cookie who may stream where.
 * The hook sees the WebSocket's upgrade request and what the client asked
 * for; its answer becomes the same Authorisation a token gives (the address
 * guard, the per-user limit and every other limit still apply).
 */
import type { IncomingMessage } from "node:http";
import { CloseCode, WireError, type DestinationRequest, type StartMessage } from "../../protocol/wire.js";
import { parseRtmpUrl } from "../rtmp/rtmp-url.js";
import { asDestinationError, type Authorisation } from "../security/policy.js";
import { AuthErrorCode } from "../security/tokens.js";

/** What the hook is asked. */
export interface AuthorizeRequest {
  /** The WebSocket's HTTP upgrade request: its cookies, headers and URL (query parameters included). */
  request: IncomingMessage;
  /** The client's address (with `trustProxy`, what the proxies say). */
  remote: string;
  /** The destinations the client asked for, as it sent them (stream keys included). */
  destinations: readonly DestinationRequest[];
  /** Whether the session would record on the bridge. */
  record: boolean;
  /** The `token` field of "start", if any: e.g. the app's own session token. */
  token?: string;
}

/**
 * The hook's answer. `false` (or `{ allow: false }`) refuses the session;
 * `true` allows every destination asked for; a list of ids allows those
 * only (the others fail with DEST_NOT_ALLOWED, the session goes on).
 */
export type AuthorizeResult = boolean | {
  allow: boolean | readonly string[];
  /** Why a refusal, shown to the client (at most 200 characters). */
  reason?: string;
  /** Allow recording on the bridge (default false: it fills the bridge's disk). */
  record?: boolean;
  /** Who this is, for the per-user limit and the logs (e.g. the app's user id). */
  user?: string;
  /** At most this many sessions at once for `user` (lowers maxSessionsPerUser). */
  maxSessions?: number;
  /** End the session at this time (ms since 1970, or a Date), warned a minute before. */
  expiresAt?: number | Date;
};

export type AuthorizeHook = (request: AuthorizeRequest) => AuthorizeResult | Promise<AuthorizeResult>;

/** The session was refused by the app's authorize hook. */
export const AUTH_REFUSED = "AUTH_REFUSED";

function refused(reason: string): WireError {
  return new WireError(AUTH_REFUSED, reason.slice(0, 200), CloseCode.Forbidden);
}

/**
 * Runs the hook (bounded by `timeoutMs`) and turns its answer into an
 * Authorisation. A hook that throws or takes too long refuses the session
 * with a message that says nothing of why (the error goes to `onError`).
 */
export async function authorizeWithHook(
  hook: AuthorizeHook, request: Omit<AuthorizeRequest, "destinations" | "record" | "token">, start: StartMessage,
  timeoutMs: number, onError: (err: unknown) => void,
): Promise<Authorisation> {
  const record = start.record ?? start.destinations.length === 0;
  let timer: NodeJS.Timeout | undefined;
  let result: AuthorizeResult;
  try {
    result = await Promise.race([
      Promise.resolve().then(() => hook({ ...request, destinations: start.destinations, record, ...(start.token !== undefined && { token: start.token }) })),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`the authorize hook took longer than ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
  } catch (err) {
    onError(err);
    throw refused("the app could not authorise this session");
  } finally {
    clearTimeout(timer);
  }
  const decision = typeof result === "boolean" ? { allow: result } : result;
  if (decision === null || typeof decision !== "object") {
    onError(new TypeError(`the authorize hook returned ${typeof result}, not a boolean or an object`));
    throw refused("the app could not authorise this session");
  }
  if (decision.allow === false) throw refused(decision.reason ?? "the app does not allow this session");
  if (record && decision.record !== true) {
    throw new WireError(AuthErrorCode.RecordNotAllowed, "the app does not allow recording on the bridge", CloseCode.Forbidden);
  }
  const allowed = decision.allow === true ? undefined : new Set(decision.allow);
  const destinations = start.destinations.map((d): Authorisation["destinations"][number] => {
    if (allowed && !allowed.has(d.id)) {
      return { id: d.id, error: new WireError(AuthErrorCode.DestNotAllowed, `destination "${d.id}" is not allowed by the app`, CloseCode.Forbidden) };
    }
    try {
      return { id: d.id, url: parseRtmpUrl(d.url, d.key) };
    } catch (err) {
      return { id: d.id, error: asDestinationError(err) };
    }
  });
  const expires = decision.expiresAt instanceof Date ? decision.expiresAt.getTime() : decision.expiresAt;
  return {
    destinations,
    record,
    ...(decision.user !== undefined && { subject: decision.user, userKey: `app:${decision.user}` }),
    ...(decision.maxSessions !== undefined && { maxSessions: decision.maxSessions }),
    ...(expires !== undefined && Number.isFinite(expires) && { expiresAt: expires }),
  };
}
