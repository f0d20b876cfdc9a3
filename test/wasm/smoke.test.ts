import { describe, expect, it } from "vitest";
import { loadCoreNode } from "../../wasm/host/load-node.js";
import { ChunkReader, ChunkWriter, decodeAmf0, EcmaArray, encodeAmf0, FlvWriter } from "../../wasm/host/index.js";

describe("core smoke", () => {
  it("round-trips a message and AMF", async () => {
    const core = await loadCoreNode();
    const w = new ChunkWriter(core, { chunkSize: 128 });
    const r = new ChunkReader(core);
    const payload = new Uint8Array(1000).map((_, i) => i & 0xff);
    const bytes = w.write(3, 20, 0, 0x1234567, payload);
    const msgs = r.push(bytes);
    expect(msgs).toHaveLength(1);
    expect(msgs[0]!.timestamp).toBe(0x1234567);
    expect(msgs[0]!.payload).toEqual(payload);
    const vals = ["connect", 1, { app: "live", n: null, arr: [1, "x"] }, new EcmaArray({ a: true }), undefined];
    expect(decodeAmf0(core, encodeAmf0(core, vals))).toEqual(vals);
    const flv = new FlvWriter(core);
    expect(flv.header(true, true)).toHaveLength(13);
    expect(flv.videoTag(40, { kind: "avc", frameType: 1, packetType: 1, cts: 0 }, new Uint8Array(10))).toHaveLength(30);
  });
});
