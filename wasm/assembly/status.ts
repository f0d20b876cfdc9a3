// Status codes returned across the WebAssembly boundary.
//
// Every exported function returns an i32: >= 0 is success (usually a byte or
// token count), < 0 is one of these codes. The TypeScript host maps each to a
// stable string code (wasm/host/status.ts); keep both lists in step.

// Chunk writer (RTMP 1.0 §5.3).
export const W_BAD_CSID: i32 = -1; // chunk stream id outside 2..65599
export const W_BAD_CHUNK_SIZE: i32 = -2; // outgoing chunk size outside 128..0x7FFFFFFF
export const W_MESSAGE_TOO_LONG: i32 = -3; // message longer than the 24-bit length field
export const W_NO_SPACE: i32 = -4; // output region too small
export const W_TOO_MANY_CSIDS: i32 = -5; // more distinct chunk streams than a writer tracks
export const W_BAD_ARGUMENT: i32 = -6; // message type or prefix length out of range

// Chunk reader.
export const R_BAD_CHUNK_SIZE: i32 = -10; // peer's Set Chunk Size is 0 or has bit 31 set
export const R_MESSAGE_TOO_LONG: i32 = -11; // message length over the reader's limit
export const R_TOO_MANY_CHUNK_STREAMS: i32 = -12; // more chunk streams than the limit
export const R_NO_PREVIOUS_HEADER: i32 = -13; // fmt 1/2/3 on a chunk stream never opened with fmt 0
export const R_UNEXPECTED_HEADER: i32 = -14; // fmt 0/1/2 header in the middle of a message
export const R_BAD_CONTROL: i32 = -15; // protocol control message with a wrong length
export const R_BAD_LIMITS: i32 = -16; // reader created with limits out of range

// AMF0.
export const AMF_TRUNCATED: i32 = -20; // input ends inside a value
export const AMF_BAD_MARKER: i32 = -21; // unknown or unsupported type marker
export const AMF_TOO_DEEP: i32 = -22; // nesting deeper than the limit
export const AMF_STRING_TOO_LONG: i32 = -23; // string longer than the limit
export const AMF_NO_SPACE: i32 = -24; // token or output region too small
export const AMF_BAD_TOKEN: i32 = -25; // encoder given a malformed token tape

// FLV.
export const F_TOO_LONG: i32 = -30; // tag body longer than the 24-bit size field
export const F_NO_SPACE: i32 = -31; // output region too small
export const F_BAD_ARGUMENT: i32 = -32; // field value outside its bit width
