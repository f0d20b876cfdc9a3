/**
 * Keeps ffmpeg.wasm alive for a whole broadcast. ffmpeg.wasm 0.12 leaks
 * WebAssembly stack on every exec(): ffmpeg ends with exit(), which
 * Emscripten implements by throwing, and nothing restores the stack pointer
 * (ffmpegwasm/ffmpeg.wasm#820, #563; the cause in PR #943). With our command
 * an instance traps with "memory access out of bounds" after 147-149 jobs
 * (measured in Chromium whatever the job's length), that is after about 75 s
 * of audio at the default 0.5 s segments. So this runner retires an instance
 * after `jobsPerInstance` jobs, loads its successor in the background
 * `preloadJobs` jobs ahead so that the switch does not stall the stream, and
 * if an instance crashes anyway (AAC_FFMPEG_CRASHED) runs the job again, once,
 * on a fresh one. Pure: instances come from `load`.
 */
import { AacEncoderError, AacErrorCode } from "./errors.js";
import type { AacJobRunner } from "./segmented-encoder.js";

/** When instances are replaced. */
export interface RecyclingOptions {
  /** Jobs one instance runs before it is replaced. Default 100 (it breaks near 148). */
  jobsPerInstance?: number;
  /** Jobs before the replacement at which the next instance starts loading. Default 16 (8 s of audio at 0.5 s per job). */
  preloadJobs?: number;
}

export const DEFAULT_JOBS_PER_INSTANCE = 100;
export const DEFAULT_PRELOAD_JOBS = 16;

/** A runner over a succession of instances: `first`, then whatever `load` gives. */
export function recyclingRunner(load: () => Promise<AacJobRunner>, first: AacJobRunner, options: RecyclingOptions = {}): AacJobRunner & { readonly instances: number } {
  const jobsPerInstance = options.jobsPerInstance ?? DEFAULT_JOBS_PER_INSTANCE;
  const preloadJobs = options.preloadJobs ?? DEFAULT_PRELOAD_JOBS;
  if (!Number.isInteger(jobsPerInstance) || jobsPerInstance < 1) throw new TypeError(`jobsPerInstance must be a positive integer, not ${jobsPerInstance}`);
  if (!Number.isInteger(preloadJobs) || preloadJobs < 0) throw new TypeError(`preloadJobs must be a non-negative integer, not ${preloadJobs}`);

  let active = first;
  let used = 0;
  let instances = 1;
  let closed = false;
  let next: Promise<AacJobRunner> | undefined;

  const preload = (): Promise<AacJobRunner> => {
    if (!next) {
      next = load();
      // Observed here so that a failed preload is not an unhandled rejection; run() awaits it and reports.
      next.catch(() => undefined);
    }
    return next;
  };

  /** Replaces the active instance with the next one. */
  const replace = async (): Promise<void> => {
    const pending = preload();
    next = undefined;
    active.close();
    const fresh = await pending;
    if (closed) {
      fresh.close();
      throw new TypeError("the ffmpeg.wasm runner was closed");
    }
    active = fresh;
    used = 0;
    instances += 1;
  };

  return {
    get instances() {
      return instances;
    },
    async run(pcm, job) {
      if (closed) throw new TypeError("run() on a closed ffmpeg.wasm runner");
      if (used >= jobsPerInstance) await replace();
      used += 1;
      if (used > jobsPerInstance - preloadJobs) void preload();
      try {
        // A copy: the instance transfers its input to the Worker, and a retry needs it again.
        return await active.run(pcm.slice(), job);
      } catch (err) {
        if (!(err instanceof AacEncoderError && err.code === AacErrorCode.FfmpegCrashed) || closed) throw err;
        await replace();
        used += 1;
        return await active.run(pcm, job);
      }
    },
    close() {
      if (closed) return;
      closed = true;
      active.close();
      next?.then((r) => r.close(), () => undefined);
    },
  };
}
