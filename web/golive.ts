/**
 * golive for the browser, as one module: the SDK (Broadcaster) and the
 * <go-live> element, registered on import. The bridge serves it as /golive.js:
 *
 *   <script type="module" src="https://your-bridge/golive.js"></script>
 *   <go-live bridge-url="wss://your-bridge/ingest"></go-live>
 */
import { defineGoLive } from "./widget/go-live.js";

defineGoLive();

export * from "./sdk/index.js";
export { GoLiveElement, SERVICES, defineGoLive } from "./widget/go-live.js";
