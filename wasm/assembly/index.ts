// The golive WebAssembly core: RTMP chunking, AMF0 and FLV tags.
//
// Boundary rules (see wasm/host/core.ts): JS owns the one imported memory;
// every export takes (pointer, length) pairs and integer arguments and
// returns an i32 status or count; nothing managed crosses the boundary.
// Allocation (heap.alloc, TLSF) happens only when the host reserves scratch
// space or when a reader opens a message; the media path allocates nothing.

export { prefixPtr, writerNew, writerFree, writerSetChunkSize, writerReset, chunkWrite, chunkHeaders, chunkLayout } from "./chunk-writer";
export { readerNew, readerFree, readerInfo, readerChunkSize, readerFeed } from "./chunk-reader";
export { amfDecode, amfEncode } from "./amf0";
export { flvHeader, flvTag, flvTagHeaders, videoHeader, videoHeaderEx, audioHeader, audioHeaderEx } from "./flv-tags";

/** Allocates `size` bytes of scratch space for the host; may grow memory. */
export function alloc(size: i32): usize {
  return heap.alloc(<usize>size);
}

/** Resizes a scratch allocation; may grow memory and move it. */
export function realloc(ptr: usize, size: i32): usize {
  return heap.realloc(ptr, <usize>size);
}

/** Frees a scratch allocation. */
export function free(ptr: usize): void {
  heap.free(ptr);
}
