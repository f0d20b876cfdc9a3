/**
 * <go-live>: the go-live widget. One custom element with everything a person
 * needs to stream from the page: preview, camera/microphone/screen choice
 * with a level meter, destinations (YouTube, Twitch, Facebook or any
 * RTMP/RTMPS URL, each with its stream key), quality, "Record on this
 * machine", the Go live / End stream button, and while live: LIVE, elapsed
 * time, bitrate, fps, dropped frames and each destination's state.
 *
 *   <script type="module" src="/golive.js"></script>
 *   <go-live></go-live>                     <!-- talks to the bridge that served the page -->
 *   <go-live bridge-url="wss://bridge.example/ingest" token="..." preset="1080p30"></go-live>
 *
 * Theme with CSS custom properties (--golive-accent, --golive-bg, ...) and
 * ::part(root|stage|preview|live-badge|go-button|panel). Events: the SDK's
 * ("statechange", "stats", "destination", "error"), re-dispatched from the
 * element, and "unsupported" (detail: Broadcaster.probe()'s answer) when this
 * browser cannot go live: the element then says why instead of offering a
 * Go live button that would fail. Settings persist in localStorage; stream keys only when the person
 * ticks "Remember stream keys on this device".
 */
import { Broadcaster, BroadcastError, PRESETS, type BroadcastSource, type BroadcastState, type BroadcastStats, type BrowserSupport, type PresetName, type VideoQuality } from "../sdk/index.js";
import type { DestinationMessage, DestinationRequest } from "../../protocol/wire.js";
import { STYLES } from "./styles.js";

/** Ingest services a person can pick, with their RTMP(S) server URLs. */
export const SERVICES = {
  youtube: { label: "YouTube", url: "rtmp://a.rtmp.youtube.com/live2" },
  twitch: { label: "Twitch", url: "rtmp://live.twitch.tv/app" },
  facebook: { label: "Facebook", url: "rtmps://live-api-s.facebook.com:443/rtmp" },
  custom: { label: "Custom RTMP/RTMPS", url: "" },
} as const;
type ServiceId = keyof typeof SERVICES;

interface SavedDestination {
  service: ServiceId;
  url: string;
  key?: string;
}

interface Settings {
  quality: PresetName | "custom";
  custom: VideoQuality;
  destinations: SavedDestination[];
  record: boolean;
  rememberKeys: boolean;
  camera?: string;
  microphone?: string;
}

const STORAGE_KEY = "golive.widget.v1";
const QUALITY_CHOICES: Array<[PresetName | "custom", string]> = [
  ["720p30", "720p 30 fps"],
  ["1080p30", "1080p 30 fps"],
  ["1080p60", "1080p 60 fps"],
  ["custom", "Custom"],
];

const STATE_TEXT: Record<string, string> = {
  connecting: "Connecting…",
  live: "Live",
  reconnecting: "Reconnecting…",
  ended: "Ended",
  failed: "Failed",
};

function el<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string> = {}, children: Array<Node | string> = []): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  for (const c of children) node.append(c);
  return node;
}

function formatElapsed(ms: number): string {
  const s = Math.floor(ms / 1000);
  const hh = Math.floor(s / 3600);
  const mm = String(Math.floor((s % 3600) / 60)).padStart(2, "0");
  const ss = String(s % 60).padStart(2, "0");
  return hh > 0 ? `${hh}:${mm}:${ss}` : `${mm}:${ss}`;
}

export class GoLiveElement extends HTMLElement {
  static readonly observedAttributes = ["bridge-url", "token", "preset"];

  readonly #root: ShadowRoot;
  #settings: Settings;
  #broadcaster: Broadcaster | undefined;
  #stream: MediaStream | undefined;
  #source: "camera" | "screen" = "camera";
  #startedAt = 0;
  #timer: ReturnType<typeof setInterval> | undefined;
  #meterCtx: AudioContext | undefined;
  #meterTimer: ReturnType<typeof setInterval> | undefined;
  #rowSeq = 0;
  #support: BrowserSupport | undefined;
  // Elements.
  readonly #video: HTMLVideoElement;
  readonly #badge: HTMLSpanElement;
  readonly #elapsed: HTMLSpanElement;
  readonly #meterBar: HTMLDivElement;
  readonly #meter: HTMLDivElement;
  readonly #camera: HTMLSelectElement;
  readonly #mic: HTMLSelectElement;
  readonly #screen: HTMLButtonElement;
  readonly #quality: HTMLSelectElement;
  readonly #customBox: HTMLDivElement;
  readonly #customInputs: Record<keyof VideoQuality, HTMLInputElement>;
  readonly #rows: HTMLDivElement;
  readonly #record: HTMLInputElement;
  readonly #remember: HTMLInputElement;
  readonly #stats: HTMLDivElement;
  readonly #go: HTMLButtonElement;
  readonly #error: HTMLParagraphElement;

  constructor() {
    super();
    this.#root = this.attachShadow({ mode: "open" });
    this.#settings = this.#load();
    const style = el("style");
    style.textContent = STYLES;

    this.#video = el("video", { part: "preview", "aria-label": "Preview" });
    this.#video.muted = true;
    this.#video.playsInline = true;
    this.#video.autoplay = true;
    this.#badge = el("span", { class: "live", part: "live-badge", hidden: "" }, ["LIVE"]);
    this.#elapsed = el("span", { class: "elapsed", "aria-label": "Elapsed time" }, ["00:00"]);
    this.#meterBar = el("div");
    this.#meter = el("div", { class: "meter", role: "meter", "aria-label": "Microphone level", "aria-valuemin": "0", "aria-valuemax": "100", "aria-valuenow": "0" }, [this.#meterBar]);
    const stage = el("div", { class: "stage", part: "stage" }, [this.#video, el("div", { class: "overlay" }, [this.#badge, this.#elapsed]), this.#meter]);

    this.#camera = el("select", { "aria-label": "Camera" });
    this.#mic = el("select", { "aria-label": "Microphone" });
    this.#screen = el("button", { type: "button", "aria-pressed": "false" }, ["Share screen"]);
    const sources = el("fieldset", {}, [
      el("legend", {}, ["Source"]),
      el("div", { class: "row" }, [el("label", {}, ["Camera", this.#camera]), el("label", {}, ["Microphone", this.#mic])]),
      this.#screen,
    ]);

    this.#quality = el("select", { "aria-label": "Quality" });
    for (const [value, label] of QUALITY_CHOICES) this.#quality.append(el("option", { value }, [label]));
    const num = (name: keyof VideoQuality, label: string): HTMLInputElement => {
      const input = el("input", { type: "number", "aria-label": label, min: "1" });
      input.value = String(this.#settings.custom[name]);
      return input;
    };
    this.#customInputs = { width: num("width", "Width"), height: num("height", "Height"), framerate: num("framerate", "Frame rate"), bitrate: num("bitrate", "Video bitrate (bit/s)") };
    this.#customBox = el("div", { class: "row custom" }, [
      el("label", {}, ["Width", this.#customInputs.width]),
      el("label", {}, ["Height", this.#customInputs.height]),
      el("label", {}, ["FPS", this.#customInputs.framerate]),
      el("label", {}, ["Bitrate", this.#customInputs.bitrate]),
    ]);
    const quality = el("fieldset", {}, [el("legend", {}, ["Quality"]), this.#quality, this.#customBox]);

    this.#rows = el("div", { class: "rows" });
    const add = el("button", { type: "button" }, ["Add destination"]);
    this.#record = el("input", { type: "checkbox" });
    this.#remember = el("input", { type: "checkbox" });
    const destinations = el("fieldset", {}, [
      el("legend", {}, ["Destinations"]),
      this.#rows,
      add,
      el("label", { class: "check" }, [this.#record, "Record on this machine"]),
      el("label", { class: "check" }, [this.#remember, "Remember stream keys on this device"]),
    ]);

    this.#stats = el("div", { class: "stats", "aria-live": "polite" });
    this.#go = el("button", { type: "button", class: "go", part: "go-button" }, ["Go live"]);
    this.#error = el("p", { class: "error", role: "alert" });
    const panel = el("div", { class: "panel", part: "panel" }, [sources, quality, destinations, this.#stats, this.#go, this.#error]);
    this.#root.append(style, el("div", { class: "gl", part: "root" }, [stage, panel]));

    // Restore settings.
    this.#quality.value = this.#settings.quality;
    this.#customBox.hidden = this.#settings.quality !== "custom";
    this.#record.checked = this.#settings.record;
    this.#remember.checked = this.#settings.rememberKeys;
    const saved = this.#settings.destinations.length > 0 ? this.#settings.destinations : [{ service: "custom" as const, url: "" }];
    for (const d of saved) this.#addRow(d);

    // Wire up.
    this.#go.addEventListener("click", () => void this.#toggle());
    add.addEventListener("click", () => {
      const row = this.#addRow({ service: "custom", url: "" });
      row.querySelector<HTMLInputElement>("input")?.focus();
      this.#save();
    });
    this.#quality.addEventListener("change", () => {
      this.#customBox.hidden = this.#quality.value !== "custom";
      this.#save();
    });
    for (const input of Object.values(this.#customInputs)) input.addEventListener("change", () => this.#save());
    this.#record.addEventListener("change", () => this.#save());
    this.#remember.addEventListener("change", () => this.#save());
    this.#camera.addEventListener("change", () => {
      this.#source = "camera";
      void this.#preview();
    });
    this.#mic.addEventListener("change", () => void this.#preview());
    this.#screen.addEventListener("click", () => {
      this.#source = this.#source === "screen" ? "camera" : "screen";
      void this.#preview();
    });
  }

  connectedCallback(): void {
    if (!this.hasAttribute("token") && this.#settings.destinations.length === 0 && !localStorage.getItem(STORAGE_KEY)) {
      // Served by a bridge with no token: recording locally works at once.
      this.#record.checked = true;
    }
    void this.#checkSupport().then((ok) => {
      if (ok) void this.#preview();
    });
  }

  /** What Broadcaster.probe() said for this browser (undefined until it answered). */
  get support(): BrowserSupport | undefined {
    return this.#support;
  }

  /**
   * Probes the browser before asking for the camera: where it cannot go live,
   * the reason is shown in plain words and Go live stays disabled.
   */
  async #checkSupport(): Promise<boolean> {
    let support: BrowserSupport;
    try {
      support = await Broadcaster.probe({ quality: this.#qualitySpec() });
    } catch (err) {
      support = { canGoLive: false, code: "UNSUPPORTED_BROWSER", reason: `this browser could not be checked: ${err instanceof Error ? err.message : String(err)}` };
    }
    this.#support = support;
    this.dataset.support = support.canGoLive ? "ok" : support.code;
    if (support.canGoLive) return true;
    this.#go.disabled = true;
    this.#go.title = "This browser cannot go live";
    this.#showError(new BroadcastError(support.code, `this browser cannot go live: ${support.reason}.`));
    this.dispatchEvent(new CustomEvent("unsupported", { detail: support }));
    return false;
  }

  disconnectedCallback(): void {
    void this.#broadcaster?.stop();
    this.#stopPreview();
  }

  /**
   * The bridge's ingest URL: the attribute (a path such as "/golive/ingest"
   * is on this page's host), else the bridge that served this page.
   */
  get bridgeUrl(): string {
    const url = new URL(this.getAttribute("bridge-url") || "/ingest", location.href);
    if (url.protocol === "http:" || url.protocol === "https:") url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    return url.href;
  }

  /** The broadcast's state ("idle" before the first Go live). */
  get state(): BroadcastState {
    return this.#broadcaster?.state ?? "idle";
  }

  // --- destinations ----------------------------------------------------------

  #addRow(saved: SavedDestination): HTMLDivElement {
    const n = ++this.#rowSeq;
    const service = el("select", { "aria-label": "Service" });
    for (const [id, s] of Object.entries(SERVICES)) service.append(el("option", { value: id }, [s.label]));
    service.value = saved.service;
    const url = el("input", { type: "text", "aria-label": "Stream URL", placeholder: "rtmp://host/app", autocomplete: "off", spellcheck: "false" });
    url.value = saved.url;
    const key = el("input", { type: "password", "aria-label": "Stream key", autocomplete: "off", spellcheck: "false" });
    key.value = saved.key ?? "";
    const show = el("button", { type: "button", "aria-label": "Show stream key", "aria-pressed": "false" }, ["Show"]);
    const remove = el("button", { type: "button", "aria-label": "Remove destination" }, ["Remove"]);
    const status = el("div", { class: "status", role: "status" });
    const row = el("div", { class: "dest", role: "group", "aria-label": `Destination ${n}`, "data-id": `d${n}` }, [
      el("div", { class: "dest-head" }, [service, remove]),
      el("label", {}, ["Stream URL", url]),
      el("label", {}, ["Stream key", el("div", { class: "key" }, [key, show])]),
      status,
    ]);
    service.addEventListener("change", () => {
      const preset = SERVICES[service.value as ServiceId];
      if (preset.url) url.value = preset.url;
      this.#save();
    });
    url.addEventListener("change", () => this.#save());
    key.addEventListener("change", () => this.#save());
    show.addEventListener("click", () => {
      const visible = key.type === "password";
      key.type = visible ? "text" : "password";
      show.textContent = visible ? "Hide" : "Show";
      show.setAttribute("aria-label", visible ? "Hide stream key" : "Show stream key");
      show.setAttribute("aria-pressed", String(visible));
    });
    remove.addEventListener("click", () => {
      row.remove();
      this.#save();
    });
    this.#rows.append(row);
    return row;
  }

  #rowsData(): Array<{ row: HTMLDivElement; id: string; service: ServiceId; url: string; key: string }> {
    return [...this.#rows.querySelectorAll<HTMLDivElement>(".dest")].map((row) => {
      const [url, key] = row.querySelectorAll<HTMLInputElement>("input");
      return { row, id: row.dataset.id ?? "", service: (row.querySelector("select")?.value ?? "custom") as ServiceId, url: url?.value.trim() ?? "", key: key?.value.trim() ?? "" };
    });
  }

  // --- preview ---------------------------------------------------------------

  async #preview(): Promise<void> {
    if (this.#broadcaster && this.state !== "idle" && this.state !== "ended" && this.state !== "failed") {
      // While live, a new source replaces the old one without ending the broadcast.
      try {
        this.#showStream(await this.#broadcaster.setSource(this.#sourceSpec()));
      } catch (err) {
        this.#showError(err);
      }
      return;
    }
    try {
      const probe = new Broadcaster({ bridgeUrl: this.bridgeUrl, quality: this.#qualitySpec() });
      const stream = await probe.setSource(this.#sourceSpec());
      this.#stopPreview();
      this.#showStream(stream);
      this.#error.textContent = "";
      await this.#listDevices();
    } catch (err) {
      this.#showError(err);
    }
  }

  #sourceSpec(): BroadcastSource {
    if (this.#source === "screen") return { kind: "screen", audio: true, microphone: true };
    return {
      kind: "camera",
      ...(this.#camera.value && { videoDeviceId: this.#camera.value }),
      ...(this.#mic.value && { audioDeviceId: this.#mic.value }),
    };
  }

  #showStream(stream: MediaStream): void {
    this.#stream = stream;
    this.#video.srcObject = stream;
    this.#screen.setAttribute("aria-pressed", String(this.#source === "screen"));
    this.#screen.textContent = this.#source === "screen" ? "Use camera" : "Share screen";
    this.#startMeter(stream);
  }

  #stopPreview(): void {
    if (this.#broadcaster && this.state === "live") return;
    for (const t of this.#stream?.getTracks() ?? []) t.stop();
    this.#stream = undefined;
    clearInterval(this.#meterTimer);
    void this.#meterCtx?.close().catch(() => undefined);
    this.#meterCtx = undefined;
  }

  async #listDevices(): Promise<void> {
    const devices = await navigator.mediaDevices.enumerateDevices();
    const fill = (select: HTMLSelectElement, kind: MediaDeviceKind, label: string, current?: string): void => {
      const keep = select.value || current || "";
      select.replaceChildren();
      let i = 0;
      for (const d of devices.filter((x) => x.kind === kind)) select.append(el("option", { value: d.deviceId }, [d.label || `${label} ${++i}`]));
      if (keep && [...select.options].some((o) => o.value === keep)) select.value = keep;
    };
    fill(this.#camera, "videoinput", "Camera", this.#settings.camera);
    fill(this.#mic, "audioinput", "Microphone", this.#settings.microphone);
  }

  #startMeter(stream: MediaStream): void {
    clearInterval(this.#meterTimer);
    void this.#meterCtx?.close().catch(() => undefined);
    const track = stream.getAudioTracks()[0];
    if (!track) {
      this.#meterBar.style.width = "0";
      return;
    }
    const ctx = new AudioContext();
    this.#meterCtx = ctx;
    const analyser = ctx.createAnalyser();
    analyser.fftSize = 1024;
    ctx.createMediaStreamSource(new MediaStream([track])).connect(analyser);
    const data = new Float32Array(analyser.fftSize);
    const tick = (): void => {
      analyser.getFloatTimeDomainData(data);
      let peak = 0;
      for (const v of data) peak = Math.max(peak, Math.abs(v));
      // dBFS from -60 to 0 onto 0..100.
      const db = 20 * Math.log10(Math.max(peak, 1e-6));
      const level = Math.round(Math.min(100, Math.max(0, ((db + 60) / 60) * 100)));
      this.#meterBar.style.width = `${level}%`;
      this.#meter.setAttribute("aria-valuenow", String(level));
    };
    // 15 updates a second: enough for a level meter, and cheap for engines
    // whose capture follows rendering (requestVideoFrameCallback).
    tick();
    this.#meterTimer = setInterval(tick, 1000 / 15);
  }

  // --- going live ------------------------------------------------------------

  async #toggle(): Promise<void> {
    if (this.#support && !this.#support.canGoLive) return;
    const live = this.#broadcaster && ["starting", "live", "reconnecting"].includes(this.#broadcaster.state);
    if (live) {
      this.#go.disabled = true;
      await this.#broadcaster?.stop();
      this.#go.disabled = false;
      return;
    }
    await this.#goLive();
  }

  async #goLive(): Promise<void> {
    this.#error.textContent = "";
    const rows = this.#rowsData();
    const destinations: DestinationRequest[] = [];
    for (const r of rows) {
      const status = r.row.querySelector<HTMLDivElement>(".status")!;
      status.textContent = "";
      delete status.dataset.state;
      if (!r.url && !r.key) continue;
      if (!r.url) {
        this.#error.textContent = "Enter the Stream URL of every destination (or remove the empty one).";
        return;
      }
      destinations.push(r.key ? { id: r.id, url: r.url, key: r.key } : { id: r.id, url: r.url });
    }
    if (destinations.length === 0 && !this.#record.checked) {
      this.#error.textContent = "Add a destination (Stream URL and Stream key) or tick “Record on this machine”.";
      return;
    }
    this.#save();
    const token = this.getAttribute("token");
    const b = new Broadcaster({ bridgeUrl: this.bridgeUrl, quality: this.#qualitySpec(), ...(token && { token }) });
    this.#broadcaster = b;
    for (const type of ["statechange", "stats", "destination", "advice", "error"]) {
      b.addEventListener(type, (e) => {
        const detail: unknown = (e as CustomEvent).detail;
        this.#onEvent(type, detail);
        this.dispatchEvent(new CustomEvent(type, { detail }));
      });
    }
    this.#go.disabled = true;
    try {
      this.#stopPreview();
      this.#showStream(await b.setSource(this.#sourceSpec()));
      await b.start({ destinations, record: this.#record.checked });
    } catch (err) {
      this.#showError(err);
    } finally {
      this.#go.disabled = false;
    }
  }

  #onEvent(type: string, detail: unknown): void {
    switch (type) {
      case "statechange":
        return this.#render(detail as BroadcastState);
      case "destination": {
        const msg = detail as DestinationMessage;
        const row = this.#rows.querySelector<HTMLDivElement>(`.dest[data-id="${CSS.escape(msg.id)}"]`);
        const status = row?.querySelector<HTMLDivElement>(".status");
        if (!status) return;
        status.dataset.state = msg.state;
        const base = msg.id === "recording" ? "" : STATE_TEXT[msg.state] ?? msg.state;
        const retry = msg.retryInMs !== undefined ? `, next try within ${Math.max(1, Math.round(msg.retryInMs / 1000))} s` : "";
        status.textContent = msg.state === "failed" && msg.message ? `Failed: ${msg.message}` : msg.state === "reconnecting" && msg.attempt ? `${base} (attempt ${msg.attempt}${retry})` : base;
        return;
      }
      case "stats": {
        const s = detail as BroadcastStats;
        this.#stats.textContent = `${(s.bitrate / 1e6).toFixed(2)} Mbit/s · ${s.fps} fps · ${s.framesDropped} dropped`;
        return;
      }
      case "error":
        this.#showError(detail);
        return;
      default:
        return;
    }
  }

  #render(state: BroadcastState): void {
    const onAir = state === "live" || state === "reconnecting";
    this.#badge.hidden = !onAir;
    this.#go.textContent = state === "starting" || onAir ? "End stream" : "Go live";
    this.#go.dataset.live = String(state === "starting" || onAir);
    if (state === "starting") {
      this.#startedAt = Date.now();
      this.#elapsed.textContent = "00:00";
      clearInterval(this.#timer);
      this.#timer = setInterval(() => (this.#elapsed.textContent = formatElapsed(Date.now() - this.#startedAt)), 1000);
    }
    if (state === "ended" || state === "failed") {
      clearInterval(this.#timer);
      this.#stats.textContent = "";
    }
  }

  #showError(err: unknown): void {
    const message = err instanceof BroadcastError || err instanceof Error ? err.message : String(err);
    this.#error.textContent = message.charAt(0).toUpperCase() + message.slice(1);
  }

  // --- settings --------------------------------------------------------------

  #qualitySpec(): PresetName | VideoQuality {
    const preset = this.getAttribute("preset") as PresetName | null;
    const choice = this.#quality?.value ?? this.#settings.quality;
    if (choice === "custom") {
      const q = (name: keyof VideoQuality): number => Number(this.#customInputs[name].value) || this.#settings.custom[name];
      return { width: q("width"), height: q("height"), framerate: q("framerate"), bitrate: q("bitrate") };
    }
    if (choice in PRESETS) return choice as PresetName;
    return preset && preset in PRESETS ? preset : "720p30";
  }

  #load(): Settings {
    const preset = (this.getAttribute("preset") ?? "720p30") as PresetName;
    const defaults: Settings = { quality: preset in PRESETS ? preset : "720p30", custom: { ...PRESETS["720p30"] }, destinations: [], record: false, rememberKeys: false };
    try {
      const raw = localStorage.getItem(STORAGE_KEY);
      if (!raw) return defaults;
      const saved = JSON.parse(raw) as Partial<Settings>;
      return { ...defaults, ...saved, custom: { ...defaults.custom, ...saved.custom } };
    } catch {
      return defaults;
    }
  }

  #save(): void {
    const remember = this.#remember.checked;
    const rows = this.#rowsData();
    const settings: Settings = {
      quality: this.#quality.value as Settings["quality"],
      custom: {
        width: Number(this.#customInputs.width.value) || 1280,
        height: Number(this.#customInputs.height.value) || 720,
        framerate: Number(this.#customInputs.framerate.value) || 30,
        bitrate: Number(this.#customInputs.bitrate.value) || 3_000_000,
      },
      destinations: rows.map((r) => ({ service: r.service, url: r.url, ...(remember && r.key && { key: r.key }) })),
      record: this.#record.checked,
      rememberKeys: remember,
      ...(this.#camera.value && { camera: this.#camera.value }),
      ...(this.#mic.value && { microphone: this.#mic.value }),
    };
    this.#settings = settings;
    try {
      localStorage.setItem(STORAGE_KEY, JSON.stringify(settings));
    } catch {
      // storage full or disabled: settings just won't persist
    }
  }
}

/** Registers <go-live> (idempotent). */
export function defineGoLive(name = "go-live"): void {
  if (!customElements.get(name)) customElements.define(name, GoLiveElement);
}
