/**
 * The AudioWorkletProcessor that reads microphone PCM on the audio thread,
 * as JavaScript source for a Blob URL: a worklet module must be a separate
 * script, and a string keeps golive.js one file that any bundler (or none)
 * can serve. Plain ES2020, no imports, nothing from outside the string.
 *
 * Each render quantum (128 frames) is copied into per-channel blocks of
 * `blockFrames`; a full block is posted (buffers transferred) with
 * `startFrame`, the AudioContext's sample index of its first frame
 * (`currentFrame`), which is the clock the main thread stamps it by. A jump
 * in `currentFrame` (the context was suspended) ends the block early, so a
 * block is always contiguous. No input (the track ended or is muted) is
 * recorded as silence: the timeline never stops while the context runs.
 */
export const CAPTURE_PROCESSOR_NAME = "golive-capture";

export const CAPTURE_PROCESSOR_SOURCE = String.raw`
class GoliveCaptureProcessor extends AudioWorkletProcessor {
  constructor(options) {
    super();
    const o = options.processorOptions;
    this.channels = o.channels;
    this.blockFrames = o.blockFrames;
    this.stopped = false;
    this.blockStart = 0;
    this.alloc();
    this.port.onmessage = (e) => {
      if (e.data === "stop") {
        this.post();
        this.stopped = true;
        this.port.postMessage({ stopped: true });
      }
    };
  }
  alloc() {
    this.planes = [];
    for (let c = 0; c < this.channels; c++) this.planes.push(new Float32Array(this.blockFrames));
    this.fill = 0;
  }
  post() {
    if (this.fill === 0) return;
    const planes = this.fill === this.blockFrames ? this.planes : this.planes.map((p) => p.slice(0, this.fill));
    this.port.postMessage({ startFrame: this.blockStart, frames: this.fill, planes }, planes.map((p) => p.buffer));
    this.alloc();
  }
  process(inputs) {
    if (this.stopped) return false;
    const input = inputs[0] || [];
    const n = input.length > 0 ? input[0].length : 128;
    if (this.fill > 0 && currentFrame !== this.blockStart + this.fill) this.post();
    if (this.fill === 0) this.blockStart = currentFrame;
    let off = 0;
    while (off < n) {
      const take = Math.min(n - off, this.blockFrames - this.fill);
      for (let c = 0; c < this.channels; c++) {
        const src = input.length === 0 ? null : input[Math.min(c, input.length - 1)];
        if (src) this.planes[c].set(src.subarray(off, off + take), this.fill);
        else this.planes[c].fill(0, this.fill, this.fill + take);
      }
      this.fill += take;
      off += take;
      if (this.fill === this.blockFrames) {
        this.post();
        this.blockStart = currentFrame + off;
      }
    }
    return true;
  }
}
registerProcessor("${"golive-capture"}", GoliveCaptureProcessor);
`;
