/**
 * golive for the browser, as one prebuilt module: the SDK (Broadcaster) and
 * the <go-live> element, registered on import. The bridge serves it as
 * /golive.js:
 *
 *   <script type="module" src="https://your-bridge/golive.js"></script>
 *   <go-live bridge-url="wss://your-bridge/ingest"></go-live>
 *
 * Apps with a bundler import golive/web (web/lib.ts) instead.
 */
import { defineGoLive } from "./lib.js";

defineGoLive();

export * from "./lib.js";
