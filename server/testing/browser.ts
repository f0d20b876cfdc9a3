/**
 * Browser setup for testing a go-live flow: Chromium flags for fake camera
 * and microphone (Chromium's own pattern, or the kit's clip), where to find a
 * Chromium, and a synthetic camera + microphone installed in the page that
 * draws picture and sound from one clock.
 */
import { existsSync } from "node:fs";
import type { TestClip } from "./clip.js";

/** Which media the app under test gets from getUserMedia. */
export type FakeMediaKind =
  /**
   * The kit's synthetic source, installed in the page: getUserMedia answers
   * with a canvas (frame counter, white flash each second) and a WebAudio
   * tone (440 Hz, a 1 kHz beep on each flash), both timed by the
   * AudioContext's clock, so the A/V offset that arrives is golive's alone.
   * Works in any browser. The default.
   */
  | "synthetic"
  /** Chromium's fake devices fed the kit's clip (see makeTestClip); about 1 % video drift against audio, measured. */
  | "clip"
  /** Chromium's built-in fake devices (its own pattern and beep); no flash to measure sync by. */
  | "chromium";

/** Flags for fake devices in Chromium. */
export interface FakeMediaArgsOptions {
  /** Frame rate of the fake camera (default 30). */
  fps?: number;
  /** The clip to play (kind "clip"). */
  clip?: Pick<TestClip, "video" | "audio">;
}

/**
 * Chromium command-line flags for a fake camera and microphone that need no
 * permission prompt, at `fps` (`--use-fake-device-for-media-stream=fps=N`;
 * without it the fake camera runs at 20 fps), optionally fed from a clip, and
 * autoplay without a gesture (for previews and AudioContexts).
 */
export function fakeMediaArgs(options: FakeMediaArgsOptions = {}): string[] {
  const fps = options.fps ?? 30;
  if (!Number.isInteger(fps) || fps <= 0 || fps > 120) throw new RangeError(`fakeMediaArgs: fps must be an integer in 1..120, got ${fps}`);
  const args = ["--use-fake-ui-for-media-stream", `--use-fake-device-for-media-stream=fps=${fps}`, "--autoplay-policy=no-user-gesture-required"];
  if (options.clip) args.push(`--use-file-for-fake-video-capture=${options.clip.video}`, `--use-file-for-fake-audio-capture=${options.clip.audio}`);
  return args;
}

/** Where system Chromium builds live on Linux and macOS. */
const SYSTEM_CHROMIUMS = [
  "/usr/bin/chromium",
  "/usr/bin/chromium-browser",
  "/usr/bin/google-chrome",
  "/usr/bin/google-chrome-stable",
  "/snap/bin/chromium",
  "/Applications/Google Chrome.app/Contents/MacOS/Google Chrome",
  "/Applications/Chromium.app/Contents/MacOS/Chromium",
];

/**
 * The Chromium to launch: `GOLIVE_CHROMIUM` if set, else Playwright's own
 * Chromium when it is installed (`playwrightPath`, from
 * `chromium.executablePath()`), else a system Chromium or Chrome. Undefined
 * when none is found (Playwright then reports its own missing-browser error).
 */
export function findChromium(playwrightPath?: string): string | undefined {
  const env = process.env.GOLIVE_CHROMIUM;
  if (env) {
    if (!existsSync(env)) throw new Error(`GOLIVE_CHROMIUM=${env}: no such file`);
    return env;
  }
  if (playwrightPath && existsSync(playwrightPath)) return playwrightPath;
  return SYSTEM_CHROMIUMS.find((path) => existsSync(path));
}

/** Flags that make headless Chromium quiet and work as root in a container. */
export const QUIET_CHROMIUM_ARGS: readonly string[] = [
  "--no-sandbox",
  "--disable-gpu",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/** Picture of the synthetic source. */
export interface SyntheticMediaOptions {
  /** Default size when the app asks for none (default 1280x720). */
  width?: number;
  height?: number;
  /** Default frame rate (default 30). */
  fps?: number;
}

/**
 * A script for `context.addInitScript` that replaces
 * `navigator.mediaDevices.getUserMedia` (and `getDisplayMedia`) with the
 * synthetic source: picture and sound from one clock, the AudioContext's.
 * Asked-for width/height/frameRate (exact, ideal or plain numbers) are
 * honoured; `audio: false` or `video: false` leave that track out.
 */
export function syntheticMediaScript(options: SyntheticMediaOptions = {}): string {
  const defaults = { width: options.width ?? 1280, height: options.height ?? 720, fps: options.fps ?? 30 };
  return `(${installSyntheticMedia.toString()})(${JSON.stringify(defaults)});`;
}

/**
 * Runs in the page (serialised by syntheticMediaScript): must not refer to
 * anything outside itself.
 */
function installSyntheticMedia(defaults: { width: number; height: number; fps: number }): void {
  const devices = navigator.mediaDevices as MediaDevices | undefined;
  if (!devices) return;
  const pick = (value: unknown, fallback: number): number => {
    if (typeof value === "number") return value;
    if (value && typeof value === "object") {
      const v = value as { exact?: number; ideal?: number; max?: number };
      return v.exact ?? v.ideal ?? v.max ?? fallback;
    }
    return fallback;
  };
  let clock: { ac: AudioContext; t0: number } | undefined;
  const make = (constraints: MediaStreamConstraints | undefined): MediaStream => {
    const wantVideo = constraints?.video !== false && constraints?.video !== undefined;
    const wantAudio = constraints?.audio !== false && constraints?.audio !== undefined;
    const v = typeof constraints?.video === "object" ? constraints.video : {};
    const width = Math.round(pick(v.width, defaults.width));
    const height = Math.round(pick(v.height, defaults.height));
    const fps = pick(v.frameRate, defaults.fps);
    // One clock for every call: apps often ask for the camera and the
    // microphone separately, and their flashes and beeps must still line up.
    clock ??= (() => {
      const context = new AudioContext({ sampleRate: 48000 });
      // Flashes and beeps start on whole seconds of the audio clock.
      return { ac: context, t0: Math.ceil(context.currentTime) + 1 };
    })();
    const { ac, t0 } = clock;
    void ac.resume();
    const stream = new MediaStream();
    if (wantAudio) {
      const dest = ac.createMediaStreamDestination();
      const tone = ac.createOscillator();
      tone.frequency.value = 440;
      const toneGain = ac.createGain();
      toneGain.gain.value = 0.2;
      tone.connect(toneGain).connect(dest);
      const beep = ac.createOscillator();
      beep.frequency.value = 1000;
      const beepGain = ac.createGain();
      beepGain.gain.value = 0;
      beep.connect(beepGain).connect(dest);
      // Schedule an hour of beeps (from now on), two minutes ahead at a time.
      let scheduled = Math.max(0, Math.ceil(ac.currentTime - t0));
      const schedule = (): void => {
        const until = ac.currentTime + 120;
        for (; t0 + scheduled < until && scheduled < 3600; scheduled++) {
          beepGain.gain.setValueAtTime(0.6, t0 + scheduled);
          beepGain.gain.setValueAtTime(0, t0 + scheduled + 0.1);
        }
      };
      schedule();
      setInterval(schedule, 60_000);
      tone.start();
      beep.start();
      for (const track of dest.stream.getAudioTracks()) stream.addTrack(track);
    }
    if (wantVideo) {
      const canvas = document.createElement("canvas");
      canvas.width = width;
      canvas.height = height;
      const ctx = canvas.getContext("2d");
      if (!ctx) throw new DOMException("no 2D canvas for the synthetic camera", "NotReadableError");
      let frame = 0;
      const draw = (): void => {
        const t = ac.currentTime - t0;
        const flash = t >= 0 && t - Math.floor(t) < 0.1; // as long as the beep
        ctx.fillStyle = flash ? "#ffffff" : "#303030";
        ctx.fillRect(0, 0, width, height);
        ctx.fillStyle = "#ffd400";
        ctx.font = `${Math.round(height / 10)}px sans-serif`;
        ctx.fillText(String(frame++), Math.round(height / 30), Math.round(height / 8));
      };
      // requestAnimationFrame for smoothness; a timer too, since rAF stops in a background tab.
      const loop = (): void => {
        draw();
        requestAnimationFrame(loop);
      };
      requestAnimationFrame(loop);
      setInterval(() => {
        if (document.visibilityState === "hidden") draw();
      }, 1000 / fps);
      draw();
      for (const track of canvas.captureStream(fps).getVideoTracks()) stream.addTrack(track);
    }
    return stream;
  };
  const getUserMedia = (constraints?: MediaStreamConstraints): Promise<MediaStream> => Promise.resolve().then(() => make(constraints));
  Object.defineProperty(devices, "getUserMedia", { value: getUserMedia, configurable: true, writable: true });
  Object.defineProperty(devices, "getDisplayMedia", {
    value: (constraints?: MediaStreamConstraints) => getUserMedia({ video: constraints?.video ?? true, audio: constraints?.audio ?? false }),
    configurable: true,
    writable: true,
  });
  (window as unknown as { __goliveSyntheticMedia?: boolean }).__goliveSyntheticMedia = true;
}
