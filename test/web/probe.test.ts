/**
 * web/sdk/probe.ts: decideSupport, the pure decision from what the probes
 * found to the paths a browser goes live with (or the reason it cannot),
 * one engine per case, and videoEncoderConfig, the config WebCodecs is
 * asked about.
 */
import { describe, expect, it } from "vitest";
import { decideSupport, videoEncoderConfig, type EngineCapabilities } from "../../web/sdk/probe.js";
import { PRESETS } from "../../web/sdk/presets.js";

/** Nothing at all; each case below spells out what its engine has. */
const NOTHING: EngineCapabilities = {
  videoEncoder: false,
  videoEncoderH264: false,
  trackProcessor: false,
  workerTrackProcessor: false,
  videoElementCapture: false,
  recorderH264: undefined,
  recorderH264Aac: undefined,
  audioEncoderAac: false,
  audioWorklet: false,
  webAssembly: false,
  webSocket: false,
};

/** Linux Chromium 156 (no platform AAC encoder). */
const CHROMIUM_LINUX: EngineCapabilities = {
  videoEncoder: true,
  videoEncoderH264: true,
  trackProcessor: true,
  workerTrackProcessor: false,
  videoElementCapture: true,
  recorderH264: "video/x-matroska;codecs=avc1",
  recorderH264Aac: "video/mp4;codecs=avc1,mp4a.40.2",
  audioEncoderAac: false,
  audioWorklet: true,
  webAssembly: true,
  webSocket: true,
};

/** Firefox 153 ESR: WebCodecs H.264, no MediaStreamTrackProcessor, no AAC encoder, no H.264 MediaRecorder. */
const FIREFOX: EngineCapabilities = {
  videoEncoder: true,
  videoEncoderH264: true,
  trackProcessor: false,
  workerTrackProcessor: false,
  videoElementCapture: true,
  recorderH264: undefined,
  recorderH264Aac: undefined,
  audioEncoderAac: false,
  audioWorklet: true,
  webAssembly: true,
  webSocket: true,
};

/** WebKitGTK 2.50 / Safari desktop without a track processor in workers. */
const WEBKIT: EngineCapabilities = {
  videoEncoder: true,
  videoEncoderH264: true,
  trackProcessor: false,
  workerTrackProcessor: false,
  videoElementCapture: true,
  recorderH264: "video/mp4;codecs=avc1",
  recorderH264Aac: "video/mp4;codecs=avc1,mp4a.40.2",
  audioEncoderAac: true,
  audioWorklet: true,
  webAssembly: true,
  webSocket: true,
};

/** Older Safari: MediaRecorder MP4 with H.264 and AAC, no WebCodecs. */
const OLD_SAFARI: EngineCapabilities = {
  videoEncoder: false,
  videoEncoderH264: false,
  trackProcessor: false,
  workerTrackProcessor: false,
  videoElementCapture: false,
  recorderH264: "video/mp4;codecs=avc1",
  recorderH264Aac: "video/mp4;codecs=avc1,mp4a.40.2",
  audioEncoderAac: false,
  audioWorklet: true,
  webAssembly: true,
  webSocket: true,
};

const Q1080P60 = { width: 1920, height: 1080, framerate: 60, bitrate: 7_500_000 };

describe("decideSupport", () => {
  it("Linux Chromium 156: WebCodecs video and sound from track processors, golive's wasm AAC", () => {
    expect(decideSupport(CHROMIUM_LINUX)).toEqual({
      canGoLive: true,
      video: { encoder: "webcodecs", capture: "track-processor" },
      audio: { encoder: "wasm", capture: "track-processor" },
    });
  });

  it("Firefox 153 ESR: WebCodecs video from a <video> element, golive's wasm AAC from an AudioWorklet", () => {
    expect(decideSupport(FIREFOX)).toEqual({
      canGoLive: true,
      video: { encoder: "webcodecs", capture: "video-element" },
      audio: { encoder: "wasm", capture: "audio-worklet" },
    });
  });

  it("the application's audioEncoder choice: ffmpeg.wasm only when asked; WebCodecs asked for where it has no AAC is refused", () => {
    expect(decideSupport(CHROMIUM_LINUX, true, undefined, "ffmpeg")).toMatchObject({ canGoLive: true, audio: { encoder: "ffmpeg" } });
    expect(decideSupport(WEBKIT, true, undefined, "wasm")).toMatchObject({ canGoLive: true, audio: { encoder: "wasm" } });
    expect(decideSupport(WEBKIT, true, undefined, "auto")).toMatchObject({ canGoLive: true, audio: { encoder: "webcodecs" } });
    expect(decideSupport(CHROMIUM_LINUX, true, undefined, "webcodecs")).toMatchObject({ canGoLive: false, code: "AAC_UNSUPPORTED" });
    expect(decideSupport({ ...CHROMIUM_LINUX, webAssembly: false }, true, undefined, "wasm")).toMatchObject({ canGoLive: false, code: "AAC_UNSUPPORTED" });
  });

  it("WebKitGTK 2.50 / Safari desktop without a worker track processor: WebCodecs video from a <video> element, WebCodecs AAC", () => {
    expect(decideSupport(WEBKIT)).toEqual({
      canGoLive: true,
      video: { encoder: "webcodecs", capture: "video-element" },
      audio: { encoder: "webcodecs", capture: "audio-worklet" },
    });
  });

  it("Safari on macOS/iOS with MediaStreamTrackProcessor only in workers: the worker track processor", () => {
    expect(decideSupport({ ...WEBKIT, workerTrackProcessor: true })).toEqual({
      canGoLive: true,
      video: { encoder: "webcodecs", capture: "worker-track-processor" },
      audio: { encoder: "webcodecs", capture: "audio-worklet" },
    });
  });

  it("older Safari without WebCodecs: MediaRecorder records H.264 and AAC together", () => {
    expect(decideSupport(OLD_SAFARI)).toEqual({
      canGoLive: true,
      video: { encoder: "mediarecorder", capture: "mediarecorder", mimeType: "video/mp4;codecs=avc1,mp4a.40.2" },
      audio: { encoder: "mediarecorder", capture: "mediarecorder" },
    });
  });

  it("older Safari without WebCodecs, no sound: MediaRecorder records H.264 alone", () => {
    expect(decideSupport(OLD_SAFARI, false)).toEqual({
      canGoLive: true,
      video: { encoder: "mediarecorder", capture: "mediarecorder", mimeType: "video/mp4;codecs=avc1" },
      audio: null,
    });
  });

  it("Chromium with VideoEncoder deleted and no MP4 recorder: MediaRecorder Matroska H.264, sound from the wasm AAC encoder and the track processor", () => {
    const caps: EngineCapabilities = { ...CHROMIUM_LINUX, videoEncoder: false, videoEncoderH264: false, recorderH264Aac: undefined };
    expect(decideSupport(caps)).toEqual({
      canGoLive: true,
      video: { encoder: "mediarecorder", capture: "mediarecorder", mimeType: "video/x-matroska;codecs=avc1" },
      audio: { encoder: "wasm", capture: "track-processor" },
    });
  });

  it("no VideoEncoder and no H.264 MediaRecorder: UNSUPPORTED_BROWSER, naming H.264", () => {
    const caps: EngineCapabilities = { ...NOTHING, videoElementCapture: true, audioWorklet: true, webAssembly: true, webSocket: true };
    const support = decideSupport(caps);
    expect(support).toEqual({ canGoLive: false, code: "UNSUPPORTED_BROWSER", reason: expect.stringContaining("H.264") as unknown });
  });

  it("a VideoEncoder that refuses H.264 at the quality asked for: H264_UNSUPPORTED, naming the size", () => {
    const caps: EngineCapabilities = { ...FIREFOX, videoEncoderH264: false };
    const support = decideSupport(caps, true, Q1080P60);
    expect(support).toEqual({ canGoLive: false, code: "H264_UNSUPPORTED", reason: expect.stringContaining("1920x1080") as unknown });
    expect(support.canGoLive === false && support.reason).toContain("60 fps");
  });

  it("a VideoEncoder that refuses H.264 with no quality given: H264_UNSUPPORTED without a size", () => {
    const support = decideSupport({ ...FIREFOX, videoEncoderH264: false });
    expect(support).toEqual({ canGoLive: false, code: "H264_UNSUPPORTED", reason: expect.stringContaining("H.264") as unknown });
    expect(support.canGoLive === false && support.reason).not.toMatch(/\d+x\d+/);
  });

  it("no WebSocket: UNSUPPORTED_BROWSER", () => {
    const support = decideSupport({ ...CHROMIUM_LINUX, webSocket: false });
    expect(support).toEqual({ canGoLive: false, code: "UNSUPPORTED_BROWSER", reason: expect.stringContaining("WebSocket") as unknown });
  });

  it("sound wanted with WebCodecs video and no AudioWorklet: UNSUPPORTED_BROWSER, naming AudioWorklet", () => {
    const support = decideSupport({ ...FIREFOX, audioWorklet: false });
    expect(support).toEqual({ canGoLive: false, code: "UNSUPPORTED_BROWSER", reason: expect.stringContaining("AudioWorklet") as unknown });
  });

  it("sound wanted with no AAC encoder and no WebAssembly: AAC_UNSUPPORTED", () => {
    const support = decideSupport({ ...CHROMIUM_LINUX, audioEncoderAac: false, webAssembly: false });
    expect(support).toEqual({ canGoLive: false, code: "AAC_UNSUPPORTED", reason: expect.stringContaining("AAC") as unknown });
  });

  it("no sound: audio is null even where AAC cannot be made", () => {
    const caps: EngineCapabilities = { ...CHROMIUM_LINUX, audioEncoderAac: false, webAssembly: false, audioWorklet: false };
    expect(decideSupport(caps, false)).toEqual({
      canGoLive: true,
      video: { encoder: "webcodecs", capture: "track-processor" },
      audio: null,
    });
  });
});

describe("videoEncoderConfig", () => {
  it("720p30: Constrained Baseline level 3.1, realtime, constant bitrate, avc format", () => {
    expect(videoEncoderConfig(PRESETS["720p30"])).toEqual({
      codec: "avc1.42e01f",
      width: 1280,
      height: 720,
      bitrate: 3_000_000,
      framerate: 30,
      latencyMode: "realtime",
      bitrateMode: "constant",
      avc: { format: "avc" },
    });
  });

  it("a bitrate argument overrides the preset's", () => {
    const config = videoEncoderConfig(PRESETS["720p30"], 1_000_000);
    expect(config.bitrate).toBe(1_000_000);
    expect(config).toEqual({ ...videoEncoderConfig(PRESETS["720p30"]), bitrate: 1_000_000 });
  });
});
