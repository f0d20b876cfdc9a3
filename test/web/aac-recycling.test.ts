/**
 * web/audio/recycling-runner.ts with stand-in instances: an instance is
 * retired after jobsPerInstance jobs, its successor loaded preloadJobs jobs
 * ahead; a crash (AAC_FFMPEG_CRASHED) is retried once on a fresh instance
 * with the job's original input; anything else is not retried. The real
 * thing, ffmpeg.wasm breaking after ~148 jobs and this runner outliving it,
 * is in aac-ffmpeg.test.ts.
 */
import { describe, expect, it } from "vitest";
import { AacEncoderError, AacErrorCode } from "../../web/audio/errors.js";
import { recyclingRunner } from "../../web/audio/recycling-runner.js";
import type { AacJobRunner } from "../../web/audio/segmented-encoder.js";

const JOB = { sampleRate: 48000, channels: 2, bitrate: 128_000 };

interface Instance extends AacJobRunner {
  id: number;
  jobs: number;
  closed: boolean;
}

/** Stand-in instances; `fail(id, job)` may throw for the job-th job (1-based) of instance id. */
function factory(fail: (id: number, job: number) => Error | undefined = () => undefined) {
  const instances: Instance[] = [];
  /** Jobs run in total when each load() was called. */
  const loadedAt: number[] = [];
  let total = 0;
  const make = (): Instance => {
    const inst: Instance = {
      id: instances.length,
      jobs: 0,
      closed: false,
      run(pcm) {
        if (inst.closed) return Promise.reject(new Error(`instance ${inst.id} used after close`));
        inst.jobs += 1;
        total += 1;
        const error = fail(inst.id, inst.jobs);
        const out = pcm.slice(0, 1);
        pcm.fill(0); // the Worker takes the buffer: the caller's copy is gone
        return error ? Promise.reject(error) : Promise.resolve(Uint8Array.of(inst.id, out[0] ?? 0));
      },
      close() {
        inst.closed = true;
      },
    };
    instances.push(inst);
    return inst;
  };
  const load = (): Promise<AacJobRunner> => {
    loadedAt.push(total);
    return Promise.resolve(make());
  };
  return { instances, loadedAt, load, first: make() };
}

const crash = (): AacEncoderError => new AacEncoderError(AacErrorCode.FfmpegCrashed, "ffmpeg.wasm crashed in job 149: RuntimeError: memory access out of bounds");

describe("recyclingRunner", () => {
  it("retires an instance after jobsPerInstance jobs, loading the next preloadJobs jobs ahead", async () => {
    const f = factory();
    const runner = recyclingRunner(f.load, f.first, { jobsPerInstance: 10, preloadJobs: 3 });
    const answers: number[] = [];
    for (let i = 0; i < 25; i++) answers.push((await runner.run(Uint8Array.of(7), JOB))[0]!);
    expect(answers).toEqual([...Array<number>(10).fill(0), ...Array<number>(10).fill(1), ...Array<number>(5).fill(2)]);
    // Loads start as job 8 (of 10) begins: after 7 and 17 jobs in total.
    expect(f.loadedAt).toEqual([7, 17]);
    expect(f.instances.map((i) => [i.jobs, i.closed])).toEqual([[10, true], [10, true], [5, false]]);
    expect(runner.instances).toBe(3);
    runner.close();
    expect(f.instances[2]!.closed).toBe(true);
  });

  it("runs a crashed job again, once, on a fresh instance, with the original input", async () => {
    const f = factory((id, job) => (id === 0 && job === 3 ? crash() : undefined));
    const runner = recyclingRunner(f.load, f.first, { jobsPerInstance: 100, preloadJobs: 0 });
    for (let i = 0; i < 2; i++) await runner.run(Uint8Array.of(1), JOB);
    const pcm = Uint8Array.of(42);
    // Instance 0 took (and emptied) a copy; instance 1 got the input intact.
    expect(Array.from(await runner.run(pcm, JOB))).toEqual([1, 42]);
    expect(f.instances[0]!.closed).toBe(true);
    expect(runner.instances).toBe(2);
  });

  it("gives up when the fresh instance crashes too", async () => {
    const f = factory(() => crash());
    const runner = recyclingRunner(f.load, f.first);
    await expect(runner.run(Uint8Array.of(1), JOB)).rejects.toMatchObject({ code: AacErrorCode.FfmpegCrashed });
    expect(f.instances).toHaveLength(2);
  });

  it("does not retry ffmpeg's own failures (AAC_FFMPEG_EXEC)", async () => {
    const failure = new AacEncoderError(AacErrorCode.FfmpegExec, "ffmpeg.wasm exited with status 1");
    const f = factory(() => failure);
    const runner = recyclingRunner(f.load, f.first);
    await expect(runner.run(Uint8Array.of(1), JOB)).rejects.toBe(failure);
    expect(f.instances).toHaveLength(1);
    expect(f.instances[0]!.closed).toBe(false);
  });

  it("reports a successor that cannot load (AAC_FFMPEG_LOAD) at the switch", async () => {
    const f = factory();
    const failure = new AacEncoderError(AacErrorCode.FfmpegLoad, "could not load ffmpeg.wasm");
    const runner = recyclingRunner(() => Promise.reject(failure), f.first, { jobsPerInstance: 2, preloadJobs: 1 });
    await runner.run(Uint8Array.of(1), JOB);
    await runner.run(Uint8Array.of(1), JOB); // the preload fails here, unobserved
    await expect(runner.run(Uint8Array.of(1), JOB)).rejects.toBe(failure);
  });

  it("close() closes the active instance and one still loading; run() after it is a TypeError", async () => {
    const f = factory();
    let resolveLoad: (r: AacJobRunner) => void = () => undefined;
    const loading = new Promise<AacJobRunner>((resolve) => (resolveLoad = resolve));
    const runner = recyclingRunner(() => loading, f.first, { jobsPerInstance: 5, preloadJobs: 5 });
    await runner.run(Uint8Array.of(1), JOB); // starts the preload
    runner.close();
    expect(f.instances[0]!.closed).toBe(true);
    const late = { run: () => Promise.resolve(new Uint8Array(0)), close: () => (lateClosed = true) };
    let lateClosed = false;
    resolveLoad(late);
    await loading;
    await Promise.resolve();
    expect(lateClosed).toBe(true);
    await expect(runner.run(Uint8Array.of(1), JOB)).rejects.toThrow(TypeError);
  });

  it("refuses bad options (TypeError)", () => {
    const f = factory();
    expect(() => recyclingRunner(f.load, f.first, { jobsPerInstance: 0 })).toThrow(TypeError);
    expect(() => recyclingRunner(f.load, f.first, { preloadJobs: -1 })).toThrow(TypeError);
  });
});
