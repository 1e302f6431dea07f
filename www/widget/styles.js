// The widget's styles live in its shadow root, so host pages cannot break it.
export const styles = `
:host { display: block; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1d2330; }
* { box-sizing: border-box; }
.card { background: #fff; border: 1px solid #dde1e8; border-radius: 10px; padding: 16px 18px; margin-bottom: 16px; }
.card h3 { margin: 0 0 12px; font-size: 1rem; display: flex; align-items: center; gap: 8px; }
.badge { font: 12px ui-monospace, monospace; background: #eef2ff; color: #3346a8; border-radius: 99px; padding: 2px 8px; }
.toolbar { display: flex; gap: 8px; align-items: center; flex-wrap: wrap; margin-left: auto; font-weight: normal; }
button, label.button { font: inherit; border: 1px solid #c5cbd6; background: #f8f9fb; border-radius: 6px; padding: 4px 10px; cursor: pointer; }
button:hover, label.button:hover { background: #eef0f4; }
button:disabled { opacity: .5; cursor: default; }
input[type=file] { display: none; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 4px 16px; margin: 0 0 12px; }
dt { color: #5b6475; }
dd { margin: 0; }
.io { display: grid; grid-template-columns: 1fr 1fr; gap: 16px; }
.io h4 { margin: 0 0 4px; font-size: .85rem; color: #5b6475; text-transform: uppercase; letter-spacing: .04em; }
.io ul { margin: 0; padding-left: 18px; }
code { font: 13px ui-monospace, monospace; }
.demo { display: grid; grid-template-columns: 200px 1fr 1.3fr; gap: 24px; align-items: start; }
canvas { width: 160px; height: 160px; image-rendering: pixelated; border: 1px solid #c5cbd6; border-radius: 4px; }
.nav { display: flex; gap: 6px; align-items: center; margin-top: 8px; font-size: 12px; white-space: nowrap; }
.prediction .digit { font-size: 64px; font-weight: 700; line-height: 1; }
.prediction .meta { color: #5b6475; margin-top: 6px; }
.ok { color: #16794a; }
.bad { color: #b3261e; }
.bar { display: grid; grid-template-columns: 16px 1fr 52px; gap: 8px; align-items: center; font-size: 12px; }
.track { background: #eef0f4; border-radius: 3px; height: 10px; overflow: hidden; }
.fill { display: block; height: 100%; background: #9aa6bd; }
.bar.win .fill { background: #3346a8; }
.bar .value { text-align: right; font-variant-numeric: tabular-nums; }
.error { background: #fdecea; border: 1px solid #f3b8b3; color: #8a1c14; border-radius: 8px; padding: 10px 14px; margin-bottom: 16px; white-space: pre-wrap; }
.status { color: #5b6475; font-size: 12px; }
button.primary { background: #3346a8; border-color: #3346a8; color: #fff; }
button.primary:hover { background: #26388f; }
.panel { margin-top: 14px; }
.probe-charts { display: flex; flex-wrap: wrap; gap: 12px; }
.probe-charts figure { margin: 0; width: 300px; }
.two { display: grid; grid-template-columns: minmax(0, 1fr) minmax(0, 1fr); gap: 16px; align-items: start; }
.row { display: flex; gap: 8px; align-items: center; flex-wrap: wrap; margin: 8px 0; }
.field { display: inline-flex; gap: 6px; align-items: center; font-size: 12px; color: #5b6475; margin-right: 8px; }
.field input[type=number] { width: 72px; }
textarea { width: 100%; font: 12px ui-monospace, monospace; border: 1px solid #c5cbd6; border-radius: 6px; padding: 6px; }
select, input[type=number], input[type=text] { max-width: 100%; font: inherit; border: 1px solid #c5cbd6; border-radius: 6px; padding: 2px 6px; background: #fff; }
progress { width: 180px; }
.tiles { display: grid; grid-template-columns: repeat(auto-fit, minmax(200px, 1fr)); gap: 10px; margin: 12px 0; }
.tile { border: 1px solid #dde1e8; border-radius: 8px; padding: 8px 12px; }
.tile-label { font-size: 12px; color: #5b6475; }
.tile-value { font-size: 18px; font-weight: 600; font-variant-numeric: tabular-nums; }
.output, .layers { margin: 14px 0; }
.output h4, .layers h4, [data-testid=sensitivity-result] h4 { margin: 8px 0 4px; }
table { border-collapse: collapse; font-size: 12px; margin: 6px 0; font-variant-numeric: tabular-nums; }
th, td { border-bottom: 1px solid #eef0f4; padding: 3px 8px; text-align: left; }
th { color: #5b6475; font-weight: 600; }
.calibration { display: flex; gap: 8px; flex-wrap: wrap; }
figure { margin: 0; }
figcaption { font-size: 11px; color: #5b6475; }
.chart { width: 100%; max-width: 720px; height: auto; display: block; }
.chart.small { width: 220px; }
details { margin: 6px 0; }
ul.warnings { background: #fff8e1; border: 1px solid #f0d27a; border-radius: 8px; padding: 8px 14px 8px 30px; margin: 8px 0; color: #5c4400; }
[hidden] { display: none !important; }
@media (max-width: 720px) { .demo, .io, .two { grid-template-columns: 1fr; } }
`;
