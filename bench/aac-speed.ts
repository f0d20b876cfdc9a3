/**
 * bench:core's AAC rows: how fast golive's wasm AAC-LC encoder runs in Node
 * (one thread), as multiples of real time, against FFmpeg's native AAC
 * encoder (`ffmpeg -threads 1 -c:a aac`) on the same PCM in the same run.
 * The input is a music-like mix (tones, noise, clicks: block switching
 * included); both encoders produce raw/ADTS AAC at the same bitrate.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createAacWasmEncoder, type AacEncodeConfig } from "../wasm/host/aac-encoder.js";
import { musicLike } from "./signals.js";
import { median } from "./stats.js";

export interface AacSpeedRow {
  config: string;
  seconds: number;
  /** Medians over the rounds: multiples of real time. */
  wasmRealtime: number;
  ffmpegRealtime: number;
  /** Median of the per-round ratios wasm / ffmpeg. */
  ratio: number;
}

export async function benchAacSpeed(rounds: number, seconds: number, log: (s: string) => void): Promise<AacSpeedRow[]> {
  const configs: AacEncodeConfig[] = [
    { sampleRate: 48000, channels: 2, bitrate: 128000 },
    { sampleRate: 44100, channels: 1, bitrate: 64000 },
  ];
  const dir = mkdtempSync(join(tmpdir(), "golive-bench-aac-speed-"));
  const rows: AacSpeedRow[] = [];
  try {
    for (const config of configs) {
      const n = config.sampleRate * seconds;
      const planes = Array.from({ length: config.channels }, (_, c) => musicLike(n, config.sampleRate, 11 + c));
      const inter = new Float32Array(n * config.channels);
      for (let i = 0; i < n; i++) for (let c = 0; c < config.channels; c++) inter[i * config.channels + c] = planes[c]![i]!;
      const raw = join(dir, "in.raw");
      writeFileSync(raw, inter);
      const wasm: number[] = [];
      const ff: number[] = [];
      const ratios: number[] = [];
      for (let round = 0; round < rounds; round++) {
        // golive: 480-sample blocks, as a browser delivers them.
        const encoder = await createAacWasmEncoder(config);
        const t0 = performance.now();
        let bytes = 0;
        for (let at = 0; at < n; at += 480) for (const f of encoder.encode(planes.map((p) => p.subarray(at, at + 480)))) bytes += f.length;
        for (const f of encoder.flush()) bytes += f.length;
        const wasmS = (performance.now() - t0) / 1000;
        if (bytes === 0) throw new Error("the wasm encoder produced nothing");
        const t1 = performance.now();
        const done = spawnSync("ffmpeg", ["-v", "error", "-nostdin", "-threads", "1", "-f", "f32le", "-ar", String(config.sampleRate), "-ac", String(config.channels), "-i", raw, "-threads", "1", "-c:a", "aac", "-b:a", String(config.bitrate), "-f", "adts", "-y", join(dir, "out.aac")]);
        const ffS = (performance.now() - t1) / 1000;
        if (done.status !== 0) throw new Error(`ffmpeg failed: ${done.stderr.toString()}`);
        wasm.push(seconds / wasmS);
        ff.push(seconds / ffS);
        ratios.push(ffS / wasmS);
        log(".");
      }
      rows.push({ config: `${config.sampleRate / 1000}k ${config.channels === 2 ? "stereo" : "mono"} ${config.bitrate / 1000}k`, seconds, wasmRealtime: median(wasm), ffmpegRealtime: median(ff), ratio: median(ratios) });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return rows;
}

export function aacSpeedReport(rows: readonly AacSpeedRow[]): string {
  const lines = [
    "AAC-LC encoding speed (multiples of real time, wall clock, one thread; medians over rounds; input: music-like mix):",
    "config                 wasm (golive)   ffmpeg -c:a aac   wasm / ffmpeg",
  ];
  for (const r of rows) lines.push(`${r.config.padEnd(22)} ${r.wasmRealtime.toFixed(0).padStart(10)}x ${r.ffmpegRealtime.toFixed(0).padStart(16)}x ${r.ratio.toFixed(2).padStart(14)}x`);
  const stereo = rows.find((r) => r.config.startsWith("48k stereo"));
  if (stereo) lines.push(`target (issue 19: >= 50x real time, 48 kHz stereo, one core): ${stereo.wasmRealtime >= 50 ? "met" : "NOT met"} (${stereo.wasmRealtime.toFixed(0)}x)`);
  return lines.join("\n");
}
