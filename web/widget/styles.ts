/** The widget's stylesheet (shadow DOM). Theme with CSS custom properties. */
export const STYLES = `
:host {
  --golive-bg: #ffffff;
  --golive-fg: #1d1d1f;
  --golive-muted: #5f6368;
  --golive-border: #d0d4da;
  --golive-accent: #d93025;
  --golive-accent-fg: #ffffff;
  --golive-ok: #137333;
  --golive-warn: #b06000;
  --golive-focus: #1a73e8;
  --golive-radius: 10px;
  --golive-font: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  display: block;
  color: var(--golive-fg);
  font: 14px/1.4 var(--golive-font);
  container-type: inline-size;
}
* { box-sizing: border-box; }
.gl { display: grid; grid-template-columns: minmax(0, 3fr) minmax(280px, 2fr); gap: 16px; background: var(--golive-bg); border: 1px solid var(--golive-border); border-radius: var(--golive-radius); padding: 16px; }
@container (max-width: 720px) { .gl { grid-template-columns: 1fr; } }
.stage { position: relative; background: #111; border-radius: calc(var(--golive-radius) - 4px); aspect-ratio: 16 / 9; overflow: hidden; }
video { width: 100%; height: 100%; object-fit: contain; display: block; }
.overlay { position: absolute; top: 10px; left: 10px; display: flex; gap: 8px; align-items: center; }
.live { background: var(--golive-accent); color: var(--golive-accent-fg); font-weight: 700; letter-spacing: .06em; padding: 2px 8px; border-radius: 4px; }
.live[hidden] { display: none; }
.elapsed { background: rgba(0,0,0,.6); color: #fff; padding: 2px 8px; border-radius: 4px; font-variant-numeric: tabular-nums; }
.meter { position: absolute; left: 10px; right: 10px; bottom: 10px; height: 6px; background: rgba(255,255,255,.2); border-radius: 3px; overflow: hidden; }
.meter > div { height: 100%; width: 0; background: linear-gradient(90deg, #34a853, #fbbc04 70%, #ea4335); transition: width 60ms linear; }
.panel { display: flex; flex-direction: column; gap: 12px; min-width: 0; }
fieldset { border: 1px solid var(--golive-border); border-radius: 8px; padding: 10px 12px; margin: 0; display: flex; flex-direction: column; gap: 8px; }
legend { font-weight: 600; padding: 0 4px; }
label { display: flex; flex-direction: column; gap: 2px; font-size: 12px; color: var(--golive-muted); }
input, select, button { font: inherit; color: var(--golive-fg); }
input[type=text], input[type=password], input[type=number], select { border: 1px solid var(--golive-border); border-radius: 6px; padding: 6px 8px; background: #fff; min-width: 0; width: 100%; }
.row { display: flex; gap: 8px; align-items: end; }
.row > * { flex: 1; min-width: 0; }
.check { flex-direction: row; align-items: center; gap: 6px; color: var(--golive-fg); font-size: 14px; }
button { border: 1px solid var(--golive-border); background: #f8f9fa; border-radius: 6px; padding: 6px 10px; cursor: pointer; }
button:hover { background: #eef0f2; }
:focus-visible { outline: 3px solid var(--golive-focus); outline-offset: 2px; }
.rows { display: flex; flex-direction: column; gap: 8px; }
.dest { border: 1px solid var(--golive-border); border-radius: 8px; padding: 8px; display: flex; flex-direction: column; gap: 6px; }
.dest-head { display: flex; gap: 8px; align-items: center; }
.dest-head select { flex: 1; }
.key { display: flex; gap: 6px; }
.key input { flex: 1; }
.status { min-height: 1.4em; font-size: 12px; color: var(--golive-muted); }
.status[data-state=live] { color: var(--golive-ok); font-weight: 600; }
.status[data-state=reconnecting], .status[data-state=connecting] { color: var(--golive-warn); }
.status[data-state=failed] { color: var(--golive-accent); }
.stats { min-height: 1.4em; font-size: 12px; color: var(--golive-muted); font-variant-numeric: tabular-nums; }
.go { background: var(--golive-accent); color: var(--golive-accent-fg); border: none; font-weight: 700; padding: 10px 14px; font-size: 15px; border-radius: 8px; }
.go:hover { filter: brightness(1.05); background: var(--golive-accent); }
.go[data-live=true] { background: #3c4043; }
.go:disabled { opacity: .6; cursor: progress; }
.error { min-height: 1.4em; color: var(--golive-accent); margin: 0; font-size: 13px; }
.custom[hidden] { display: none; }
`;
