/**
 * Status codes of the WebAssembly core (wasm/assembly/status.ts), mapped to
 * stable string codes and readable messages. Keep in step with the AS file.
 */
import { GoliveError } from "../../protocol/errors.js";

interface StatusInfo {
  readonly code: string;
  readonly message: string;
}

const STATUS: ReadonlyMap<number, StatusInfo> = new Map<number, StatusInfo>([
  [-1, { code: "RTMP_BAD_CSID", message: "chunk stream id must be 2..65599" }],
  [-2, { code: "RTMP_BAD_CHUNK_SIZE", message: "outgoing chunk size must be 128..0x7FFFFFFF" }],
  [-3, { code: "RTMP_MESSAGE_TOO_LONG", message: "message longer than 0xFFFFFF bytes" }],
  [-4, { code: "WASM_NO_SPACE", message: "output region too small (host bug)" }],
  [-5, { code: "RTMP_TOO_MANY_CSIDS", message: "a writer tracks at most 16 chunk streams" }],
  [-6, { code: "RTMP_BAD_ARGUMENT", message: "message type or prefix length out of range" }],
  [-10, { code: "RTMP_BAD_CHUNK_SIZE", message: "the server set a chunk size of 0 or over 0x7FFFFFFF" }],
  [-11, { code: "RTMP_MESSAGE_TOO_LONG", message: "the server sent a message longer than the limit" }],
  [-12, { code: "RTMP_TOO_MANY_CHUNK_STREAMS", message: "the server opened more chunk streams than the limit" }],
  [-13, { code: "RTMP_NO_PREVIOUS_HEADER", message: "the server continued a chunk stream it never opened" }],
  [-14, { code: "RTMP_UNEXPECTED_HEADER", message: "the server started a new message in the middle of another" }],
  [-15, { code: "RTMP_BAD_CONTROL_MESSAGE", message: "the server sent a protocol control message of the wrong length" }],
  [-16, { code: "RTMP_BAD_LIMITS", message: "reader limits out of range" }],
  [-20, { code: "AMF_TRUNCATED", message: "AMF0 data ends inside a value" }],
  [-21, { code: "AMF_BAD_MARKER", message: "AMF0 data has an unknown or unsupported type marker" }],
  [-22, { code: "AMF_TOO_DEEP", message: "AMF0 data is nested deeper than the limit" }],
  [-23, { code: "AMF_STRING_TOO_LONG", message: "AMF0 string longer than the limit" }],
  [-24, { code: "WASM_NO_SPACE", message: "token region too small (host bug)" }],
  [-25, { code: "AMF_BAD_VALUE", message: "value cannot be encoded as AMF0" }],
  [-30, { code: "FLV_TAG_TOO_LONG", message: "FLV tag body longer than 0xFFFFFF bytes" }],
  [-31, { code: "WASM_NO_SPACE", message: "output region too small (host bug)" }],
  [-32, { code: "FLV_BAD_ARGUMENT", message: "FLV header field out of range" }],
]);

/** An error reported by the WebAssembly core, with its raw status. */
export class CoreError extends GoliveError {
  readonly status: number;

  constructor(status: number, context: string) {
    const info = STATUS.get(status) ?? { code: "WASM_UNKNOWN_STATUS", message: `unknown status ${status}` };
    super(info.code, `${context}: ${info.message}`);
    this.status = status;
  }
}

/** The string code for a raw status, for tests and metrics. */
export function statusCode(status: number): string {
  return STATUS.get(status)?.code ?? "WASM_UNKNOWN_STATUS";
}

/** All raw statuses the core defines. */
export const ALL_STATUSES: readonly number[] = [...STATUS.keys()];
