// The AAC-LC encoder module (wasm/build/aac.wasm): separate from the RTMP
// core, as only the browser's audio path loads it. The host writes 512
// samples per channel at inputPtr() + c * 4096 (planar f32), calls
// encodeHalf(), and reads its return value of bytes at outputPtr().
import { clippedSamples, encodeHalf, init, input, lastMaxSfb, lastWindowSequence, lastRateOffset, lastCoreBits, nonFiniteSamples, output, reservoirBits, testForceBook } from "./encoder";

export { init, encodeHalf, nonFiniteSamples, clippedSamples, reservoirBits, lastWindowSequence, lastMaxSfb, lastRateOffset, lastCoreBits, testForceBook };

export function inputPtr(): usize {
  return changetype<usize>(input);
}

export function outputPtr(): usize {
  return changetype<usize>(output);
}
