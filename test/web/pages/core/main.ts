// Self-check page: proves the WebAssembly core loads and works in
// this browser by round-tripping an RTMP command through AMF0 and chunking.
import { loadCoreBrowser } from "../../../../wasm/host/load-browser.js";
import { ChunkReader, ChunkWriter, MessageType, decodeAmf0, encodeAmf0 } from "../../../../wasm/host/index.js";

async function selfCheck(): Promise<string> {
  const core = await loadCoreBrowser();
  const command = encodeAmf0(core, ["connect", 1, { app: "live", type: "nonprivate" }]);
  const writer = new ChunkWriter(core, { chunkSize: 128 });
  const reader = new ChunkReader(core);
  const [message] = reader.push(writer.write(3, MessageType.CommandAmf0, 0, 0, command));
  if (!message) throw new Error("no message read back");
  const [name] = decodeAmf0(core, message.payload);
  if (name !== "connect") throw new Error(`read back ${JSON.stringify(name) ?? "nothing"}`);
  return `OK (${command.byteLength}-byte connect command encoded, chunked and read back)`;
}

const status = document.getElementById("core-status");
if (status) {
  selfCheck().then(
    (text) => {
      status.textContent = text;
      status.dataset.ok = "true";
    },
    (err: unknown) => {
      status.textContent = `failed: ${err instanceof Error ? err.message : String(err)}`;
      status.dataset.ok = "false";
    },
  );
}
