/**
 * Who may publish where. The bridge connects on a browser's behalf, so a
 * destination must be granted by a token from the app's backend or match the
 * operator's allowlist; only a bridge on loopback with neither is open (a
 * person streaming from their own machine). The address guard
 * (address-policy.ts) applies on top in every mode.
 */
import { createHash } from "node:crypto";
import { CloseCode, WireError, type DestinationRequest, type StartMessage } from "../../protocol/wire.js";
import { LocalAdmission } from "../bridge/admission.js";
import { parseRtmpUrl, type RtmpUrl } from "../rtmp/rtmp-url.js";
import { AuthErrorCode, verifyToken, type GoliveGrant, type VerifiedToken } from "./tokens.js";

export interface DestinationPolicyOptions {
  /** Shared secret for tokens (--token-secret). */
  tokenSecret?: string;
  /** URL patterns the operator allows (--allow-destination). */
  allowlist?: readonly string[];
  /** Longest token lifetime accepted (exp - iat, or exp - now without iat), seconds (default 86,400). */
  maxTokenLifetimeS?: number;
  /**
   * Claims a single-use token's `jti` until `untilMs`: true the first time.
   * Default: remembered in this process; a process group asks its primary.
   */
  once?: (jti: string, untilMs: number) => Promise<boolean>;
}

/** A destination the session may open. */
export interface AuthorisedDestination {
  id: string;
  url: RtmpUrl;
}

export interface Authorisation {
  destinations: Array<AuthorisedDestination | { id: string; error: WireError }>;
  /** Recording requested (explicitly, or by default with no destination) and allowed. */
  record: boolean;
  /** The token's subject, for logs. */
  subject?: string;
  /** Who the per-user limit counts: "sub:<subject>", else "token:<hash of the token>"; none without a token. */
  userKey?: string;
  /** The token's `max` claim. */
  maxSessions?: number;
  /** When the token expires, ms since 1970. */
  expiresAt?: number;
}

/** Compiles a URL pattern: `*` matches within a path segment, a trailing `*` matches the rest. */
export function compilePattern(pattern: string): RegExp {
  const escaped = pattern.split("*").map((part) => part.replace(/[.+?^${}()|[\]\\]/g, "\\$&"));
  let source = escaped.join("[^/]*");
  if (pattern.endsWith("*")) source = `${escaped.slice(0, -1).join("[^/]*")}.*`;
  return new RegExp(`^${source}$`, "i");
}

/** The forms of a URL a pattern may be written against (with and without the default port). */
function candidates(url: RtmpUrl): string[] {
  const host = url.host.includes(":") ? `[${url.host}]` : url.host;
  const path = `/${url.app}/${url.streamName}`;
  const defaultPort = url.scheme === "rtmps" ? 443 : 1935;
  const forms = [`${url.scheme}://${host}:${url.port}${path}`];
  if (url.port === defaultPort) forms.push(`${url.scheme}://${host}${path}`);
  return forms;
}

function matchesAny(url: RtmpUrl, patterns: readonly RegExp[]): boolean {
  const forms = candidates(url);
  return patterns.some((p) => forms.some((f) => p.test(f)));
}

function notAllowed(id: string, why: string): WireError {
  return new WireError(AuthErrorCode.DestNotAllowed, `destination "${id}" is not allowed: ${why}`, CloseCode.Forbidden);
}

export class DestinationPolicy {
  readonly #secret: string | undefined;
  readonly #allow: RegExp[];
  readonly #maxLifetimeS: number;
  /** Single-use token ids seen: remembered until the token expires. */
  readonly #once: (jti: string, untilMs: number) => Promise<boolean>;

  constructor(options: DestinationPolicyOptions) {
    this.#secret = options.tokenSecret;
    this.#allow = (options.allowlist ?? []).map(compilePattern);
    this.#maxLifetimeS = options.maxTokenLifetimeS ?? 86_400;
    const local = options.once ? undefined : new LocalAdmission();
    this.#once = options.once ?? ((jti, untilMs) => local!.once(jti, untilMs));
  }

  /** True when neither tokens nor an allowlist restrict destinations. */
  get open(): boolean {
    return this.#secret === undefined && this.#allow.length === 0;
  }

  /**
   * Decides each requested destination. Throws WireError (4003) when the
   * whole start is unauthorised (token missing, expired or invalid).
   */
  async authorise(start: StartMessage): Promise<Authorisation> {
    let grant: GoliveGrant | undefined;
    let subject: string | undefined;
    let token: VerifiedToken | undefined;
    if (this.#secret !== undefined && start.token !== undefined) {
      token = await verifyToken(this.#secret, start.token);
      ({ grant, subject } = token);
      this.#checkLifetime(token);
      await this.#checkOneTime(token);
    } else if (this.#secret !== undefined && this.#allow.length === 0) {
      throw new WireError(AuthErrorCode.TokenMissing, "this bridge needs a token from the app to publish", CloseCode.Forbidden);
    }
    const tokenPatterns = (grant?.allow ?? []).map(compilePattern);
    const destinations = start.destinations.map((d) => this.#decide(d, grant, tokenPatterns));
    // Without "record", a session that names no destination records by
    // default: that counts as recording too, or leaving the field out would
    // get round the grant.
    const record = start.record ?? start.destinations.length === 0;
    // Recording fills the bridge's disk: on a bridge that restricts who
    // publishes, only a grant with `rec` allows it (an allowlist grants
    // destinations, not recording).
    if (record && !this.open && !grant?.rec) {
      const why = grant ? "the token does not allow recording on the bridge" : "recording on this bridge needs a token that allows it";
      throw new WireError(AuthErrorCode.RecordNotAllowed, why, CloseCode.Forbidden);
    }
    const userKey = token && start.token !== undefined
      ? (subject !== undefined ? `sub:${subject}` : `token:${createHash("sha256").update(start.token).digest("base64url").slice(0, 22)}`)
      : undefined;
    return {
      destinations, record,
      ...(subject !== undefined && { subject }),
      ...(userKey !== undefined && { userKey }),
      ...(token?.max !== undefined && { maxSessions: token.max }),
      ...(token && { expiresAt: token.exp * 1000 }),
    };
  }

  /** A token that lives longer than the bridge accepts is refused, however it was signed. */
  #checkLifetime(token: VerifiedToken): void {
    const from = token.iat ?? Math.floor(Date.now() / 1000);
    if (token.exp - from > this.#maxLifetimeS) {
      throw new WireError(AuthErrorCode.TokenLifetime, `the token lives longer than this bridge accepts (at most ${this.#maxLifetimeS} s): ask the app for a shorter one`, CloseCode.Forbidden);
    }
  }

  /** A token with a `jti` is single use: remembered until it expires. */
  async #checkOneTime(token: VerifiedToken): Promise<void> {
    if (token.jti === undefined) return;
    if (!(await this.#once(token.jti, token.exp * 1000))) {
      throw new WireError(AuthErrorCode.TokenReused, "this token was for one use and has been used: ask the app for a new one", CloseCode.Forbidden);
    }
  }

  #decide(d: DestinationRequest, grant: GoliveGrant | undefined, tokenPatterns: RegExp[]): AuthorisedDestination | { id: string; error: WireError } {
    try {
      // A destination named by id only: the token (usually sealed) supplies it.
      if (grant && d.url === "") {
        const granted = grant.dst?.find((g) => g.id === d.id);
        if (!granted) return { id: d.id, error: notAllowed(d.id, "the token grants no destination with this id") };
        return { id: d.id, url: parseRtmpUrl(granted.url, granted.key) };
      }
      const url = parseRtmpUrl(d.url, d.key);
      if (this.open) return { id: d.id, url };
      if (grant) {
        const exact = grant.dst?.some((g) => {
          const gu = parseRtmpUrl(g.url, g.key);
          return gu.tcUrl === url.tcUrl && gu.streamName === url.streamName;
        });
        if (exact || matchesAny(url, tokenPatterns)) return { id: d.id, url };
      }
      if (matchesAny(url, this.#allow)) return { id: d.id, url };
      return { id: d.id, error: notAllowed(d.id, grant ? "the token does not grant it" : "it matches no allowed destination pattern") };
    } catch (err) {
      return { id: d.id, error: asDestinationError(err) };
    }
  }
}

/** What parsing a destination threw, as the WireError the client is told. */
export function asDestinationError(err: unknown): WireError {
  if (err instanceof WireError) return err;
  const e = err as { code?: string; message?: string };
  return new WireError(e.code ?? "RTMP_BAD_URL", e.message ?? String(err));
}
