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
export { startNginxRtmp, startNginxRtmps } from "./ingest/nginx.js";
export type { NginxRtmpOptions, NginxRtmpServer, NginxRtmpsOptions, NginxRtmpsServer, NginxTlsCert } from "./ingest/nginx.js";
export { startFfmpegListen } from "./ingest/ffmpeg-listen.js";
export type { FfmpegListenOptions, FfmpegListenServer } from "./ingest/ffmpeg-listen.js";
export { startNodeMediaServer } from "./ingest/node-media-server.js";
export type { NodeMediaServer, NodeMediaServerOptions } from "./ingest/node-media-server.js";
export { startHttpStatusServer } from "./ingest/http-status.js";
export type { HttpStatusServer, SeenRequest } from "./ingest/http-status.js";
export { cachedTestFlv, ffprobeFrames, makeTestFlv, publishFile, pullToFile, TEST_MEDIA_CACHE_DIR, waitForStableFile } from "./ingest/media.js";
export type { ProbePacket, ProbeResult, ProbeStream, PublishFileOptions, PublishResult, Puller, TestFlvOptions } from "./ingest/media.js";
export { exitStatus, IngestStartError, pidIsRunning, stopFfmpeg } from "./ingest/process.js";
export type { ExitInfo, IngestStartErrorCode } from "./ingest/process.js";
export { makeTempDir, removeTempDir } from "./ingest/dirs.js";
