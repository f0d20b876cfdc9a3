/**
 * golive: the bridge as a library, for an app's own server.
 *
 *   import { createServer } from "node:http";
 *   import { Bridge, webRoot } from "golive";
 *
 *   const bridge = new Bridge({ noServer: true, staticDir: webRoot, authorize: ... });
 *   const server = createServer(async (req, res) => {
 *     if (await bridge.handleRequest(req, res, { prefix: "/golive" })) return;
 *     // ... the app's own routes
 *   });
 *   server.on("upgrade", (req, socket, head) => {
 *     if (req.url?.startsWith("/golive/ingest")) bridge.handleUpgrade(req, socket, head);
 *     else socket.destroy();
 *   });
 *
 * Tokens: golive/token. The wire protocol: golive/protocol. The browser SDK
 * and <go-live>: golive/web. End-to-end tests of your go-live flow: golive/testing.
 */
export {
  Bridge, demoPageCsp, isLoopbackHost,
  type BridgeEvents, type BridgeOptions, type DestinationStateEvent, type SessionEndedEvent, type SessionStartedEvent,
} from "./bridge/bridge.js";
export { AUTH_REFUSED, type AuthorizeHook, type AuthorizeRequest, type AuthorizeResult } from "./bridge/authorize.js";
export { DEFAULT_SESSION_LIMITS, type SessionLimits } from "./bridge/session.js";
export type { RtmpDestinationOptions } from "./bridge/rtmp-destination.js";
export type { RtmpPublisherOptions } from "./rtmp/rtmp-connection.js";
export { createLogger, type Logger } from "./log.js";
export { ffmpegCoreDir, webRoot } from "./web-root.js";
export { mintToken, type GoliveGrant } from "./security/tokens.js";
export { CloseCode, SUBPROTOCOL, INGEST_PATH, type DestinationState, type DestinationStats } from "../protocol/wire.js";
