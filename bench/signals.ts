/**
 * Deterministic test signals shared by the AAC benches and tests: a seeded
 * uniform generator and a music-like mix (tones, low-passed and white noise,
 * sharp clicks every 0.37 s, which exercise block switching).
 */

/** Deterministic uniform [0, 1) (mulberry32). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `n` samples at `rate` of tones + noise + clicks, peak about 0.9. */
export function musicLike(n: number, rate: number, seed: number): Float32Array {
  const random = seededRandom(seed);
  const r = (): number => 2 * random() - 1;
  const x = new Float32Array(n);
  let lp = 0;
  for (let i = 0; i < n; i++) {
    const t = i / rate;
    lp = 0.9 * lp + 0.1 * r();
    let v = 0.2 * Math.sin(2 * Math.PI * 220 * t) + 0.1 * Math.sin(2 * Math.PI * 440 * t + 1) + 0.05 * Math.sin(2 * Math.PI * 1320 * t) + 0.1 * lp + 0.01 * r();
    const click = i % Math.round(rate * 0.37);
    if (click < 64) v += 0.5 * Math.exp(-click / 12) * r();
    x[i] = v;
  }
  return x;
}
