// The MDCT of AAC's filterbank (ISO/IEC 14496-3, 4.6.11): for a windowed block
// z of N samples, X[k] = 2 * sum_n z[n] cos(2pi/N (n + n0)(k + 1/2)),
// n0 = (N/2 + 1)/2, k < N/2, which is what a decoder's IMDCT inverts.
//
// Computed in O(N log N): the block folds into a DCT-IV of M = N/2 values
// (quarters a b c d -> (-c_r - d, a - b_r)), and the DCT-IV is a complex FFT
// of M/2 points between a pre-twiddle exp(-i pi (n + 1/4) / M) on
// (u[2n] + i u[M-1-2n]) and a post-twiddle exp(-i pi k / M), whose real and
// negated imaginary parts are the even and the mirrored odd outputs.

export class Mdct {
  readonly n: i32;
  readonly m: i32;
  readonly h: i32;
  readonly preCos: StaticArray<f64>;
  readonly preSin: StaticArray<f64>;
  readonly postCos: StaticArray<f64>;
  readonly postSin: StaticArray<f64>;
  readonly twCos: StaticArray<f64>;
  readonly twSin: StaticArray<f64>;
  readonly bitrev: StaticArray<i32>;
  readonly re: StaticArray<f64>;
  readonly im: StaticArray<f64>;
  readonly u: StaticArray<f64>;

  constructor(n: i32) {
    this.n = n;
    const m = n >> 1;
    const h = m >> 1;
    this.m = m;
    this.h = h;
    this.preCos = new StaticArray<f64>(h);
    this.preSin = new StaticArray<f64>(h);
    this.postCos = new StaticArray<f64>(h);
    this.postSin = new StaticArray<f64>(h);
    this.twCos = new StaticArray<f64>(h >> 1);
    this.twSin = new StaticArray<f64>(h >> 1);
    this.bitrev = new StaticArray<i32>(h);
    this.re = new StaticArray<f64>(h);
    this.im = new StaticArray<f64>(h);
    this.u = new StaticArray<f64>(m);
    for (let i = 0; i < h; i++) {
      const a = (-Math.PI * (<f64>i + 0.25)) / <f64>m;
      this.preCos[i] = Math.cos(a);
      this.preSin[i] = Math.sin(a);
      const b = (-Math.PI * <f64>i) / <f64>m;
      // The 2 of AAC's forward transform is folded into the post-twiddle.
      this.postCos[i] = 2.0 * Math.cos(b);
      this.postSin[i] = 2.0 * Math.sin(b);
    }
    for (let i = 0; i < h >> 1; i++) {
      const a = (-2.0 * Math.PI * <f64>i) / <f64>h;
      this.twCos[i] = Math.cos(a);
      this.twSin[i] = Math.sin(a);
    }
    let bits = 0;
    while (1 << bits < h) bits++;
    for (let i = 0; i < h; i++) {
      let r = 0;
      for (let b = 0; b < bits; b++) if ((i >> b) & 1) r |= 1 << (bits - 1 - b);
      this.bitrev[i] = r;
    }
  }

  /** X[out + k], k < N/2, from the windowed block z[zo .. zo + N). */
  forward(z: StaticArray<f64>, zo: i32, out: StaticArray<f64>, oo: i32): void {
    const m = this.m;
    const h = this.h;
    const q = h; // quarter length N/4 = M/2
    const u = this.u;
    // Fold: u[n] = -c[q-1-n] - d[n] for n < q; u[n] = a[n-q] - b[M-1-n... ] for n >= q.
    for (let i = 0; i < q; i++) {
      unchecked((u[i] = -unchecked(z[zo + 3 * q - 1 - i]) - unchecked(z[zo + 3 * q + i])));
      unchecked((u[q + i] = unchecked(z[zo + i]) - unchecked(z[zo + 2 * q - 1 - i])));
    }
    const re = this.re;
    const im = this.im;
    for (let i = 0; i < h; i++) {
      const cr = unchecked(u[2 * i]);
      const ci = unchecked(u[m - 1 - 2 * i]);
      const c = unchecked(this.preCos[i]);
      const s = unchecked(this.preSin[i]);
      const j = unchecked(this.bitrev[i]);
      unchecked((re[j] = cr * c - ci * s));
      unchecked((im[j] = cr * s + ci * c));
    }
    // Radix-2 decimation in time, in place.
    for (let size = 2; size <= h; size <<= 1) {
      const half = size >> 1;
      const step = h / size;
      for (let start = 0; start < h; start += size) {
        for (let k = 0; k < half; k++) {
          const wr = unchecked(this.twCos[k * step]);
          const wi = unchecked(this.twSin[k * step]);
          const a = start + k;
          const b = a + half;
          const br = unchecked(re[b]);
          const bi = unchecked(im[b]);
          const tr = br * wr - bi * wi;
          const ti = br * wi + bi * wr;
          const ar = unchecked(re[a]);
          const ai = unchecked(im[a]);
          unchecked((re[a] = ar + tr));
          unchecked((im[a] = ai + ti));
          unchecked((re[b] = ar - tr));
          unchecked((im[b] = ai - ti));
        }
      }
    }
    for (let k = 0; k < h; k++) {
      const r = unchecked(re[k]);
      const i = unchecked(im[k]);
      const c = unchecked(this.postCos[k]);
      const s = unchecked(this.postSin[k]);
      unchecked((out[oo + 2 * k] = r * c - i * s));
      unchecked((out[oo + m - 1 - 2 * k] = -(r * s + i * c)));
    }
  }
}
