/**
 * parseRtmpUrl: the ingest URLs people paste (YouTube, Facebook, Twitch),
 * the app/instance form, the separate stream key field, every malformed
 * input as RTMP_BAD_URL, and the stream key kept out of every printable form.
 */
import { inspect } from "node:util";
import { describe, expect, it } from "vitest";
import { RtmpError, RtmpErrorCode } from "../../server/rtmp/rtmp-errors.js";
import { parseRtmpUrl, redact, RtmpUrl } from "../../server/rtmp/rtmp-url.js";

/** A key that cannot appear by accident in any message. */
const KEY = "sk-9f3c2a7e-b41d";

/** The RtmpError parseRtmpUrl throws for `input`; fails the test if it does not throw one. */
function urlError(input: string, streamKey?: string): RtmpError {
  try {
    parseRtmpUrl(input, streamKey);
  } catch (err) {
    expect(err).toBeInstanceOf(RtmpError);
    return err as RtmpError;
  }
  throw new Error(`parseRtmpUrl accepted ${JSON.stringify(input)}`);
}

describe("parseRtmpUrl: real ingest URLs", () => {
  it("YouTube: rtmp://a.rtmp.youtube.com/live2/KEY", () => {
    const url = parseRtmpUrl(`rtmp://a.rtmp.youtube.com/live2/${KEY}`);
    expect(url).toBeInstanceOf(RtmpUrl);
    expect(url.scheme).toBe("rtmp");
    expect(url.tls).toBe(false);
    expect(url.host).toBe("a.rtmp.youtube.com");
    expect(url.port).toBe(1935);
    expect(url.app).toBe("live2");
    expect(url.streamName).toBe(KEY);
    expect(url.tcUrl).toBe("rtmp://a.rtmp.youtube.com/live2");
    expect(url.redacted).toBe("rtmp://a.rtmp.youtube.com/live2/****");
  });

  it("Facebook: rtmps on :443 keeps the query in the stream name", () => {
    const url = parseRtmpUrl(`rtmps://live-api-s.facebook.com:443/rtmp/${KEY}?s_bl=1&s_sc=x`);
    expect(url.scheme).toBe("rtmps");
    expect(url.tls).toBe(true);
    expect(url.host).toBe("live-api-s.facebook.com");
    expect(url.port).toBe(443);
    expect(url.app).toBe("rtmp");
    expect(url.streamName).toBe(`${KEY}?s_bl=1&s_sc=x`);
    expect(url.tcUrl).toBe("rtmps://live-api-s.facebook.com:443/rtmp");
  });

  it("rtmps without a port defaults to 443 and leaves tcUrl without one", () => {
    const url = parseRtmpUrl(`rtmps://live-api-s.facebook.com/rtmp/${KEY}`);
    expect(url.port).toBe(443);
    expect(url.tcUrl).toBe("rtmps://live-api-s.facebook.com/rtmp");
  });

  it("Twitch: rtmp://live.twitch.tv/app/KEY", () => {
    const url = parseRtmpUrl(`rtmp://live.twitch.tv/app/${KEY}`);
    expect(url.host).toBe("live.twitch.tv");
    expect(url.port).toBe(1935);
    expect(url.app).toBe("app");
    expect(url.streamName).toBe(KEY);
    expect(url.tcUrl).toBe("rtmp://live.twitch.tv/app");
  });

  it("an IPv6 literal with a port: host without brackets, tcUrl with them", () => {
    const url = parseRtmpUrl("rtmp://[::1]:1936/live/k");
    expect(url.host).toBe("::1");
    expect(url.port).toBe(1936);
    expect(url.app).toBe("live");
    expect(url.streamName).toBe("k");
    expect(url.tcUrl).toBe("rtmp://[::1]:1936/live");
  });

  it("app/instance form: three segments make app 'app/inst'", () => {
    const url = parseRtmpUrl("rtmp://h/app/inst/key");
    expect(url.host).toBe("h");
    expect(url.app).toBe("app/inst");
    expect(url.streamName).toBe("key");
    expect(url.tcUrl).toBe("rtmp://h/app/inst");
  });

  it("an explicit port other than the default is kept in tcUrl", () => {
    const url = parseRtmpUrl("rtmp://127.0.0.1:19350/live/abc");
    expect(url.host).toBe("127.0.0.1");
    expect(url.port).toBe(19350);
    expect(url.tcUrl).toBe("rtmp://127.0.0.1:19350/live");
  });

  it("scheme and host are case-insensitive, the key is not", () => {
    const url = parseRtmpUrl("RTMP://Live.Twitch.TV/app/MiXeD");
    expect(url.scheme).toBe("rtmp");
    expect(url.host).toBe("live.twitch.tv");
    expect(url.streamName).toBe("MiXeD");
  });

  it("surrounding whitespace from a paste is ignored", () => {
    const url = parseRtmpUrl(`  rtmp://live.twitch.tv/app/${KEY}\n`);
    expect(url.streamName).toBe(KEY);
  });
});

describe("parseRtmpUrl: a separate stream key", () => {
  it("appends the key to the server URL (YouTube's 'Stream URL' + 'Stream key')", () => {
    const url = parseRtmpUrl("rtmp://a.rtmp.youtube.com/live2", KEY);
    expect(url.app).toBe("live2");
    expect(url.streamName).toBe(KEY);
    expect(url.tcUrl).toBe("rtmp://a.rtmp.youtube.com/live2");
  });

  it("takes the whole path as the app, instance included", () => {
    const url = parseRtmpUrl("rtmp://h/app/inst/", KEY);
    expect(url.app).toBe("app/inst");
    expect(url.streamName).toBe(KEY);
  });

  it("keeps a query that is part of the key", () => {
    const url = parseRtmpUrl("rtmps://live-api-s.facebook.com:443/rtmp/", `${KEY}?s_bl=1`);
    expect(url.streamName).toBe(`${KEY}?s_bl=1`);
    expect(url.port).toBe(443);
  });

  it("refuses an empty key and a server URL without an app", () => {
    expect(urlError("rtmp://h/live", "  ").message).toMatch(/stream key is empty/);
    expect(urlError("rtmp://h/", KEY).message).toMatch(/no application/);
  });
});

describe("parseRtmpUrl: malformed URLs are RTMP_BAD_URL with a clear message", () => {
  const cases: [what: string, input: string, message: RegExp][] = [
    ["no scheme", `a.rtmp.youtube.com/live2/${KEY}`, /not a URL.*rtmp:\/\/host\/app\/streamKey/],
    ["http://", `http://example.com/live/${KEY}`, /unsupported scheme "http:\/\/"/],
    ["https://", `https://example.com/live/${KEY}`, /unsupported scheme "https:\/\/"/],
    ["no host", `rtmp:///live/${KEY}`, /no host/],
    ["port 0", `rtmp://h:0/live/${KEY}`, /port must be 1\.\.65535/],
    ["port 65536", `rtmp://h:65536/live/${KEY}`, /port must be 1\.\.65535/],
    ["port abc", `rtmp://h:abc/live/${KEY}`, /port/],
    ["empty port", `rtmp://h:/live/${KEY}`, /empty port/],
    ["no app", "rtmp://h/", /no application/],
    ["no app, no slash", "rtmp://h", /no application/],
    ["no key", "rtmp://h/live", /no stream key/],
    ["no key, trailing slash", "rtmp://h/live/", /no stream key/],
    ["user:pass@", `rtmp://user:pass@h/live/${KEY}`, /user name or password/],
    ["a space in the host", `rtmp://ho st/live/${KEY}`, /host/],
    ["a space in the app", `rtmp://h/li ve/${KEY}`, /control characters or spaces/],
    ["a space in the key", `rtmp://h/live/${KEY} x`, /control characters or spaces/],
    ["a tab in the key", `rtmp://h/live/${KEY}\tx`, /control characters or spaces/],
    ["a NUL in the key", `rtmp://h/live/${KEY}\u0000`, /control characters or spaces/],
    ["DEL in the query", `rtmp://h/live/${KEY}?a=\u007f`, /control characters or spaces/],
    ["a newline in the app", `rtmp://h/li\nve/${KEY}`, /control characters or spaces/],
    ["IPv6 without closing bracket", `rtmp://[::1/live/${KEY}`, /host/],
  ];

  it.each(cases)("%s", (_what, input, message) => {
    const err = urlError(input);
    expect(err.code).toBe(RtmpErrorCode.BadUrl);
    expect(err.message).toMatch(message);
    expect(err.message).not.toContain(KEY);
  });

  it("YouTube's backup ingest: a query on the server URL stays with the app when the key is separate", () => {
    const url = parseRtmpUrl("rtmp://b.rtmp.youtube.com/live2?backup=1", KEY);
    expect(url.app).toBe("live2?backup=1");
    expect(url.tcUrl).toBe("rtmp://b.rtmp.youtube.com/live2?backup=1");
    expect(url.streamName).toBe(KEY);
    expect(url.redacted).not.toContain(KEY);
  });

  it("a space inside a separately given key is refused too", () => {
    expect(urlError("rtmp://h/live", `${KEY} x`).code).toBe(RtmpErrorCode.BadUrl);
  });

  it("a non-string is API misuse: TypeError", () => {
    expect(() => parseRtmpUrl(42 as unknown as string)).toThrow(TypeError);
  });
});

describe("RtmpUrl never shows the stream key", () => {
  const url = parseRtmpUrl(`rtmps://live-api-s.facebook.com:443/rtmp/${KEY}?s_bl=1`);

  it("String(), template literals and concatenation give the redacted URL", () => {
    expect(String(url)).toBe("rtmps://live-api-s.facebook.com:443/rtmp/****");
    expect(`${url.toString()}`).not.toContain(KEY);
    expect("url=" + String(url)).not.toContain(KEY);
  });

  it("JSON.stringify gives the redacted URL, also nested", () => {
    expect(JSON.stringify(url)).toBe('"rtmps://live-api-s.facebook.com:443/rtmp/****"');
    expect(JSON.stringify({ dest: url })).not.toContain(KEY);
  });

  it("util.inspect (console.log) gives the redacted URL, also nested and deep", () => {
    expect(inspect(url)).toBe("RtmpUrl(rtmps://live-api-s.facebook.com:443/rtmp/****)");
    expect(inspect({ a: { b: { url } } }, { depth: 10, showHidden: true })).not.toContain(KEY);
  });

  it("enumerating the object shows no key", () => {
    expect(Object.values(url).join(" ")).not.toContain(KEY);
    expect(JSON.stringify({ ...url })).not.toContain(KEY);
  });

  it("only streamName gives the key", () => {
    expect(url.streamName).toBe(`${KEY}?s_bl=1`);
  });

  it("redact() scrubs every occurrence, and leaves text alone for an empty secret", () => {
    expect(redact(`a ${KEY} b ${KEY}`, KEY)).toBe("a **** b ****");
    expect(redact("abc", "")).toBe("abc");
  });
});
