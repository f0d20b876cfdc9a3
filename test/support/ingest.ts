/**
 * The ingest harness: real RTMP servers on free 127.0.0.1 ports for
 * integration tests, started as child processes and stopped by PID.
 *
 * - {@link startNginxRtmp}: nginx + nginx-rtmp, recording every publish.
 * - {@link startNginxRtmps}: the same behind nginx `stream` TLS with a test CA.
 * - {@link startFfmpegListen}: `ffmpeg -listen 1`, one publisher into one FLV.
 * - {@link startNodeMediaServer}: node-media-server v4, recording to FLV.
 * - {@link startHttpStatusServer}: a fixed-status HTTP hook for `on_publish`.
 * - Media: {@link makeTestFlv}, {@link publishFile}, {@link pullToFile},
 *   {@link ffprobeFrames}.
 *
 * Missing binaries fail with the Debian package to install (test/support/system.ts).
 * Every server has `stop()` (the process, by PID, SIGKILL fallback) and
 * `dispose()` (stop + remove its temp dir). Any process still running when the
 * test worker exits is SIGKILLed.
 */
export { startNginxRtmp, startNginxRtmps } from "../../server/testing/ingest/nginx.js";
export type { NginxRtmpOptions, NginxRtmpServer, NginxRtmpsOptions, NginxRtmpsServer, NginxTlsCert } from "../../server/testing/ingest/nginx.js";
export { startFfmpegListen } from "../../server/testing/ingest/ffmpeg-listen.js";
export type { FfmpegListenOptions, FfmpegListenServer } from "../../server/testing/ingest/ffmpeg-listen.js";
export { startNodeMediaServer } from "../../server/testing/ingest/node-media-server.js";
export type { NodeMediaServer, NodeMediaServerOptions } from "../../server/testing/ingest/node-media-server.js";
export { startHttpStatusServer } from "../../server/testing/ingest/http-status.js";
export type { HttpStatusServer, SeenRequest } from "../../server/testing/ingest/http-status.js";
export { cachedTestFlv, ffprobeFrames, makeTestFlv, publishFile, pullToFile, TEST_MEDIA_CACHE_DIR, waitForStableFile } from "../../server/testing/ingest/media.js";
export type { ProbePacket, ProbeResult, ProbeStream, PublishFileOptions, PublishResult, Puller, TestFlvOptions } from "../../server/testing/ingest/media.js";
export { exitStatus, IngestStartError, pidIsRunning, stopFfmpeg } from "../../server/testing/ingest/process.js";
export type { ExitInfo, IngestStartErrorCode } from "../../server/testing/ingest/process.js";
export { makeTempDir, removeTempDir } from "../../server/testing/ingest/dirs.js";
