/**
 * The test clip, written in TypeScript (no ffmpeg needed): a Y4M video and a
 * WAV audio file for Chromium's file-fed fake camera and microphone.
 *
 * Video: dark grey frames with the frame number drawn in seven-segment digits,
 * and a white frame on every whole second (frame % fps == 0).
 * Audio: a quiet 440 Hz tone (so a gap is measurable) with a 1 kHz beep for
 * the first 100 ms of every whole second, i.e. starting on the flash frame.
 *
 * Chromium loops both files. With whole seconds and a 440 Hz tone, the loop
 * point falls on a whole cycle: no click. Note that Chromium's file-fed fake
 * camera is paced by its own timer, not by the audio clock: measured here it
 * runs about 1 % slow against the fake microphone, so over a long broadcast
 * the flash drifts against the beep. The synthetic source
 * ({@link syntheticMediaScript}) has no such drift: prefer it for sync checks.
 */
import { mkdir, open } from "node:fs/promises";
import { join } from "node:path";

/** What {@link makeTestClip} makes. */
export interface TestClipOptions {
  /** Picture size (default 640x360; both even). */
  width?: number;
  height?: number;
  /** Frames per second (default 30). */
  fps?: number;
  /** Length in whole seconds before Chromium loops it (default 2). */
  seconds?: number;
  /** Audio sample rate (default 48000). */
  sampleRate?: number;
}

/** The clip's two files. */
export interface TestClip {
  /** YUV4MPEG2 file for `--use-file-for-fake-video-capture`. */
  readonly video: string;
  /** 16-bit stereo WAV for `--use-file-for-fake-audio-capture`. */
  readonly audio: string;
  readonly width: number;
  readonly height: number;
  readonly fps: number;
  readonly seconds: number;
}

/** Luma of the background, the flash and the digits. */
const BACKGROUND_Y = 48;
const FLASH_Y = 235;
const DIGIT_Y = 210;

/**
 * Segments of each digit, in the order a b c d e f g (top, top right, bottom
 * right, bottom, bottom left, top left, middle).
 */
const SEGMENTS: readonly string[] = ["1111110", "0110000", "1101101", "1111001", "0110011", "1011011", "1011111", "1110000", "1111111", "1111011"];

/** Fills a rectangle of the luma plane, clipped to the picture. */
function fillLuma(plane: Uint8Array, width: number, height: number, x: number, y: number, w: number, h: number, value: number): void {
  const x0 = Math.max(0, x);
  const x1 = Math.min(width, x + w);
  for (let row = Math.max(0, y); row < Math.min(height, y + h); row++) plane.fill(value, row * width + x0, row * width + x1);
}

/** Draws `text` (digits only) in seven segments with its top left at (x, y); `size` is a digit's height. */
function drawDigits(plane: Uint8Array, width: number, height: number, text: string, x: number, y: number, size: number): void {
  const t = Math.max(2, Math.round(size / 8)); // stroke
  const w = Math.round(size / 2);
  const half = Math.round(size / 2);
  let cx = x;
  for (const ch of text) {
    const segs = SEGMENTS[ch.charCodeAt(0) - 48];
    if (segs) {
      const on = (i: number): boolean => segs[i] === "1";
      if (on(0)) fillLuma(plane, width, height, cx, y, w, t, DIGIT_Y);
      if (on(1)) fillLuma(plane, width, height, cx + w - t, y, t, half, DIGIT_Y);
      if (on(2)) fillLuma(plane, width, height, cx + w - t, y + half, t, size - half, DIGIT_Y);
      if (on(3)) fillLuma(plane, width, height, cx, y + size - t, w, t, DIGIT_Y);
      if (on(4)) fillLuma(plane, width, height, cx, y + half, t, size - half, DIGIT_Y);
      if (on(5)) fillLuma(plane, width, height, cx, y, t, half, DIGIT_Y);
      if (on(6)) fillLuma(plane, width, height, cx, y + half - Math.floor(t / 2), w, t, DIGIT_Y);
    }
    cx += w + t * 2;
  }
}

function positive(name: string, value: number, even = false): number {
  if (!Number.isInteger(value) || value <= 0 || (even && value % 2 !== 0)) throw new RangeError(`makeTestClip: ${name} must be a positive ${even ? "even " : ""}integer, got ${value}`);
  return value;
}

/**
 * Writes `clip.y4m` and `clip.wav` into `dir` (created if missing) and
 * returns their paths. 640x360 at 30 fps for 2 s is about 21 MB of video.
 */
export async function makeTestClip(dir: string, options: TestClipOptions = {}): Promise<TestClip> {
  const width = positive("width", options.width ?? 640, true);
  const height = positive("height", options.height ?? 360, true);
  const fps = positive("fps", options.fps ?? 30);
  const seconds = positive("seconds", options.seconds ?? 2);
  const sampleRate = positive("sampleRate", options.sampleRate ?? 48000);
  await mkdir(dir, { recursive: true });
  const video = join(dir, "clip.y4m");
  const audio = join(dir, "clip.wav");

  // Video: 4:2:0, full-range chroma siting as ffmpeg writes it ("C420jpeg").
  const ySize = width * height;
  const cSize = (width / 2) * (height / 2);
  const frame = new Uint8Array(ySize + 2 * cSize);
  frame.fill(128, ySize); // neutral chroma
  const luma = frame.subarray(0, ySize);
  const digitSize = Math.max(16, Math.round(height / 6));
  const out = await open(video, "w");
  try {
    await out.write(`YUV4MPEG2 W${width} H${height} F${fps}:1 Ip A1:1 C420jpeg\n`);
    for (let n = 0; n < fps * seconds; n++) {
      luma.fill(n % fps === 0 ? FLASH_Y : BACKGROUND_Y);
      drawDigits(luma, width, height, String(n), Math.round(digitSize / 3), Math.round(digitSize / 3), digitSize);
      await out.write("FRAME\n");
      await out.write(frame);
    }
  } finally {
    await out.close();
  }

  // Audio: 16-bit stereo PCM.
  const samples = sampleRate * seconds;
  const wav = Buffer.alloc(44 + samples * 4);
  wav.write("RIFF", 0, "ascii");
  wav.writeUInt32LE(36 + samples * 4, 4);
  wav.write("WAVEfmt ", 8, "ascii");
  wav.writeUInt32LE(16, 16);
  wav.writeUInt16LE(1, 20); // PCM
  wav.writeUInt16LE(2, 22); // channels
  wav.writeUInt32LE(sampleRate, 24);
  wav.writeUInt32LE(sampleRate * 4, 28);
  wav.writeUInt16LE(4, 32);
  wav.writeUInt16LE(16, 34);
  wav.write("data", 36, "ascii");
  wav.writeUInt32LE(samples * 4, 40);
  const beepSamples = Math.round(sampleRate / 10);
  for (let i = 0; i < samples; i++) {
    const t = i / sampleRate;
    let v = 0.2 * Math.sin(2 * Math.PI * 440 * t);
    if (i % sampleRate < beepSamples) v += 0.6 * Math.sin(2 * Math.PI * 1000 * t);
    const s = Math.max(-32768, Math.min(32767, Math.round(v * 32767)));
    wav.writeInt16LE(s, 44 + i * 4);
    wav.writeInt16LE(s, 46 + i * 4);
  }
  const w = await open(audio, "w");
  try {
    await w.write(wav);
  } finally {
    await w.close();
  }
  return { video, audio, width, height, fps, seconds };
}
