/**
 * Tokens that authorise a browser to publish, minted by the embedding app's
 * backend with the secret it shares with the bridge (`--token-secret`).
 *
 * Two forms, both carrying the same claims under "golive":
 *   - signed (JWS, HS256): the page can read which destinations it may use;
 *   - sealed (JWE, dir + A256GCM): the page cannot read it at all, so a
 *     destination's stream key can travel inside without the page (or its
 *     user) ever seeing it. The client then names the destination by id only.
 *
 * Usage in an app backend:
 *
 *   import { mintToken } from "golive/token";
 *   const token = await mintToken(process.env.GOLIVE_SECRET, {
 *     dst: [{ id: "yt", url: "rtmp://a.rtmp.youtube.com/live2", key: userKey }],
 *   }, { sealed: true, expiresIn: "2h", subject: userId });
 */
import { createHash, randomBytes } from "node:crypto";
import { EncryptJWT, errors, jwtDecrypt, jwtVerify, SignJWT, type JWTPayload } from "jose";
import { CloseCode, WireError } from "../../protocol/wire.js";

/** A destination a token grants. */
export interface TokenDestination {
  /** The id the client uses to name it. */
  id: string;
  /** rtmp(s)://host/app[/key] */
  url: string;
  /** The stream key, when not part of url. Put it only in sealed tokens. */
  key?: string;
}

/** What a token grants. */
export interface GoliveGrant {
  /** Exact destinations. */
  dst?: TokenDestination[];
  /** URL patterns (`*` = any run of characters within a path segment; a trailing `*` = anything). */
  allow?: string[];
  /** May record on the bridge's machine (default false). */
  rec?: boolean;
}

export interface MintOptions {
  /** jose duration ("2h", "15m") or a number of seconds from now; default "1h". */
  expiresIn?: string | number;
  /** Encrypt instead of sign, hiding the grant from the page. */
  sealed?: boolean;
  /** The user: the bridge's per-user session limit counts by it (and logs it). */
  subject?: string;
  /** Most sessions at once this token's user may hold (the `max` claim; the bridge's own limit still applies). */
  maxSessions?: number;
  /** Single use: a random `jti`; the bridge refuses it the second time (TOKEN_REUSED). */
  oneTime?: boolean;
}

/** What a verified token says besides its grant. */
export interface VerifiedToken {
  grant: GoliveGrant;
  subject?: string;
  /** Expiry and issue time, seconds since 1970. */
  exp: number;
  iat?: number;
  /** The `max` claim: most sessions at once. */
  max?: number;
  /** The `jti` claim: a single-use token's id. */
  jti?: string;
}

/** Auth failure codes, sent to the client with close code 4003. */
export const AuthErrorCode = {
  TokenMissing: "TOKEN_MISSING",
  TokenExpired: "TOKEN_EXPIRED",
  TokenInvalid: "TOKEN_INVALID",
  TokenLifetime: "TOKEN_LIFETIME_TOO_LONG",
  TokenReused: "TOKEN_REUSED",
  DestNotAllowed: "DEST_NOT_ALLOWED",
  RecordNotAllowed: "RECORD_NOT_ALLOWED",
} as const;

const MIN_SECRET_LENGTH = 32;

function keys(secret: string): { sign: Uint8Array; seal: Uint8Array } {
  if (typeof secret !== "string" || secret.length < MIN_SECRET_LENGTH) {
    throw new TypeError(`the token secret must be a string of at least ${MIN_SECRET_LENGTH} characters`);
  }
  return {
    sign: new TextEncoder().encode(secret),
    // A distinct 256-bit key for encryption, derived from the same secret.
    seal: createHash("sha256").update("golive sealed token key\0").update(secret).digest(),
  };
}

/** Mints a token for a browser (call this in your backend, never in the page). */
export async function mintToken(secret: string, grant: GoliveGrant, options: MintOptions = {}): Promise<string> {
  const k = keys(secret);
  const claims: JWTPayload = { golive: grant };
  if (options.maxSessions !== undefined) {
    if (!Number.isSafeInteger(options.maxSessions) || options.maxSessions < 1) throw new TypeError(`maxSessions must be a positive integer, got ${options.maxSessions}`);
    claims.max = options.maxSessions;
  }
  if (options.oneTime) claims.jti = randomBytes(16).toString("base64url");
  // jose takes a number as the absolute `exp` (seconds since 1970), not as a
  // duration: 3600 would mint a token that expired in 1970.
  const expiresIn = typeof options.expiresIn === "number" ? Math.floor(Date.now() / 1000) + options.expiresIn : (options.expiresIn ?? "1h");
  if (options.sealed) {
    const jwt = new EncryptJWT(claims).setProtectedHeader({ alg: "dir", enc: "A256GCM" }).setIssuedAt().setExpirationTime(expiresIn);
    if (options.subject) jwt.setSubject(options.subject);
    return jwt.encrypt(k.seal);
  }
  const jwt = new SignJWT(claims).setProtectedHeader({ alg: "HS256", typ: "JWT" }).setIssuedAt().setExpirationTime(expiresIn);
  if (options.subject) jwt.setSubject(options.subject);
  return jwt.sign(k.sign);
}

/** Verifies a signed or sealed token; returns its grant. Throws WireError (4003). */
export async function verifyToken(secret: string, token: string): Promise<VerifiedToken> {
  const k = keys(secret);
  let payload: JWTPayload;
  try {
    const parts = token.split(".").length;
    if (parts === 5) payload = (await jwtDecrypt(token, k.seal, { keyManagementAlgorithms: ["dir"], contentEncryptionAlgorithms: ["A256GCM"], requiredClaims: ["exp"] })).payload;
    else if (parts === 3) payload = (await jwtVerify(token, k.sign, { algorithms: ["HS256"], requiredClaims: ["exp"] })).payload;
    else throw new WireError(AuthErrorCode.TokenInvalid, "the token is not a JWT", CloseCode.Forbidden);
  } catch (err) {
    if (err instanceof WireError) throw err;
    if (err instanceof errors.JWTExpired) throw new WireError(AuthErrorCode.TokenExpired, "the token has expired: ask the app for a new one", CloseCode.Forbidden);
    throw new WireError(AuthErrorCode.TokenInvalid, "the token is not valid (bad signature, wrong secret or malformed)", CloseCode.Forbidden);
  }
  const grant = payload.golive;
  if (!isGrant(grant)) {
    throw new WireError(AuthErrorCode.TokenInvalid, "the token carries no well-formed golive grant", CloseCode.Forbidden);
  }
  const max = typeof payload.max === "number" && Number.isSafeInteger(payload.max) && payload.max >= 1 ? payload.max : undefined;
  return {
    grant,
    exp: payload.exp!,
    ...(typeof payload.iat === "number" && { iat: payload.iat }),
    ...(typeof payload.sub === "string" && { subject: payload.sub }),
    ...(max !== undefined && { max }),
    ...(typeof payload.jti === "string" && payload.jti.length > 0 && { jti: payload.jti }),
  };
}

/** The shape of a grant, checked so that a malformed one is TOKEN_INVALID rather than a crash later. */
function isGrant(value: unknown): value is GoliveGrant {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  const g = value as Record<string, unknown>;
  const isString = (v: unknown): v is string => typeof v === "string";
  const isDestination = (v: unknown): boolean => {
    if (typeof v !== "object" || v === null) return false;
    const d = v as Record<string, unknown>;
    return isString(d.id) && isString(d.url) && (d.key === undefined || isString(d.key));
  };
  if (g.dst !== undefined && !(Array.isArray(g.dst) && g.dst.every(isDestination))) return false;
  if (g.allow !== undefined && !(Array.isArray(g.allow) && g.allow.every(isString))) return false;
  return g.rec === undefined || typeof g.rec === "boolean";
}
