/**
 * Child processes for the ingest harness: spawn, capture output, wait until a
 * port is listening, stop by PID with a SIGKILL fallback, and never leak a
 * process when the test worker exits.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { constants as osConstants } from "node:os";
import { setTimeout as sleep } from "node:timers/promises";
import { isListeningBy } from "../ports.js";

/** The child processes of `pid`, from every thread's /proc/PID/task/TID/children (Linux); none once it is gone. */
export function childPids(pid: number): number[] {
  const out: number[] = [];
  try {
    for (const task of readdirSync(`/proc/${pid}/task`)) {
      for (const c of readFileSync(`/proc/${pid}/task/${task}/children`, "utf8").trim().split(/\s+/)) if (c) out.push(Number(c));
    }
  } catch {
    // gone
  }
  return out;
}

/** How a child process ended. */
export interface ExitInfo {
  /** Exit code, or null when a signal ended it. */
  readonly code: number | null;
  /** The signal that ended it, or null. */
  readonly signal: NodeJS.Signals | null;
}

/** Stable reasons a harness server failed to start. */
export type IngestStartErrorCode =
  /** The port was taken between `freePort()` and the server's bind: retry with a new port. */
  | "INGEST_ADDRESS_IN_USE"
  /** The server exited before it listened. */
  | "INGEST_EXITED"
  /** The server did not listen within the start timeout. */
  | "INGEST_START_TIMEOUT";

/** A harness server failed to start; the message carries the server's own log. */
export class IngestStartError extends Error {
  override name = "IngestStartError";
  constructor(
    readonly code: IngestStartErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** A spawned child we own, stopped only by its PID. */
export interface ManagedProcess {
  /** Short label used in error messages (`nginx`, `ffmpeg -listen`, ...). */
  readonly name: string;
  /** OS process id. */
  readonly pid: number;
  /** The Node handle, for callers that need streams. */
  readonly child: ChildProcess;
  /** Settles when the process has exited (and been reaped by Node). */
  readonly exited: Promise<ExitInfo>;
  /** The exit, once it happened. */
  readonly exitInfo: () => ExitInfo | undefined;
  /** stdout and stderr interleaved as received (the last 512 KiB). */
  readonly output: () => string;
  /**
   * Sends `signal`, waits up to `graceMs` for the exit, then SIGKILLs and waits
   * again. With `resendAfterMs`, sends `signal` a second time if the process is
   * still running after that long (ffmpeg needs this, see {@link stopFfmpeg}).
   * Idempotent: later calls return the first call's promise.
   */
  stop(signal?: NodeJS.Signals, graceMs?: number, resendAfterMs?: number): Promise<ExitInfo>;
}

/** Cap on the output kept per process, so a chatty server cannot eat the worker's memory. */
const MAX_OUTPUT_CHARS = 512 * 1024;

/** Every process spawned here that has not exited yet. */
const live = new Set<ManagedProcess>();
let exitHookInstalled = false;

/** Last resort: when the test worker exits, SIGKILL whatever is still running (synchronous, by PID). */
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once("exit", () => {
    for (const proc of live) {
      try {
        process.kill(proc.pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
  });
}

/**
 * Spawns `command args` with stdin closed and stdout/stderr captured. Throws if
 * the spawn itself fails (binary missing, not executable).
 */
export async function spawnManaged(name: string, command: string, args: readonly string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<ManagedProcess> {
  const child = spawn(command, args, { cwd: options.cwd, env: options.env ?? process.env, stdio: ["ignore", "pipe", "pipe"] });
  let text = "";
  const append = (chunk: Buffer): void => {
    text += chunk.toString("utf8");
    if (text.length > MAX_OUTPUT_CHARS) text = text.slice(text.length - MAX_OUTPUT_CHARS);
  };
  child.stdout?.on("data", append);
  child.stderr?.on("data", append);

  let exit: ExitInfo | undefined;
  const exited = new Promise<ExitInfo>((resolve) => {
    child.once("exit", (code, signal) => {
      exit = { code, signal };
      resolve(exit);
    });
  });

  const pid = child.pid;
  if (pid === undefined) {
    const error = await new Promise<Error>((resolve) => child.once("error", resolve));
    throw new Error(`${name}: could not spawn ${command}: ${error.message}`);
  }
  // Errors after a successful spawn (kill on a dead process...) surface through `exited`.
  child.on("error", () => undefined);

  let stopping: Promise<ExitInfo> | undefined;
  const proc: ManagedProcess = {
    name,
    pid,
    child,
    exited,
    exitInfo: () => exit,
    output: () => text,
    stop(signal: NodeJS.Signals = "SIGTERM", graceMs = 5000, resendAfterMs?: number): Promise<ExitInfo> {
      stopping ??= (async () => {
        if (exit) return exit;
        signalPid(pid, signal);
        const deadline = Date.now() + graceMs;
        if (resendAfterMs !== undefined && resendAfterMs < graceMs) {
          const early = await Promise.race([exited, sleep(resendAfterMs).then(() => undefined)]);
          if (early) return early;
          signalPid(pid, signal);
        }
        const first = await Promise.race([exited, sleep(Math.max(0, deadline - Date.now())).then(() => undefined)]);
        if (first) return first;
        signalPid(pid, "SIGKILL");
        const second = await Promise.race([exited, sleep(5000).then(() => undefined)]);
        if (second) return second;
        throw new Error(`${name} (pid ${pid}) survived ${signal} and SIGKILL`);
      })();
      return stopping;
    },
  };
  live.add(proc);
  void exited.then(() => live.delete(proc));
  installExitHook();
  return proc;
}

/**
 * Stops an ffmpeg child so that it still finishes its output file: SIGINT,
 * SIGINT again after 300 ms, SIGKILL after 5 s. One SIGINT is not enough once
 * ffmpeg is running and blocked in a network read (a player whose publisher
 * went quiet): its interrupt callback fires only when the signal count exceeds
 * "transcoding started" (fftools/ffmpeg.c decode_interrupt_cb), i.e. on the
 * second signal; either way it then writes the trailer and exits 0.
 */
export function stopFfmpeg(proc: ManagedProcess): Promise<ExitInfo> {
  return proc.stop("SIGINT", 5000, 300);
}

/** `process.kill` that treats "no such process" as done. */
function signalPid(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ESRCH") throw error;
  }
}

/**
 * True while a process with this PID exists (signal 0 probe; EPERM means it
 * exists but is not ours). Our children are reaped by Node on exit, so a
 * stopped harness server reads false here, not as a zombie.
 */
export function pidIsRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** An exit as a shell-style status: the code, or 128 + signal number. */
export function exitStatus(info: ExitInfo): number {
  if (info.code !== null) return info.code;
  const number = info.signal ? osConstants.signals[info.signal] : undefined;
  return 128 + (number ?? 0);
}

/** Options for {@link waitForListening}. */
export interface WaitForListeningOptions {
  /** Give up after this long (default 10 s). */
  timeoutMs?: number;
  /** The server's log, for error messages and early failure detection. */
  logs?: () => string;
  /** A log line meaning the bind failed because the port is taken. */
  addressInUse?: RegExp;
}

/**
 * Polls until `proc` itself holds a LISTEN socket on every port in `ports`
 * (see `isListeningBy`: no probe connection is made). Fails fast, with the
 * server's log in the message, if the process exits or logs an address-in-use
 * error first.
 */
export async function waitForListening(proc: ManagedProcess, ports: readonly number[], options: WaitForListeningOptions = {}): Promise<void> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const logs = options.logs ?? proc.output;
  const deadline = Date.now() + timeoutMs;
  const addressInUse = options.addressInUse ?? /Address already in use|EADDRINUSE/i;
  for (;;) {
    const exit = proc.exitInfo();
    const text = logs();
    if (addressInUse.test(text)) {
      await proc.stop("SIGKILL");
      throw new IngestStartError("INGEST_ADDRESS_IN_USE", `${proc.name}: port ${ports.join(", ")} already in use\n${text}`);
    }
    if (exit) {
      throw new IngestStartError("INGEST_EXITED", `${proc.name} exited (status ${exitStatus(exit)}) before listening on ${ports.join(", ")}\n--- log ---\n${text}`);
    }
    const states = await Promise.all(ports.map((port) => isListeningBy(proc.pid, port)));
    if (states.every(Boolean)) return;
    if (Date.now() > deadline) {
      await proc.stop("SIGKILL");
      throw new IngestStartError("INGEST_START_TIMEOUT", `${proc.name} did not listen on ${ports.join(", ")} within ${timeoutMs} ms\n--- log ---\n${logs()}`);
    }
    await sleep(20);
  }
}

/**
 * Runs `start` up to `attempts` times while it fails with
 * `INGEST_ADDRESS_IN_USE` (a port race with another process), so callers get
 * a fresh free port each try.
 */
export async function retryOnAddressInUse<T>(start: () => Promise<T>, attempts = 3): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await start();
    } catch (error) {
      if (!(error instanceof IngestStartError) || error.code !== "INGEST_ADDRESS_IN_USE" || attempt >= attempts) throw error;
    }
  }
}

/** Runs a command to completion and returns its exit and output; never throws for a non-zero exit. */
export async function run(name: string, command: string, args: readonly string[], options: { timeoutMs?: number; cwd?: string } = {}): Promise<ExitInfo & { output: string }> {
  const proc = await spawnManaged(name, command, args, { cwd: options.cwd });
  const timeoutMs = options.timeoutMs ?? 30_000;
  const exit = await Promise.race([proc.exited, sleep(timeoutMs).then(() => undefined)]);
  if (!exit) {
    await proc.stop("SIGKILL");
    throw new Error(`${name} did not finish within ${timeoutMs} ms: ${command} ${args.join(" ")}\n${proc.output()}`);
  }
  return { ...exit, output: proc.output() };
}
