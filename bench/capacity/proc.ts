/**
 * What the kernel says a process costs, read from procfs (Linux only): CPU
 * time from `/proc/<pid>/stat` (utime + stime, fields 14 and 15, in clock
 * ticks; children not included) and memory from `/proc/<pid>/status`
 * (VmRSS) and `/proc/<pid>/smaps_rollup` (Private_Clean + Private_Dirty:
 * the pages no other process shares, which is what one more ffmpeg costs
 * when N of them share the same binary and libraries).
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";

/** Clock ticks per second (`getconf CLK_TCK`; 100 on every Linux we run on). */
export const CLOCK_TICKS: number = (() => {
  try {
    const n = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim());
    return Number.isInteger(n) && n > 0 ? n : 100;
  } catch {
    return 100;
  }
})();

/** CPU seconds the process has used so far, in user and in kernel mode, or undefined once it is gone. */
export function cpuTimes(pid: number): { user: number; system: number } | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return undefined;
  }
  // Field 2 (comm) is in parentheses and may contain spaces: split after its closing one.
  const rest = text.slice(text.lastIndexOf(")") + 2).split(" ");
  // rest[0] is field 3 (state): utime is field 14, stime field 15.
  const utime = Number(rest[11]);
  const stime = Number(rest[12]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) return undefined;
  return { user: utime / CLOCK_TICKS, system: stime / CLOCK_TICKS };
}

/** CPU seconds (user + system) the process has used so far, or undefined once it is gone. */
export function cpuSeconds(pid: number): number | undefined {
  const t = cpuTimes(pid);
  return t === undefined ? undefined : t.user + t.system;
}

/** Memory of one process, bytes. */
export interface ProcMemory {
  /** VmRSS: resident pages, shared ones included. */
  rss: number;
  /** Private_Clean + Private_Dirty from smaps_rollup: pages only this process maps. */
  private: number;
}

function kb(text: string, field: string): number | undefined {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(text);
  return m?.[1] === undefined ? undefined : Number(m[1]) * 1024;
}

/** Memory of the process, or undefined once it is gone. */
export function memory(pid: number): ProcMemory | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const rollup = readFileSync(`/proc/${pid}/smaps_rollup`, "utf8");
    const rss = kb(status, "VmRSS");
    const clean = kb(rollup, "Private_Clean");
    const dirty = kb(rollup, "Private_Dirty");
    if (rss === undefined || clean === undefined || dirty === undefined) return undefined;
    return { rss, private: clean + dirty };
  } catch {
    return undefined;
  }
}

/** CPU times of each of `pids` that is still running (a process that has exited is absent). */
export function cpuTimesOf(pids: readonly number[]): Map<number, { user: number; system: number }> {
  const out = new Map<number, { user: number; system: number }>();
  for (const pid of pids) {
    const t = cpuTimes(pid);
    if (t) out.set(pid, t);
  }
  return out;
}

/**
 * CPU seconds used between two readings of {@link cpuTimesOf}, over the
 * processes present in both: one that exited in between is left out (its
 * last seconds cannot be read), never subtracted.
 */
export function cpuBetween(a: ReadonlyMap<number, { user: number; system: number }>, b: ReadonlyMap<number, { user: number; system: number }>): { user: number; system: number } {
  let user = 0;
  let system = 0;
  for (const [pid, t0] of a) {
    const t1 = b.get(pid);
    if (!t1) continue;
    user += t1.user - t0.user;
    system += t1.system - t0.system;
  }
  return { user, system };
}

/** The machine: CPU model, cores and the 1-minute load average at the time of the call. */
export function machine(): { cpu: string; cores: number; memGiB: number; kernel: string } {
  let cpu = "unknown";
  let cores = 0;
  try {
    const info = readFileSync("/proc/cpuinfo", "utf8");
    cpu = /^model name\s*:\s*(.+)$/m.exec(info)?.[1]?.trim() ?? cpu;
    cores = (info.match(/^processor\s*:/gm) ?? []).length;
  } catch {
    // not Linux: leave unknown
  }
  let memGiB = 0;
  try {
    memGiB = (kb(readFileSync("/proc/meminfo", "utf8"), "MemTotal") ?? 0) / 2 ** 30;
  } catch {
    // idem
  }
  let kernel = "unknown";
  try {
    kernel = readFileSync("/proc/sys/kernel/osrelease", "utf8").trim();
  } catch {
    // idem
  }
  return { cpu, cores, memGiB, kernel };
}

/** Whole-machine CPU time so far (all cores), seconds: busy and total, from /proc/stat. */
export function machineCpu(): { busy: number; total: number } {
  const line = readFileSync("/proc/stat", "utf8").split("\n", 1)[0] ?? "";
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal guest guest_nice; guest time is already in user.
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = f;
  const busy = user + nice + system + irq + softirq + steal;
  return { busy: busy / CLOCK_TICKS, total: (busy + idle + iowait) / CLOCK_TICKS };
}
