// The AAC-LC encoder module (wasm/build/aac.wasm): separate from the RTMP
// core, as only the browser's audio path loads it. The host writes 1024
// samples per channel at inputPtr() (planar f32), calls encode(), and reads
// encode()'s return value of bytes at outputPtr().
import { clippedSamples, encode, init, input, lastMaxSfb, lastWindowSequence, lastRateOffset, lastCoreBits, nonFiniteSamples, output, reservoirBits, testForceBook } from "./encoder";

export { init, encode, nonFiniteSamples, clippedSamples, reservoirBits, lastWindowSequence, lastMaxSfb, lastRateOffset, lastCoreBits, testForceBook };

export function inputPtr(): usize {
  return changetype<usize>(input);
}

export function outputPtr(): usize {
  return changetype<usize>(output);
}
