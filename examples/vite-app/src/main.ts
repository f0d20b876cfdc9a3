// A Vite app importing golive's browser side: the widget and the SDK. Vite
// finds the H.264 and AAC workers and the AAC encoder's WASM through golive's
// `new URL(..., import.meta.url)` references and emits them with this app's
// assets: nothing to copy, no CDN.
import { Broadcaster, defineGoLive, type GoLiveElement } from "golive/web";

defineGoLive();
const widget = document.querySelector<GoLiveElement>("go-live")!;
// Where the app's bridge is, and the signed-in user's session (the bridge's
// authorize hook checks it); here from the page's URL.
const params = new URLSearchParams(location.search);
widget.setAttribute("bridge-url", params.get("bridge") ?? "/golive/ingest");
widget.setAttribute("token", params.get("session") ?? "");
widget.addEventListener("statechange", () => console.log(`broadcast: ${widget.state}`));

const support = await Broadcaster.probe({ quality: "720p30" });
document.querySelector("#support")!.textContent = support.canGoLive ? "This browser can go live." : `This browser cannot go live: ${support.reason}`;
