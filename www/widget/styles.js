// The widget's styles live in its shadow root, so host pages cannot break
// them; pages theme it through the --squish-* custom properties (README
// "Embedding"), and it follows prefers-color-scheme. One constructed sheet
// is shared by every element: no inline <style>, so a strict CSP without
// 'unsafe-inline' styles is enough.
export const styles = `
:host {
  display: block; font: var(--squish-font, 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif); color: var(--_fg);
  --_fg: var(--squish-text, #1d2330); --_muted: var(--squish-muted, #5b6475); --_faint: #9aa6bd;
  --_card: var(--squish-card, #fff); --_border: var(--squish-border, #dde1e8);
  --_accent: var(--squish-accent, #3346a8); --_accent-strong: var(--squish-accent-strong, #26388f); --_accent-soft: var(--squish-accent-soft, #eef2ff);
  --_control: var(--squish-control, #f8f9fb); --_control-border: var(--squish-control-border, #c5cbd6); --_hover: var(--squish-hover, #eef0f4);
}
@media (prefers-color-scheme: dark) {
  :host {
    --_fg: var(--squish-text, #e6e9ef); --_muted: var(--squish-muted, #a3abbb); --_faint: #6b7590;
    --_card: var(--squish-card, #1c2028); --_border: var(--squish-border, #353b48);
    --_accent: var(--squish-accent, #7d8ff0); --_accent-strong: var(--squish-accent-strong, #98a7f5); --_accent-soft: var(--squish-accent-soft, #2a3154);
    --_control: var(--squish-control, #262b35); --_control-border: var(--squish-control-border, #444b5a); --_hover: var(--squish-hover, #303643);
  }
}
* { box-sizing: border-box; }
.card { background: var(--_card); border: 1px solid var(--_border); border-radius: 10px; padding: 16px 18px; margin-bottom: 16px; }
.card h3 { margin: 0 0 12px; font-size: 1rem; display: flex; align-items: center; gap: 8px; flex-wrap: wrap; }
.toolbar select { max-width: 100%; min-width: 0; }
.badge { font: 12px ui-monospace, monospace; background: var(--_accent-soft); color: var(--_accent); border-radius: 99px; padding: 2px 8px; }
.toolbar { display: flex; gap: 8px; align-items: center; flex-wrap: wrap; margin-left: auto; font-weight: normal; }
button, label.button { font: inherit; color: inherit; border: 1px solid var(--_control-border); background: var(--_control); border-radius: 6px; padding: 4px 10px; cursor: pointer; }
button:hover, label.button:hover { background: var(--_hover); }
button:disabled { opacity: .5; cursor: default; }
input[type=file] { display: none; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 4px 16px; margin: 0 0 12px; }
dt { color: var(--_muted); }
dd { margin: 0; }
.io { display: grid; grid-template-columns: 1fr 1fr; gap: 16px; }
.io h4 { margin: 0 0 4px; font-size: .85rem; color: var(--_muted); text-transform: uppercase; letter-spacing: .04em; }
.io ul { margin: 0; padding-left: 18px; }
code { font: 13px ui-monospace, monospace; }
.demo { display: grid; grid-template-columns: 200px 1fr 1.3fr; gap: 24px; align-items: start; }
canvas { width: 160px; height: 160px; image-rendering: pixelated; border: 1px solid var(--_control-border); border-radius: 4px; }
.nav { display: flex; gap: 6px; align-items: center; margin-top: 8px; font-size: 12px; white-space: nowrap; }
.prediction .digit { font-size: 64px; font-weight: 700; line-height: 1; }
.prediction .meta { color: var(--_muted); margin-top: 6px; }
.ok { color: #16794a; }
.bad { color: #b3261e; }
.bar { display: grid; grid-template-columns: 16px 1fr 52px; gap: 8px; align-items: center; font-size: 12px; }
.track { background: var(--_hover); border-radius: 3px; height: 10px; overflow: hidden; }
.fill { display: block; height: 100%; background: var(--_faint); }
.bar.win .fill { background: var(--_accent); }
.bar .value { text-align: right; font-variant-numeric: tabular-nums; }
.error { background: #fdecea; border: 1px solid #f3b8b3; color: #8a1c14; border-radius: 8px; padding: 10px 14px; margin-bottom: 16px; white-space: pre-wrap; }
.status { color: var(--_muted); font-size: 12px; }
button.primary { background: var(--_accent); border-color: var(--_accent); color: #fff; }
button.primary:hover { background: var(--_accent-strong); }
.panel { margin-top: 14px; }
.probe-charts { display: flex; flex-wrap: wrap; gap: 12px; }
.probe-charts figure { margin: 0; width: 300px; }
.two { display: grid; grid-template-columns: minmax(0, 1fr) minmax(0, 1fr); gap: 16px; align-items: start; }
.row { display: flex; gap: 8px; align-items: center; flex-wrap: wrap; margin: 8px 0; }
.field { display: inline-flex; gap: 6px; align-items: center; font-size: 12px; color: var(--_muted); margin-right: 8px; }
.field input[type=number] { width: 72px; }
textarea { width: 100%; color: inherit; background: var(--_card); font: 12px ui-monospace, monospace; border: 1px solid var(--_control-border); border-radius: 6px; padding: 6px; }
select, input[type=number], input[type=text] { max-width: 100%; font: inherit; color: inherit; border: 1px solid var(--_control-border); border-radius: 6px; padding: 2px 6px; background: var(--_card); }
progress { width: 180px; }
.tiles { display: grid; grid-template-columns: repeat(auto-fit, minmax(200px, 1fr)); gap: 10px; margin: 12px 0; }
.tile { border: 1px solid var(--_border); border-radius: 8px; padding: 8px 12px; }
.tile-label { font-size: 12px; color: var(--_muted); }
.tile-value { font-size: 18px; font-weight: 600; font-variant-numeric: tabular-nums; }
.output, .layers { margin: 14px 0; }
.output h4, .layers h4, [data-testid=sensitivity-result] h4 { margin: 8px 0 4px; }
table { border-collapse: collapse; font-size: 12px; margin: 6px 0; font-variant-numeric: tabular-nums; }
th, td { border-bottom: 1px solid var(--_hover); padding: 3px 8px; text-align: left; }
th { color: var(--_muted); font-weight: 600; }
.calibration { display: flex; gap: 8px; flex-wrap: wrap; }
figure { margin: 0; }
figcaption { font-size: 11px; color: var(--_muted); }
.chart-box { width: 100%; max-width: 760px; min-height: 60px; }
.chart-box.small { width: 250px; }
.probe-charts .chart-box, .probe-charts figure { width: min(100%, 320px); }
.hbars { display: grid; gap: 3px; max-width: 760px; font-size: 11px; }
.hbar { display: grid; grid-template-columns: minmax(60px, 38%) 1fr 56px; gap: 8px; align-items: center; }
.hbar-label { overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.hbar .track { display: block; height: 12px; }
.hbar .fill { display: block; height: 100%; background: var(--_accent); }
.hbar .fill.before { background: var(--_faint); }
.hbar .pair { display: grid; gap: 1px; }
.hbar .pair .track { height: 7px; }
.hbar.rare .hbar-label { color: #b45309; }
.hbar-value { font-variant-numeric: tabular-nums; }
details { margin: 6px 0; }
ul.warnings { background: #fff8e1; border: 1px solid #f0d27a; border-radius: 8px; padding: 8px 14px 8px 30px; margin: 8px 0; color: #5c4400; }
[hidden] { display: none !important; }
.card { min-width: 0; overflow-x: auto; }
.scroll { overflow-x: auto; max-height: 420px; overflow-y: auto; border: 1px solid var(--_hover); border-radius: 6px; }
.scroll table { margin: 0; width: 100%; }
.scroll thead th { position: sticky; top: 0; background: var(--_card); }
td.num, th.num { text-align: right; }
th button.sort { font: inherit; font-weight: 600; color: inherit; background: none; border: 0; padding: 0; cursor: pointer; white-space: nowrap; }
table.ops td.histo { width: 40%; min-width: 80px; }
td.histo .track { display: block; }
input[type=search] { font: inherit; color: inherit; border: 1px solid var(--_control-border); border-radius: 6px; padding: 2px 6px; background: var(--_card); min-width: 0; flex: 1 1 200px; max-width: 360px; }
canvas.pad { cursor: crosshair; touch-action: none; image-rendering: auto; background: #fff; }
.pad-row { margin-top: 4px; grid-template-columns: 200px 1fr; }
.pad-result { display: flex; gap: 24px; align-items: center; flex-wrap: wrap; }
.verdict { display: grid; justify-items: start; gap: 2px; }
.digit.small { font-size: 40px; font-weight: 700; line-height: 1; }
.drop-hint { margin-top: 10px; border: 2px dashed var(--_accent); border-radius: 8px; padding: 18px; text-align: center; color: var(--_accent); background: var(--_accent-soft); }
.plot { max-width: 100%; overflow: hidden; }
.field { max-width: 100%; flex-wrap: wrap; }
.field select { min-width: 0; }
.card > h4 { margin: 12px 0 6px; font-size: .9rem; }
.sides { display: grid; gap: 10px; min-width: 0; }
.side-charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(min(100%, 380px), 1fr)); gap: 12px; margin: 8px 0; }
.side { min-width: 0; }
.side .field { display: flex; }
.side .field select { flex: 1 1 auto; width: 100%; }
.side h4 { margin: 0 0 4px; }
.side-columns { display: grid; grid-template-columns: minmax(0, 1fr); gap: 16px; }
.side-results { border-top: 3px solid var(--_faint); padding-top: 6px; min-width: 0; }
.side-results.side-a, th.side-a { border-top-color: #3346a8; }
.side-results.side-b, th.side-b { border-top-color: #c2410c; }
.sides-table th.side-a, .sides-table th.side-b { border-top: 3px solid; }
.examples { display: flex; flex-wrap: wrap; gap: 10px; }
.example { width: 132px; font-size: 11px; }
.example figcaption { color: var(--_fg); }
canvas.thumb { width: 56px; height: 56px; image-rendering: pixelated; border: 1px solid var(--_control-border); border-radius: 4px; }
canvas.thumb.wave { width: 112px; image-rendering: auto; }
.thumb-text { font-size: 12px; max-height: 5.2em; overflow: auto; border-left: 3px solid var(--_faint); padding-left: 6px; }
.thumb-values { font-size: 11px; word-break: break-all; }
.example.wide { width: min(100%, 280px); }
.tokens { display: flex; flex-wrap: wrap; gap: 2px; margin-top: 4px; }
.tokens code { font-size: 10px; background: var(--_hover); border-radius: 3px; padding: 0 3px; }
fieldset.choices { border: 1px solid var(--_border); border-radius: 8px; display: grid; grid-template-columns: repeat(auto-fill, minmax(min(100%, 300px), 1fr)); gap: 2px 12px; margin: 0 0 8px; }
fieldset.choices legend { font-size: 12px; color: var(--_muted); }
label.choice { font-size: 12px; }
tr.front td:first-child { font-weight: 600; }
input.share-link { flex: 1 1 240px; min-width: 0; font: 12px ui-monospace, monospace; }
@media (max-width: 720px) { .demo, .io, .two, .pad-row { grid-template-columns: 1fr; } }
@media (prefers-color-scheme: dark) {
  .error { background: #3a1f1d; border-color: #7a2e27; color: #f5b8b1; }
  ul.warnings { background: #33290f; border-color: #6b5416; color: #f0d27a; }
  .ok { color: #5fd39a; }
  .bad { color: #f28b82; }
}
`;

let sheet = null;

/** Applies the styles to a shadow root (a constructed stylesheet; a <style> element where those are missing). */
export function adoptStyles(root) {
  if ('adoptedStyleSheets' in root && typeof CSSStyleSheet.prototype.replaceSync === 'function') {
    if (!sheet) {
      sheet = new CSSStyleSheet();
      sheet.replaceSync(styles);
    }
    root.adoptedStyleSheets = [sheet];
    return;
  }
  const style = document.createElement('style');
  style.textContent = styles;
  root.append(style);
}
