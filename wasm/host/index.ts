/** The WebAssembly core's public TypeScript API. */
export { Core, CoreTrapError, Region, loadCore, instantiate, type CoreExports, type CoreSource } from "./core.js";
export { CoreError, statusCode, ALL_STATUSES } from "./status.js";
export { ChunkWriter, MessageType, chunkedSizeBound, type ChunkWriterOptions } from "./chunk-writer.js";
export { ChunkReader, type ChunkReaderOptions, type RtmpMessage } from "./chunk-reader.js";
export { encodeAmf0, decodeAmf0, EcmaArray, type AmfValue, type AmfObject, type AmfDecodeOptions } from "./amf0.js";
export { FlvWriter, TagType } from "./flv-writer.js";
export {
  FrameType, AvcPacketType, ExVideoPacketType, ExAudioPacketType, fourccValue,
  writeVideoHeader, writeAudioHeader, type VideoTagHeader, type AudioTagHeader,
} from "./tag-headers.js";
