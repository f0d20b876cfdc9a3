// Who may publish where: tokens minted by the app's backend (signed or
// sealed) and the operator's allowlist, proved in unit tests of the token and
// pattern code and end to end through an in-process bridge publishing to a
// real nginx-rtmp on loopback (allowPrivate: nginx is on 127.0.0.1).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtemp, rm, stat } from "node:fs/promises";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { decodeJwt, decodeProtectedHeader, SignJWT, EncryptJWT } from "jose";
import { createHash } from "node:crypto";
import { Bridge } from "../../server/bridge/bridge.js";
import { createLogger } from "../../server/log.js";
import { compilePattern, DestinationPolicy } from "../../server/security/policy.js";
import { AuthErrorCode, mintToken, verifyToken, type GoliveGrant } from "../../server/security/tokens.js";
import { CloseCode, WireError, type BridgeMessage, type DestinationRequest, type StartMessage } from "../../protocol/wire.js";
import { flvAsWire, type FlvAsWire } from "../support/flv-frames.js";
import { cachedTestFlv, ffprobeFrames, startNginxRtmp, type NginxRtmpServer } from "../support/ingest.js";
import { WireTestClient } from "../support/wire-client.js";

const SECRET = "s3cret-for-tests-0123456789-abcdefghijklmnop";
const OTHER_SECRET = "another-secret-0123456789-abcdefghijklmnopqr";

/** What verifyToken throws, as { code, closeCode }; fails the test if it resolves. */
async function verifyError(secret: string, token: string): Promise<{ code: string; closeCode: number; message: string }> {
  try {
    await verifyToken(secret, token);
  } catch (err) {
    expect(err).toBeInstanceOf(WireError);
    const e = err as WireError;
    return { code: e.code, closeCode: e.closeCode, message: e.message };
  }
  throw new Error("verifyToken accepted the token");
}

/** Replaces one character in the middle of part `index` of a compact JWT/JWE, keeping it base64url. */
function tamper(token: string, index: number): string {
  const parts = token.split(".");
  const part = parts[index]!;
  const at = Math.floor(part.length / 2);
  parts[index] = part.slice(0, at) + (part[at] === "A" ? "B" : "A") + part.slice(at + 1);
  return parts.join(".");
}

/** Every base64url part of a compact token, decoded. */
function decodedParts(token: string): string {
  return token.split(".").map((p) => Buffer.from(p, "base64url").toString("latin1")).join("\n");
}

describe("mintToken / verifyToken", () => {
  const grant: GoliveGrant = { dst: [{ id: "yt", url: "rtmp://a.rtmp.youtube.com/live2", key: "yt-key-1234" }], allow: ["rtmp://live.twitch.tv/app/*"], rec: true };

  it("round-trips a signed token: grant and subject come back; the page can read it (HS256 JWS)", async () => {
    const token = await mintToken(SECRET, grant, { subject: "user-42" });
    expect(token.split(".")).toHaveLength(3);
    expect(decodeProtectedHeader(token)).toMatchObject({ alg: "HS256", typ: "JWT" });
    expect(decodeJwt(token).golive).toEqual(grant);
    const verified = await verifyToken(SECRET, token);
    expect(verified).toMatchObject({ grant, subject: "user-42" });
    expect(Object.keys(verified).sort()).toEqual(["exp", "grant", "iat", "subject"]);
    expect(verified.exp - verified.iat!).toBe(3600);
  });

  it("round-trips a sealed token, whose grant (and stream key) the page cannot read (dir + A256GCM JWE)", async () => {
    const token = await mintToken(SECRET, grant, { sealed: true });
    expect(token.split(".")).toHaveLength(5);
    expect(decodeProtectedHeader(token)).toEqual({ alg: "dir", enc: "A256GCM" });
    expect(() => decodeJwt(token)).toThrow();
    expect(token).not.toContain("yt-key-1234");
    expect(decodedParts(token)).not.toContain("yt-key-1234");
    expect(decodedParts(token)).not.toContain("youtube");
    const verified = await verifyToken(SECRET, token);
    expect(verified).toMatchObject({ grant });
    expect(Object.keys(verified).sort()).toEqual(["exp", "grant", "iat"]);
  });

  it("expires after expiresIn (a jose duration)", async () => {
    const token = await mintToken(SECRET, grant, { expiresIn: "-1s" });
    expect(await verifyError(SECRET, token)).toMatchObject({ code: AuthErrorCode.TokenExpired, closeCode: CloseCode.Forbidden });
    const sealed = await mintToken(SECRET, grant, { expiresIn: "-1s", sealed: true });
    expect((await verifyError(SECRET, sealed)).code).toBe(AuthErrorCode.TokenExpired);
  });

  it("expires after 1 s of real time", async () => {
    const token = await mintToken(SECRET, grant, { expiresIn: "1s" });
    await expect(verifyToken(SECRET, token)).resolves.toBeDefined();
    await new Promise((r) => setTimeout(r, 2100));
    expect((await verifyError(SECRET, token)).code).toBe(AuthErrorCode.TokenExpired);
  });

  it("takes a number expiresIn as seconds from now (as documented), not as an absolute date", async () => {
    for (const sealed of [false, true]) {
      const token = await mintToken(SECRET, grant, { expiresIn: 600, sealed });
      await expect(verifyToken(SECRET, token)).resolves.toMatchObject({ grant });
    }
    const exp = decodeJwt(await mintToken(SECRET, grant, { expiresIn: 600 })).exp!;
    expect(Math.abs(exp - (Math.floor(Date.now() / 1000) + 600))).toBeLessThanOrEqual(2);
  });

  it("defaults to one hour", async () => {
    const claims = decodeJwt(await mintToken(SECRET, grant));
    expect(claims.exp! - claims.iat!).toBe(3600);
  });

  it("refuses a token signed or sealed with another secret (TOKEN_INVALID, 4003)", async () => {
    for (const sealed of [false, true]) {
      const token = await mintToken(OTHER_SECRET, grant, { sealed });
      expect(await verifyError(SECRET, token)).toMatchObject({ code: AuthErrorCode.TokenInvalid, closeCode: CloseCode.Forbidden });
    }
  });

  it("refuses a tampered signature, payload or ciphertext (TOKEN_INVALID)", async () => {
    const signed = await mintToken(SECRET, grant);
    expect((await verifyError(SECRET, tamper(signed, 2))).code).toBe(AuthErrorCode.TokenInvalid);
    // A payload granting something else, with the original signature.
    const [h, , s] = signed.split(".");
    const forged = `${h}.${Buffer.from(JSON.stringify({ golive: { allow: ["*"] }, exp: 9e9 })).toString("base64url")}.${s}`;
    expect((await verifyError(SECRET, forged)).code).toBe(AuthErrorCode.TokenInvalid);
    const sealed = await mintToken(SECRET, grant, { sealed: true });
    for (const part of [0, 2, 3, 4]) expect((await verifyError(SECRET, tamper(sealed, part))).code, `part ${part}`).toBe(AuthErrorCode.TokenInvalid);
  });

  it("refuses other algorithms: alg none, HS512, A128GCM (TOKEN_INVALID)", async () => {
    const claims = { golive: grant, exp: Math.floor(Date.now() / 1000) + 60 };
    const b64 = (o: unknown): string => Buffer.from(JSON.stringify(o)).toString("base64url");
    expect((await verifyError(SECRET, `${b64({ alg: "none", typ: "JWT" })}.${b64(claims)}.`)).code).toBe(AuthErrorCode.TokenInvalid);
    const hs512 = await new SignJWT(claims).setProtectedHeader({ alg: "HS512" }).sign(new TextEncoder().encode(SECRET));
    expect((await verifyError(SECRET, hs512)).code).toBe(AuthErrorCode.TokenInvalid);
    // The bridge's sealing key, but a content encryption it does not accept.
    const sealKey = createHash("sha256").update("golive sealed token key\0").update(SECRET).digest();
    const a128 = await new EncryptJWT(claims).setProtectedHeader({ alg: "dir", enc: "A128GCM" }).encrypt(sealKey.subarray(0, 16));
    expect((await verifyError(SECRET, a128)).code).toBe(AuthErrorCode.TokenInvalid);
    // Control: the same key and claims with A256GCM are accepted, so the refusals above are about the algorithm.
    const a256 = await new EncryptJWT(claims).setProtectedHeader({ alg: "dir", enc: "A256GCM" }).encrypt(sealKey);
    await expect(verifyToken(SECRET, a256)).resolves.toMatchObject({ grant });
  });

  it("refuses a token without exp, without a golive grant, or with a malformed grant (TOKEN_INVALID)", async () => {
    const key = new TextEncoder().encode(SECRET);
    const sign = (claims: Record<string, unknown>): Promise<string> => new SignJWT(claims).setProtectedHeader({ alg: "HS256" }).sign(key);
    const exp = Math.floor(Date.now() / 1000) + 60;
    expect((await verifyError(SECRET, await sign({ golive: grant }))).code).toBe(AuthErrorCode.TokenInvalid);
    expect((await verifyError(SECRET, await sign({ exp }))).code).toBe(AuthErrorCode.TokenInvalid);
    expect((await verifyError(SECRET, await sign({ exp, golive: [grant] }))).code).toBe(AuthErrorCode.TokenInvalid);
    expect((await verifyError(SECRET, await sign({ exp, golive: { dst: "rtmp://x/live/k" } }))).code).toBe(AuthErrorCode.TokenInvalid);
    expect((await verifyError(SECRET, await sign({ exp, golive: { dst: [{ id: "a" }] } }))).code).toBe(AuthErrorCode.TokenInvalid);
    expect((await verifyError(SECRET, await sign({ exp, golive: { allow: "rtmp://*" } }))).code).toBe(AuthErrorCode.TokenInvalid);
    expect((await verifyError(SECRET, await sign({ exp, golive: { rec: "yes" } }))).code).toBe(AuthErrorCode.TokenInvalid);
    // Control: the same signing with a well-formed grant passes.
    await expect(verifyToken(SECRET, await sign({ exp, golive: grant }))).resolves.toMatchObject({ grant });
  });

  it("refuses strings that are not compact JWTs (TOKEN_INVALID)", async () => {
    for (const junk of ["", "abc", "a.b", "a.b.c.d", "a.b.c.d.e.f", "....."]) {
      expect((await verifyError(SECRET, junk)).code, JSON.stringify(junk)).toBe(AuthErrorCode.TokenInvalid);
    }
  });

  it("requires a secret of at least 32 characters (TypeError)", async () => {
    await expect(mintToken("short", grant)).rejects.toThrow(TypeError);
    await expect(verifyToken("x".repeat(31), "a.b.c")).rejects.toThrow(TypeError);
    await expect(mintToken("x".repeat(32), grant)).resolves.toEqual(expect.any(String));
  });
});

describe("compilePattern", () => {
  const cases: Array<[pattern: string, url: string, matches: boolean]> = [
    ["rtmp://a.rtmp.youtube.com/live2/*", "rtmp://a.rtmp.youtube.com/live2/any-key", true],
    ["rtmp://*.rtmp.youtube.com/live2/*", "rtmp://b.rtmp.youtube.com/live2/k", true],
    ["rtmp://*.rtmp.youtube.com/live2/*", "rtmp://evil.example/live2/k", false],
    ["rtmp://*.rtmp.youtube.com/live2/*", "rtmp://a.rtmp.youtube.com.evil.example/live2/k", false],
    // `*` stays within a segment: it cannot swallow a host and a path.
    ["rtmp://*.rtmp.youtube.com/live2/*", "rtmp://evil.example/x.rtmp.youtube.com/live2/k", false],
    ["rtmp://ingest.example/*/key", "rtmp://ingest.example/app/key", true],
    ["rtmp://ingest.example/*/key", "rtmp://ingest.example/a/b/key", false],
    // A trailing `*` takes the rest, slashes included.
    ["rtmp://ingest.example/live/*", "rtmp://ingest.example/live/inst/key", true],
    // Dots and other regex characters are literal.
    ["rtmp://ingest.example/live/*", "rtmp://ingestXexample/live/k", false],
    ["rtmp://h.example/live2?backup=1/*", "rtmp://h.example/live2?backup=1/k", true],
    ["rtmp://h.example/live2?backup=1/*", "rtmp://h.example/live/backup=1/k", false],
    ["rtmp://h.example/(a|b)/*", "rtmp://h.example/a/k", false],
    ["rtmp://h.example/(a|b)/*", "rtmp://h.example/(a|b)/k", true],
    // Anchored at both ends.
    ["rtmp://h.example/live/k", "rtmp://h.example/live/k2", false],
    ["rtmp://h.example/live/k", "xrtmp://h.example/live/k", false],
    ["rtmp://h.example/live/k", "rtmp://h.example/live/k", true],
    // Host names are case-insensitive.
    ["rtmp://H.Example/live/*", "rtmp://h.example/live/k", true],
  ];
  for (const [pattern, url, matches] of cases) {
    it(`${pattern} ${matches ? "matches" : "does not match"} ${url}`, () => {
      expect(compilePattern(pattern).test(url)).toBe(matches);
    });
  }
});

describe("DestinationPolicy", () => {
  const start = (destinations: DestinationRequest[], more: Partial<StartMessage> = {}): StartMessage => ({ type: "start", version: 1, destinations, ...more });
  const codes = async (policy: DestinationPolicy, msg: StartMessage): Promise<Array<string | null>> =>
    (await policy.authorise(msg)).destinations.map((d) => ("error" in d ? d.error.code : null));

  it("is open only with neither tokens nor an allowlist", () => {
    expect(new DestinationPolicy({}).open).toBe(true);
    expect(new DestinationPolicy({ allowlist: [] }).open).toBe(true);
    expect(new DestinationPolicy({ allowlist: ["rtmp://x/live/*"] }).open).toBe(false);
    expect(new DestinationPolicy({ tokenSecret: SECRET }).open).toBe(false);
  });

  it("allowlist: patterns match with and without the default port, not another port", async () => {
    const policy = new DestinationPolicy({ allowlist: ["rtmp://ingest.example/live/*", "rtmps://secure.example:443/app/*"] });
    expect(await codes(policy, start([
      { id: "a", url: "rtmp://ingest.example/live/k" },
      { id: "b", url: "rtmp://ingest.example:1935/live/k" },
      { id: "c", url: "rtmp://ingest.example:1936/live/k" },
      { id: "d", url: "rtmps://secure.example/app/k" },
      { id: "e", url: "rtmp://secure.example/app/k" },
      { id: "f", url: "rtmp://ingest.example/other/k" },
      { id: "g", url: "rtmp://ingest.example/live", key: "k" },
      { id: "h", url: "not a url/live/k" },
    ]))).toEqual([null, null, "DEST_NOT_ALLOWED", null, "DEST_NOT_ALLOWED", "DEST_NOT_ALLOWED", null, "RTMP_BAD_URL"]);
  });

  it("tokens: a token is required unless an allowlist is configured too", async () => {
    await expect(new DestinationPolicy({ tokenSecret: SECRET }).authorise(start([{ id: "a", url: "rtmp://x.example/live/k" }])))
      .rejects.toMatchObject({ code: "TOKEN_MISSING", closeCode: CloseCode.Forbidden });
    const both = new DestinationPolicy({ tokenSecret: SECRET, allowlist: ["rtmp://x.example/live/*"] });
    expect(await codes(both, start([{ id: "a", url: "rtmp://x.example/live/k" }, { id: "b", url: "rtmp://y.example/live/k" }]))).toEqual([null, "DEST_NOT_ALLOWED"]);
  });

  it("tokens: exact destinations (by id alone, or same URL and key) and allow patterns", async () => {
    const policy = new DestinationPolicy({ tokenSecret: SECRET });
    const token = await mintToken(SECRET, { dst: [{ id: "yt", url: "rtmp://a.rtmp.youtube.com/live2", key: "KEY" }], allow: ["rtmp://live.twitch.tv/app/*"] });
    const auth = await policy.authorise(start([
      { id: "yt" , url: "" },
      { id: "same", url: "rtmp://a.rtmp.youtube.com/live2/KEY" },
      { id: "otherkey", url: "rtmp://a.rtmp.youtube.com/live2/OTHER" },
      { id: "tw", url: "rtmp://live.twitch.tv/app/anything" },
      { id: "nope", url: "" },
      { id: "evil", url: "rtmp://evil.example/live2/KEY" },
    ], { token }));
    expect(auth.destinations.map((d) => ("error" in d ? d.error.code : d.url.redacted))).toEqual([
      "rtmp://a.rtmp.youtube.com/live2/****", "rtmp://a.rtmp.youtube.com/live2/****", "DEST_NOT_ALLOWED",
      "rtmp://live.twitch.tv/app/****", "DEST_NOT_ALLOWED", "DEST_NOT_ALLOWED",
    ]);
    const yt = auth.destinations[0]!;
    expect("url" in yt && yt.url.streamName).toBe("KEY");
  });

  it("recording needs rec in the grant, also when `record` is left to its default", async () => {
    const policy = new DestinationPolicy({ tokenSecret: SECRET });
    const noRec = await mintToken(SECRET, { allow: ["rtmp://x.example/live/*"] });
    const rec = await mintToken(SECRET, { allow: ["rtmp://x.example/live/*"], rec: true });
    await expect(policy.authorise(start([], { token: noRec, record: true }))).rejects.toMatchObject({ code: "RECORD_NOT_ALLOWED", closeCode: CloseCode.Forbidden });
    // No destinations and no "record": the session records by default, so the grant must allow it.
    await expect(policy.authorise(start([], { token: noRec }))).rejects.toMatchObject({ code: "RECORD_NOT_ALLOWED" });
    await expect(policy.authorise(start([{ id: "a", url: "rtmp://x.example/live/k" }], { token: noRec }))).resolves.toMatchObject({ record: false });
    await expect(policy.authorise(start([], { token: rec, record: true }))).resolves.toMatchObject({ record: true });
    await expect(policy.authorise(start([], { token: rec }))).resolves.toMatchObject({ record: true });
  });

  it("recording without a token grant is refused on a bridge that restricts destinations", async () => {
    const both = new DestinationPolicy({ tokenSecret: SECRET, allowlist: ["rtmp://x.example/live/*"] });
    await expect(both.authorise(start([{ id: "a", url: "rtmp://x.example/live/k" }], { record: true }))).rejects.toMatchObject({ code: "RECORD_NOT_ALLOWED" });
    const allowlist = new DestinationPolicy({ allowlist: ["rtmp://x.example/live/*"] });
    await expect(allowlist.authorise(start([], { record: true }))).rejects.toMatchObject({ code: "RECORD_NOT_ALLOWED" });
    await expect(allowlist.authorise(start([]))).rejects.toMatchObject({ code: "RECORD_NOT_ALLOWED" });
    // An open (loopback) bridge records freely.
    await expect(new DestinationPolicy({}).authorise(start([], { record: true }))).resolves.toMatchObject({ record: true });
  });
});

// --- end to end ------------------------------------------------------------------

let nginx: NginxRtmpServer;
let media: FlvAsWire;
let recordDir: string;
let tokenBridge: Bridge;
let allowBridge: Bridge;
/** A TCP listener that must never be connected to: destinations refused by policy point here. */
let trap: Server;
let trapPort: number;
let trapConnections = 0;

beforeAll(async () => {
  nginx = await startNginxRtmp();
  media = await flvAsWire(await cachedTestFlv({ seconds: 3, gop: 60 }));
  recordDir = await mkdtemp(join(tmpdir(), "golive-security-tokens-"));
  trap = createServer((socket) => {
    trapConnections++;
    socket.destroy();
  });
  await new Promise<void>((resolve) => trap.listen(0, "127.0.0.1", resolve));
  trapPort = (trap.address() as { port: number }).port;
  const logger = createLogger({ level: "silent" });
  tokenBridge = new Bridge({ port: 0, recordDir, allowPrivate: true, tokenSecret: SECRET, logger, limits: { statsIntervalMs: 100 } });
  allowBridge = new Bridge({ port: 0, recordDir, allowPrivate: true, allowDestinations: [`${nginx.rtmpUrl("live")}/*`], logger, limits: { statsIntervalMs: 100 } });
  await Promise.all([tokenBridge.listen(), allowBridge.listen()]);
});

afterAll(async () => {
  await Promise.all([tokenBridge?.close(), allowBridge?.close()]);
  await new Promise<void>((resolve) => (trap ? trap.close(() => resolve()) : resolve()));
  await nginx?.dispose();
  if (recordDir) await rm(recordDir, { recursive: true, force: true });
});

/** Connects and sends "start". */
async function startOn(bridge: Bridge, destinations: Array<{ id: string; url?: string; key?: string }>, more: Record<string, unknown> = {}): Promise<WireTestClient> {
  const c = await WireTestClient.connect(bridge.ingestUrl);
  c.send({ type: "start", version: 1, destinations, ...more });
  return c;
}

/** Waits for a fatal error with `code`, then the close with `closeCode`. */
async function expectFatal(c: WireTestClient, code: string, closeCode: number): Promise<void> {
  const err = await c.waitFor("error");
  expect(err).toMatchObject({ code, fatal: true });
  expect(err.message.length).toBeGreaterThan(10);
  expect((await c.closed).code).toBe(closeCode);
  expect(c.messages.some((m) => m.type === "accepted")).toBe(false);
}

/** Sends the whole clip and stops; resolves once the session ended normally. */
async function publishAll(c: WireTestClient): Promise<void> {
  await c.waitFor("accepted");
  c.sendConfigs(media);
  await c.sendFrames(media.frames);
  c.send({ type: "stop" });
  await c.waitFor("ended", () => true, 30_000);
  expect((await c.closed).code).toBe(CloseCode.Normal);
}

async function expectRecordingAtNginx(streamName: string): Promise<void> {
  const probe = await ffprobeFrames(await nginx.waitForRecording(streamName, { timeoutMs: 15_000 }));
  expect(probe.counts).toEqual({ video: media.counts.video, audio: media.counts.audio });
  expect([probe.video?.width, probe.video?.height]).toEqual([640, 360]);
}

describe("bridge with --token-secret", () => {
  it("a start without a token -> TOKEN_MISSING, close 4003", async () => {
    const c = await startOn(tokenBridge, [{ id: "n", url: `${nginx.rtmpUrl()}/nokey` }]);
    await expectFatal(c, "TOKEN_MISSING", CloseCode.Forbidden);
  });

  it("an expired token -> TOKEN_EXPIRED, close 4003", async () => {
    const token = await mintToken(SECRET, { dst: [{ id: "n", url: `${nginx.rtmpUrl()}/expired` }] }, { expiresIn: "-1s" });
    const c = await startOn(tokenBridge, [{ id: "n", url: `${nginx.rtmpUrl()}/expired` }], { token });
    await expectFatal(c, "TOKEN_EXPIRED", CloseCode.Forbidden);
  });

  it("a token from another secret, or with a tampered signature -> TOKEN_INVALID, close 4003", async () => {
    const grant = { dst: [{ id: "n", url: `${nginx.rtmpUrl()}/forged` }] };
    for (const token of [await mintToken(OTHER_SECRET, grant), tamper(await mintToken(SECRET, grant), 2), tamper(await mintToken(SECRET, grant, { sealed: true }), 4)]) {
      const c = await startOn(tokenBridge, [{ id: "n", url: `${nginx.rtmpUrl()}/forged` }], { token });
      await expectFatal(c, "TOKEN_INVALID", CloseCode.Forbidden);
    }
    expect(() => nginx.recordingPath("forged")).not.toThrow();
    await expect(stat(nginx.recordingPath("forged"))).rejects.toThrow();
  });

  it("a token for another destination: that destination fails DEST_NOT_ALLOWED and, alone, closes the session 4003 without connecting", async () => {
    const token = await mintToken(SECRET, { dst: [{ id: "n", url: `${nginx.rtmpUrl()}/granted` }] });
    const c = await startOn(tokenBridge, [{ id: "n", url: `rtmp://127.0.0.1:${trapPort}/live/notgranted` }], { token });
    const failed = await c.waitFor("destination", (m) => m.id === "n" && m.state === "failed");
    expect(failed.code).toBe("DEST_NOT_ALLOWED");
    expect(failed.message).toMatch(/not allowed/);
    const err = await c.waitFor("error");
    expect(err).toMatchObject({ code: "DEST_NOT_ALLOWED", fatal: true });
    expect((await c.closed).code).toBe(CloseCode.Forbidden);
    expect(trapConnections).toBe(0);
  });

  it("a token for another destination next to a granted one: only that one fails; the granted one publishes", async () => {
    const token = await mintToken(SECRET, { dst: [{ id: "n", url: `${nginx.rtmpUrl()}/mixed` }] });
    const c = await startOn(tokenBridge, [
      { id: "n", url: `${nginx.rtmpUrl()}/mixed` },
      { id: "x", url: `rtmp://127.0.0.1:${trapPort}/live/mixed` },
    ], { token });
    const failed = await c.waitFor("destination", (m) => m.id === "x" && m.state === "failed");
    expect(failed.code).toBe("DEST_NOT_ALLOWED");
    await publishAll(c);
    expect(c.finalStates()).toEqual({ n: "ended", x: "failed" });
    expect(trapConnections).toBe(0);
    await expectRecordingAtNginx("mixed");
  });

  it("record without rec in the grant -> RECORD_NOT_ALLOWED, close 4003 (also when record is left to its default)", async () => {
    const token = await mintToken(SECRET, { dst: [{ id: "n", url: `${nginx.rtmpUrl()}/norec` }] });
    const explicit = await startOn(tokenBridge, [{ id: "n", url: `${nginx.rtmpUrl()}/norec` }], { token, record: true });
    await expectFatal(explicit, "RECORD_NOT_ALLOWED", CloseCode.Forbidden);
    const byDefault = await startOn(tokenBridge, [], { token });
    await expectFatal(byDefault, "RECORD_NOT_ALLOWED", CloseCode.Forbidden);
  });

  it("record with rec in the grant records on the bridge", async () => {
    const token = await mintToken(SECRET, { rec: true });
    const c = await startOn(tokenBridge, [], { token, record: true });
    const accepted = await c.waitFor("accepted");
    await publishAll(c);
    const probe = await ffprobeFrames(join(recordDir, accepted.recording!));
    expect(probe.counts).toEqual({ video: media.counts.video, audio: media.counts.audio });
  });

  it("a valid signed token publishes to nginx-rtmp; the recording there is complete", async () => {
    const token = await mintToken(SECRET, { dst: [{ id: "n", url: `${nginx.rtmpUrl()}/signed-ok` }] }, { subject: "alice" });
    const c = await startOn(tokenBridge, [{ id: "n", url: `${nginx.rtmpUrl()}/signed-ok` }], { token });
    await publishAll(c);
    expect(c.messages.some((m) => m.type === "destination" && m.id === "n" && m.state === "live")).toBe(true);
    expect(c.finalStates()).toEqual({ n: "ended" });
    await expectRecordingAtNginx("signed-ok");
  });

  it("a signed token's allow pattern grants a URL the client names", async () => {
    const token = await mintToken(SECRET, { allow: [`${nginx.rtmpUrl()}/pattern-*`] });
    const c = await startOn(tokenBridge, [{ id: "n", url: `${nginx.rtmpUrl()}/pattern-ok` }], { token });
    await publishAll(c);
    expect(c.finalStates()).toEqual({ n: "ended" });
    await expectRecordingAtNginx("pattern-ok");
  });

  it("a sealed token carries the destination and its key: the client names only the id, and never sees the key", async () => {
    const streamKey = `sealed-${Date.now().toString(36)}-Kq9xZ`;
    const token = await mintToken(SECRET, { dst: [{ id: "yt", url: nginx.rtmpUrl("live"), key: streamKey }] }, { sealed: true });
    expect(token).not.toContain(streamKey);
    const c = await WireTestClient.connect(tokenBridge.ingestUrl);
    // Exactly what a page would send: no url, no key.
    c.sendRaw(JSON.stringify({ type: "start", version: 1, token, destinations: [{ id: "yt" }] }));
    const accepted = await c.waitFor("accepted");
    expect(accepted.destinations).toEqual([{ id: "yt", url: `${nginx.rtmpUrl("live")}/****` }]);
    c.sendConfigs(media);
    await c.sendFrames(media.frames);
    await c.waitFor("stats", (m) => m.framesIn > 0 && m.destinations.some((d) => d.id === "yt" && d.framesSent > 0));
    c.send({ type: "stop" });
    await c.waitFor("ended", () => true, 30_000);
    expect((await c.closed).code).toBe(CloseCode.Normal);
    expect(c.finalStates()).toEqual({ yt: "ended" });
    const seen: BridgeMessage["type"][] = c.messages.map((m) => m.type);
    expect(seen).toEqual(expect.arrayContaining(["accepted", "destination", "stats", "ended"]));
    expect(JSON.stringify(c.messages)).not.toContain(streamKey);
    await expectRecordingAtNginx(streamKey);
  });
});

describe("bridge with --allow-destination", () => {
  it("a URL matching a pattern publishes to nginx-rtmp", async () => {
    const c = await startOn(allowBridge, [{ id: "n", url: `${nginx.rtmpUrl("live")}/allowed-ok` }]);
    await publishAll(c);
    expect(c.finalStates()).toEqual({ n: "ended" });
    await expectRecordingAtNginx("allowed-ok");
  });

  it("a URL matching no pattern fails DEST_NOT_ALLOWED (4003 when alone) and is never connected to", async () => {
    for (const url of [`rtmp://127.0.0.1:${trapPort}/live/k`, `${nginx.rtmpUrl("other")}/k`]) {
      const c = await startOn(allowBridge, [{ id: "n", url }]);
      const failed = await c.waitFor("destination", (m) => m.state === "failed");
      expect(failed).toMatchObject({ id: "n", code: "DEST_NOT_ALLOWED" });
      expect(failed.message).toMatch(/matches no allowed destination pattern/);
      expect((await c.closed).code).toBe(CloseCode.Forbidden);
    }
    expect(trapConnections).toBe(0);
    // nginx-rtmp logs every RTMP connect (the control: earlier publishes to app "live" are there).
    expect(nginx.logs()).toMatch(/connect: app='live'/);
    expect(nginx.logs()).not.toMatch(/connect: app='other'/);
  });

  it("the allowlist grants no recording on the bridge: RECORD_NOT_ALLOWED", async () => {
    const c = await startOn(allowBridge, [{ id: "n", url: `${nginx.rtmpUrl("live")}/allowed-rec` }], { record: true });
    await expectFatal(c, "RECORD_NOT_ALLOWED", CloseCode.Forbidden);
  });
});
