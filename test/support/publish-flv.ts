/**
 * Publishes an FLV file through golive's RtmpPublisher, tag by tag, as fast
 * as the socket takes it (waiting for "drain" when it pushes back). The
 * metadata tag goes out as @setDataFrame, audio/video tags as messages
 * whose body headers are rebuilt from the parsed tag: what arrives proves
 * the client, not a byte copy.
 */
import { readFile } from "node:fs/promises";
import { once } from "node:events";
import { RtmpPublisher, type RtmpPublisherOptions } from "../../server/rtmp/rtmp-connection.js";
import { decodeAmf0, EcmaArray, type AmfValue } from "../../wasm/host/index.js";
import { loadCoreNode } from "../../wasm/host/load-node.js";
import { parseAudioBody, parseVideoBody, readFlv } from "./flv-read.js";

export interface PublishedCounts {
  video: number;
  audio: number;
  keyframes: number;
}

/** Publishes `path` to `options.url`; resolves after a clean close, with the server's Acknowledgements counted. */
export async function publishFlv(path: string, options: RtmpPublisherOptions): Promise<PublishedCounts & { acksReceived: number }> {
  const core = await loadCoreNode();
  const flv = readFlv(new Uint8Array(await readFile(path)));
  const publisher = new RtmpPublisher({ core, ...options });
  const counts: PublishedCounts = { video: 0, audio: 0, keyframes: 0 };
  await publisher.publish();
  let failure: Error | undefined;
  publisher.on("error", (err) => {
    failure = err;
  });
  for (const tag of flv.tags) {
    if (failure) throw failure;
    let ok = true;
    if (tag.type === 18) {
      const [name, meta] = decodeAmf0(core, tag.body);
      if (name === "onMetaData" && meta instanceof EcmaArray) ok = publisher.sendMetadata(meta.entries);
      else if (name === "onMetaData" && meta && typeof meta === "object") ok = publisher.sendMetadata(meta as Record<string, AmfValue>);
    } else if (tag.type === 9) {
      const v = parseVideoBody(tag.body);
      if (v.kind !== "legacy" || v.codecId !== 7) throw new Error("publishFlv handles legacy AVC only");
      ok = publisher.sendVideo(tag.timestamp, { kind: "avc", frameType: v.frameType, packetType: v.avcPacketType ?? 1, cts: v.cts ?? 0 }, v.payload);
      if (v.avcPacketType === 1) {
        counts.video++;
        if (v.frameType === 1) counts.keyframes++;
      }
    } else if (tag.type === 8) {
      const a = parseAudioBody(tag.body);
      if (a.kind !== "legacy" || a.format !== 10) throw new Error("publishFlv handles AAC only");
      ok = publisher.sendAudio(tag.timestamp, { kind: "aac", packetType: a.aacPacketType === 0 ? 0 : 1 }, a.payload);
      if (a.aacPacketType === 1) counts.audio++;
    }
    if (!ok) await once(publisher, "drain");
  }
  if (failure) throw failure;
  // Wait (at most 2 s) until the backlog measure says the server has it all:
  // its Acknowledgements come in meanwhile (a closed publish reads nothing
  // more); a server that sends none is known as such after 1.5 s.
  for (let waited = 0; waited < 2000 && publisher.backlogBytes > publisher.ackWindow; waited += 10) {
    await new Promise((r) => setTimeout(r, 10));
  }
  const { acksReceived } = publisher.stats();
  await publisher.close();
  return { ...counts, acksReceived };
}
