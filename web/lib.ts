/**
 * golive/web: the browser SDK and the <go-live> element for apps built with
 * a bundler (Vite, webpack, Rollup):
 *
 *   import { Broadcaster, defineGoLive } from "golive/web";
 *   defineGoLive(); // registers <go-live>
 *
 * Its Workers and WASM are referenced as `new URL("...", import.meta.url)`,
 * which bundlers follow: they are emitted with the app's own assets. Nothing
 * is registered or loaded on import. Pages with no bundler use the prebuilt
 * golive.js instead (it registers <go-live> when loaded).
 */
export * from "./sdk/index.js";
export { GoLiveElement, SERVICES, defineGoLive } from "./widget/go-live.js";
