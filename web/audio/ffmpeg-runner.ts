/**
 * The ffmpeg.wasm job runner: @ffmpeg/ffmpeg runs the single-threaded
 * @ffmpeg/core in its own Worker (no SharedArrayBuffer, so no COOP/COEP
 * headers needed). The core (ffmpeg-core.js + the 31 MB ffmpeg-core.wasm,
 * GPL-2.0-or-later, the optional @ffmpeg/core package) is served from the
 * app's own origin, never a CDN: by default from `ffmpeg-core/` next to
 * golive.js (a bridge serving golive's page serves it there when
 * @ffmpeg/core is installed), or from the URLs given. This module is
 * imported dynamically, only for `audioEncoder: "ffmpeg"`.
 *
 * One job: write in.raw (f32le), run
 *   ffmpeg -f f32le -ar R -ac C -i in.raw -c:a aac -b:a B -f adts out.aac
 * read out.aac, delete both. Instances are recycled (recycling-runner.ts):
 * ffmpeg.wasm 0.12 breaks after about 150 exec() calls.
 */
import { FFmpeg } from "@ffmpeg/ffmpeg";
import { AacEncoderError, AacErrorCode } from "./errors.js";
import { recyclingRunner, type RecyclingOptions } from "./recycling-runner.js";
import type { AacJobRunner } from "./segmented-encoder.js";

/**
 * Where ffmpeg.wasm's core is. Both default to `ffmpeg-core/` next to
 * golive.js (from a chunk in assets/: `../ffmpeg-core/`). With a bundler,
 * give them, e.g. in Vite `import coreURL from "@ffmpeg/core?url"`.
 */
export interface FfmpegCoreOptions {
  /** URL of ffmpeg-core.js (the ESM build of @ffmpeg/core). */
  coreURL?: string;
  /** URL of ffmpeg-core.wasm. */
  wasmURL?: string;
}

/**
 * The default core's directory, from this module's chunk (golive.js's
 * assets/). Not a literal in `new URL()`: bundlers must not try to find and
 * copy the 31 MB core at build time.
 */
const CORE_DIR: string = ["..", "ffmpeg-core", ""].join("/");
const CORE_JS = `${CORE_DIR}ffmpeg-core.js`;
const CORE_WASM = `${CORE_DIR}ffmpeg-core.wasm`;

/** Lines of ffmpeg's log kept for error messages. */
const LOG_LINES = 8;

/**
 * Loads ffmpeg.wasm in a Worker and returns a runner that replaces the
 * instance every `jobsPerInstance` jobs (and after a crash); rejects with
 * AAC_FFMPEG_LOAD if the core cannot be loaded.
 */
export async function loadFfmpegRunner(options: FfmpegCoreOptions & RecyclingOptions = {}): Promise<AacJobRunner> {
  const load = (): Promise<AacJobRunner> => loadFfmpegInstance(options);
  return recyclingRunner(load, await load(), options);
}

/** One ffmpeg.wasm instance (one Worker) as a runner, without recycling. */
export async function loadFfmpegInstance(options: FfmpegCoreOptions = {}): Promise<AacJobRunner> {
  const ffmpeg = new FFmpeg();
  const log: string[] = [];
  ffmpeg.on("log", ({ message }) => {
    log.push(message);
    if (log.length > LOG_LINES) log.shift();
  });
  const coreURL = absolute(options.coreURL ?? new URL(CORE_JS, import.meta.url).href);
  const wasmURL = absolute(options.wasmURL ?? new URL(CORE_WASM, import.meta.url).href);
  try {
    await ffmpeg.load({ coreURL, wasmURL });
  } catch (err) {
    ffmpeg.terminate();
    throw new AacEncoderError(AacErrorCode.FfmpegLoad, `could not load ffmpeg.wasm from ${coreURL} and ${wasmURL}: ${describe(err)}`, { cause: err });
  }

  let job = 0;
  return {
    async run(pcm, { sampleRate, channels, bitrate }) {
      // Names change per job so that a late reply from a failed job cannot be mistaken for this one.
      job += 1;
      const input = `in-${job}.raw`;
      const output = `out-${job}.aac`;
      log.length = 0;
      // Any rejection from the Worker (a WebAssembly trap, a dead Worker) means this instance is broken.
      const crashed = (err: unknown): AacEncoderError => new AacEncoderError(AacErrorCode.FfmpegCrashed, `ffmpeg.wasm crashed in job ${job}: ${describe(err)}`, { cause: err });
      try {
        await ffmpeg.writeFile(input, pcm).catch((err: unknown) => Promise.reject(crashed(err)));
        const status = await ffmpeg.exec(["-hide_banner", "-loglevel", "error", "-f", "f32le", "-ar", String(sampleRate), "-ac", String(channels), "-i", input, "-c:a", "aac", "-b:a", String(bitrate), "-f", "adts", output]).catch((err: unknown) => Promise.reject(crashed(err)));
        if (status !== 0) {
          throw new AacEncoderError(AacErrorCode.FfmpegExec, `ffmpeg.wasm exited with status ${status}${log.length ? `: ${log.join(" | ")}` : ""}`);
        }
        const data = await ffmpeg.readFile(output).catch((err: unknown) => Promise.reject(new AacEncoderError(AacErrorCode.FfmpegExec, `ffmpeg.wasm wrote no output: ${describe(err)}`, { cause: err })));
        if (typeof data === "string") throw new AacEncoderError(AacErrorCode.FfmpegExec, "ffmpeg.wasm returned text for a binary file");
        return data;
      } finally {
        await Promise.allSettled([ffmpeg.deleteFile(input), ffmpeg.deleteFile(output)]);
      }
    },
    close() {
      ffmpeg.terminate();
    },
  };
}

/** ffmpeg's Worker resolves URLs against its own script: hand it absolute ones. */
function absolute(url: string): string {
  return new URL(url, globalThis.location?.href).href;
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
