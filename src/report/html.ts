// The HTML report: one self-contained file (inline CSS and SVG, no script, no external resource;
// a Content-Security-Policy forbids loading anything). Presentation only: every number was computed
// by the engine; this file maps numbers to pixels and colours. Every string from the model (layer
// names, reasons, paths) is escaped: model files are untrusted.
import { ALL_METHODS, type MethodName } from '../layer/types.js';
import type { FrequencyMap } from '../layer/frequency-map.js';
import { formatDuration, formatNumber, formatShape, formatStrideDilationGroup, MISSING } from './format.js';
import { el, escapeHtml, logAxis, rampColor, RAMP_STOPS, type LogAxis } from './svg.js';
import type { LipcheckReport, ReportLayer } from './types.js';

export type HeatMapRole = 'loosest' | 'tightest' | 'largest bound' | 'smallest bound';

/** A layer chosen for a heat map: its index in report.layers and why it was chosen. */
export interface HeatMapPick {
  index: number;
  name: string;
  role: HeatMapRole;
}

export interface HtmlFrequencyMap extends HeatMapPick {
  map: FrequencyMap;
}

export interface HtmlOptions {
  /** The engine's per-frequency maps for the layers heatMapLayers() picked (computed by frequencyMapsFor in src/audit.ts). */
  frequencyMaps?: readonly HtmlFrequencyMap[];
}

/** Upper methods drawn as bars, tightest first; power is drawn as the floor marker. */
const BAR_METHODS: MethodName[] = ['spectral', 'toeplitz', 'frobenius'];

/**
 * The conv layers worth a heat map: the loosest and the tightest by tightness (best / power);
 * without power values, the largest and smallest best bound. At most two, never the same layer twice.
 */
export function heatMapLayers(report: LipcheckReport): HeatMapPick[] {
  const convs = report.layers.map((layer, index) => ({ layer, index })).filter(({ layer }) => layer.kind === 'conv' && layer.best !== null);
  const rated = convs.filter(({ layer }) => layer.tightness !== null);
  const [pool, key, roles]: [typeof convs, (l: ReportLayer) => number, [HeatMapRole, HeatMapRole]] =
    rated.length > 0 ? [rated, (l) => l.tightness!, ['loosest', 'tightest']] : [convs, (l) => l.best!, ['largest bound', 'smallest bound']];
  if (pool.length === 0) return [];
  let hi = pool[0];
  let lo = pool[0];
  for (const c of pool) {
    if (key(c.layer) > key(hi.layer)) hi = c;
    if (key(c.layer) < key(lo.layer)) lo = c;
  }
  const picks: HeatMapPick[] = [{ index: hi.index, name: hi.layer.name, role: roles[0] }];
  if (lo.index !== hi.index) picks.push({ index: lo.index, name: lo.layer.name, role: roles[1] });
  return picks;
}

export function renderHtml(report: LipcheckReport, options: HtmlOptions = {}): string {
  const title = `lipcheck: ${report.model.path}`;
  const body = [
    header(report),
    section('Per-layer bounds (log scale)', layerChart(report), 'layers'),
    section('Network bound', networkChart(report), 'network'),
    section('Per-frequency gain', heatMaps(options.frequencyMaps ?? []), 'heatmaps'),
    section('Numbers', numbersTable(report), 'numbers'),
    notesSection(report),
    `<footer>lipcheck ${escapeHtml(report.tool.version)} · ${report.layers.length} layer${report.layers.length === 1 ? '' : 's'} in ${escapeHtml(formatDuration(report.timing.totalMs))}</footer>`,
  ].join('\n');
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>${CSS}</style>
</head>
<body>
${body}
</body>
</html>
`;
}

const CSS = `
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1f2328;background:#fff;margin:24px auto;max-width:1100px;padding:0 16px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #d0d7de;padding-bottom:4px}
.meta{color:#57606a;font-size:13px;word-break:break-all}.verdict{font-size:16px;margin:10px 0}.pass{color:#1a7f37}.fail{color:#cf222e}.info{color:#57606a}
.scroll{overflow-x:auto}svg{display:block}svg text{font:11px system-ui,sans-serif;fill:#1f2328}svg .dim{fill:#57606a}
.grid{stroke:#e6e8eb}.axis{stroke:#8c959f}.power{stroke:#1f2328;stroke-width:2}.budget{stroke:#cf222e;stroke-width:1.5;stroke-dasharray:4 3}
.m-spectral{fill:#1b9e77;background:#1b9e77}.m-toeplitz{fill:#7570b3;background:#7570b3}.m-frobenius{fill:#d95f02;background:#d95f02}.m-graph{fill:#0969da;background:#0969da}.m-naive{fill:#8c959f;background:#8c959f}.bar{opacity:.55}.bar.best{opacity:1}
.over text.name{fill:#cf222e;font-weight:600}.legend{display:flex;gap:16px;flex-wrap:wrap;font-size:12px;color:#57606a;margin:4px 0 8px}
.key{display:inline-block;width:14px;height:8px;margin-right:4px;vertical-align:middle}.key.power{width:2px;height:12px;background:#1f2328}.key.budget{width:14px;height:0;border-top:2px dashed #cf222e}
.maps{display:flex;gap:32px;flex-wrap:wrap}.map figcaption{font-size:13px;max-width:340px;word-break:break-all}
table{border-collapse:collapse;font-size:12px}th,td{border:1px solid #d0d7de;padding:3px 6px}td.num{text-align:right;font-variant-numeric:tabular-nums}
tr.over td{color:#cf222e}td.name{word-break:break-all;max-width:260px}ul.notes{font-size:13px;color:#57606a}footer{margin-top:28px;color:#57606a;font-size:12px}
`.trim();

function section(heading: string, content: string, id: string): string {
  return `<section id="${id}"><h2>${escapeHtml(heading)}</h2>\n${content}\n</section>`;
}

function header(report: LipcheckReport): string {
  const { model, settings } = report;
  const failures = report.budget.failures;
  const budgeted = report.budget.limit !== null || report.layers.some((l) => l.budget !== null);
  const net = report.network.bound === null ? 'no certified network bound' : `network bound ${formatNumber(report.network.bound)}`;
  const verdict =
    failures.length > 0
      ? `<p class="verdict fail">✗ budget exceeded (${failures.length}): ${escapeHtml(failures.map((f) => f.name ?? 'network').join(', '))} · ${escapeHtml(net)}</p>`
      : `<p class="verdict ${budgeted ? 'pass' : 'info'}">${budgeted ? '✓ within budget' : 'no budget set'} · ${escapeHtml(net)}</p>`;
  const meta = [
    `sha256 ${model.sha256.slice(0, 12)}…`,
    `opset ${model.opset ?? '?'}`,
    model.producer ? `producer ${model.producer}` : null,
    `methods ${settings.methods.join(', ')}`,
    `samples ${settings.samples}`,
    `iterations ${settings.iterations}`,
    `tolerance ${settings.tolerance}`,
    settings.inputShape ? `input ${formatShape(settings.inputShape)}${settings.inputShapeSource === 'assumed' ? ' (assumed: certified bounds hold for every input size)' : ''}` : null,
    settings.layers !== null ? `layers ${settings.layers}` : null,
  ].filter((x): x is string => x !== null);
  return `<header><h1>lipcheck report: ${escapeHtml(model.path)}</h1>\n<div class="meta">${escapeHtml(meta.join(' · '))}</div>\n${verdict}</header>`;
}

function legend(items: [string, string][]): string {
  return `<div class="legend">${items.map(([cls, label]) => `<span><span class="key ${cls}"></span>${escapeHtml(label)}</span>`).join('')}</div>`;
}

const LABEL_W = 230;
const PLOT_W = 600;
const VALUE_W = 90;
const ROW_H = 22;
const AXIS_H = 24;

/** Tick label: plain for [1e-3, 1e4), else `2e-5`. */
function tickLabel(v: number): string {
  const e = Math.floor(Math.log10(v) + 1e-9);
  const mantissa = Math.round(v / 10 ** e);
  if (e >= -3 && e < 4) return String(Number((mantissa * 10 ** e).toPrecision(1)));
  return `${mantissa === 1 ? '' : `${mantissa}×`}1e${e}`;
}

/** Vertical grid lines with labels above, over a plot of `height` starting at y = AXIS_H. */
function axisGrid(axis: LogAxis, height: number): string {
  return axis.ticks
    .map((t) => {
      const x = LABEL_W + axis.toPx(t);
      const major = Number.isInteger(Math.log10(t)) || Math.abs(Math.log10(t) - Math.round(Math.log10(t))) < 1e-9;
      return el('line', { class: major ? 'axis' : 'grid', x1: x, x2: x, y1: AXIS_H - 4, y2: AXIS_H + height }) +
        el('text', { x, y: AXIS_H - 8, 'text-anchor': 'middle', class: major ? undefined : 'dim' }, escapeHtml(tickLabel(t)));
    })
    .join('');
}

function shortName(name: string, max = 36): string {
  return name.length <= max ? name : `…${name.slice(name.length - max + 1)}`;
}

function layerChart(report: LipcheckReport): string {
  const methods = BAR_METHODS.filter((m) => report.settings.methods.includes(m));
  const showPower = report.settings.methods.includes('power');
  if (report.layers.length === 0) return '<p>No conv or dense layer found.</p>';
  const values: (number | null)[] = [];
  for (const l of report.layers) {
    for (const m of ALL_METHODS) values.push(l.bounds[m]);
    if (l.budget) values.push(l.budget.limit);
  }
  const axis = logAxis(values, PLOT_W);
  const height = report.layers.length * ROW_H;
  const rows = report.layers.map((layer, i) => layerRow(layer, i * ROW_H + AXIS_H, axis, methods, showPower));
  const items: [string, string][] = [
    ...methods.map((m): [string, string] => [`m-${m}`, `${m} (upper bound)`]),
    ...(showPower ? [['power', 'power iteration (lower estimate, the floor)'] as [string, string]] : []),
    ...(report.layers.some((l) => l.budget) ? [['budget', 'layer budget'] as [string, string]] : []),
  ];
  const svg = el(
    'svg',
    { class: 'chart layers', width: LABEL_W + PLOT_W + VALUE_W, height: AXIS_H + height + 6, role: 'img', 'aria-label': 'per-layer bounds on a log scale' },
    [axisGrid(axis, height), ...rows],
  );
  return `${legend(items)}<p class="meta">Bars: certified upper bounds, the best (smallest) one opaque; the value at the right is the best bound.</p>\n<div class="scroll">${svg}</div>`;
}

function layerRow(layer: ReportLayer, y: number, axis: LogAxis, methods: MethodName[], showPower: boolean): string {
  const over = layer.budget !== null && !layer.budget.passed;
  const parts: string[] = [
    el('text', { class: 'name', x: LABEL_W - 6, y: 15, 'text-anchor': 'end' }, [escapeHtml(shortName(layer.name)), el('title', {}, escapeHtml(layer.name))]),
  ];
  if (layer.unsupportedReason !== null) {
    parts.push(el('text', { class: 'dim', x: LABEL_W + 4, y: 15 }, escapeHtml(`unsupported: ${layer.unsupportedReason}`)));
  } else {
    methods.forEach((m, k) => {
      const v = layer.bounds[m];
      if (v === null || v <= 0) return;
      const cls = `bar m-${m}${m === layer.bestMethod ? ' best' : ''}`;
      parts.push(el('rect', { class: cls, 'data-method': m, x: LABEL_W, y: 2 + k * 6, width: Math.max(1, axis.toPx(v)), height: 5 }, el('title', {}, escapeHtml(`${m}: ${formatNumber(v)}`))));
    });
    const p = layer.bounds.power;
    if (showPower && p !== null && p > 0) {
      const x = LABEL_W + axis.toPx(p);
      parts.push(el('line', { class: 'power', 'data-method': 'power', x1: x, x2: x, y1: 0, y2: ROW_H - 2 }, el('title', {}, escapeHtml(`power: ${formatNumber(p)}`))));
    }
    parts.push(el('text', { x: LABEL_W + PLOT_W + 6, y: 15 }, escapeHtml(formatNumber(layer.best))));
  }
  if (layer.budget) {
    const x = LABEL_W + axis.toPx(layer.budget.limit);
    parts.push(el('line', { class: 'budget', x1: x, x2: x, y1: 0, y2: ROW_H }, el('title', {}, escapeHtml(`budget ${formatNumber(layer.budget.limit)} (${layer.budget.source})`))));
  }
  return el('g', { class: over ? 'layer over' : 'layer', 'data-layer': layer.name, transform: `translate(0,${y})` }, parts);
}

function networkChart(report: LipcheckReport): string {
  const { network } = report;
  const rows: [string, string, number | null][] = [
    ['graph', 'graph-aware', network.bound],
    ['naive', 'naive product', network.naiveProduct],
  ];
  const limit = report.budget.limit;
  const axis = logAxis([...rows.map((r) => r[2]), limit], PLOT_W);
  const height = rows.length * ROW_H;
  const bars = rows.map(([key, label, v], i) => {
    const parts = [el('text', { x: LABEL_W - 6, y: 15, 'text-anchor': 'end' }, label)];
    if (v !== null && v > 0) parts.push(el('rect', { class: `bar best m-${key}`, x: LABEL_W, y: 4, width: Math.max(1, axis.toPx(v)), height: 12 }));
    parts.push(el('text', { x: LABEL_W + PLOT_W + 6, y: 15 }, escapeHtml(formatNumber(v))));
    return el('g', { class: 'net', 'data-bound': key, transform: `translate(0,${AXIS_H + i * ROW_H})` }, parts);
  });
  if (limit !== null) {
    const x = LABEL_W + axis.toPx(limit);
    bars.push(el('line', { class: 'budget', x1: x, x2: x, y1: AXIS_H - 2, y2: AXIS_H + height }, el('title', {}, escapeHtml(`network budget ${formatNumber(limit)}`))));
  }
  const svg = el('svg', { class: 'chart network', width: LABEL_W + PLOT_W + VALUE_W, height: AXIS_H + height + 6, role: 'img', 'aria-label': 'network bound' }, [axisGrid(axis, height), ...bars]);
  const status = network.bound === null ? 'not certified' : network.certified ? 'certified' : 'not certified';
  const text = [
    `Graph-aware bound (${status}): ${formatNumber(network.bound)}; naive product of the layer bounds: ${formatNumber(network.naiveProduct)} (valid only for a plain chain).`,
    ...(network.uncertifiedOps.length > 0 ? [`Not certified because of: ${network.uncertifiedOps.join(', ')}.`] : []),
  ];
  const items: [string, string][] = [['m-graph', 'graph-aware'], ['m-naive', 'naive product'], ...(limit !== null ? [['budget', `network budget ${formatNumber(limit)}`] as [string, string]] : [])];
  return `${legend(items)}<div class="scroll">${svg}</div>\n${text.map((t) => `<p>${escapeHtml(t)}</p>`).join('\n')}`;
}

function heatMaps(maps: readonly HtmlFrequencyMap[]): string {
  if (maps.length === 0) return '<p class="meta">No conv layer with a bound: no frequency map.</p>';
  const quantity = maps[0].map.quantity;
  const intro = `<p class="meta">Colour: ${escapeHtml(quantity)}, linear from the map's minimum to its maximum. Frequencies w1 (kernel height axis, vertical) and w2 (width axis, horizontal) in [-π, π), zero frequency in the centre. The peak (circled; by symmetry also at -w) is the spatial frequency the layer amplifies most.</p>`;
  return `${intro}\n<div class="maps">${maps.map(heatMap).join('\n')}</div>`;
}

const MAP_PX = 256;
const MAP_MARGIN = 34;

/** Label for an angle in units of π. */
function piLabel(w: number): string {
  const t = Math.round((w / Math.PI) * 100) / 100;
  if (t === 0) return '0';
  if (t === 1) return 'π';
  if (t === -1) return '-π';
  return `${t}π`;
}

function heatMap(entry: HtmlFrequencyMap): string {
  const { map } = entry;
  const [m1, m2] = map.grid;
  const ch = Math.max(2, Math.floor(MAP_PX / m1));
  const cw = m2 === 1 ? 24 : Math.max(2, Math.floor(MAP_PX / m2));
  const range = map.max - map.min;
  const cells: string[] = [];
  for (let a = 0; a < m1; a++) {
    // w1 increases upwards
    const y = (m1 - 1 - a) * ch;
    for (let b = 0; b < m2; b++) {
      const v = map.values[a * m2 + b];
      cells.push(`<rect class="cell" x="${b * cw}" y="${y}" width="${cw}" height="${ch}" fill="${rampColor(range > 0 ? (v - map.min) / range : 0.5)}"/>`);
    }
  }
  const w = m2 * cw;
  const h = m1 * ch;
  const index = (angle: number, m: number) => ((angle + Math.PI) / (2 * Math.PI)) * m;
  const ticks = [-Math.PI, -Math.PI / 2, 0, Math.PI / 2];
  const axes: string[] = [];
  for (const t of ticks) {
    if (m2 > 1) {
      const x = (index(t, m2) + 0.5) * cw;
      axes.push(el('line', { class: 'axis', x1: x, x2: x, y1: h, y2: h + 4 }), el('text', { x, y: h + 15, 'text-anchor': 'middle' }, piLabel(t)));
    }
    const y = h - (index(t, m1) + 0.5) * ch;
    axes.push(el('line', { class: 'axis', x1: -4, x2: 0, y1: y, y2: y }), el('text', { x: -6, y: y + 4, 'text-anchor': 'end' }, piLabel(t)));
  }
  if (m2 > 1) axes.push(el('text', { x: w / 2, y: h + 29, 'text-anchor': 'middle' }, 'w2'));
  axes.push(el('text', { x: -26, y: -6 }, 'w1'));
  const pa = Math.round(index(map.peak.w1, m1));
  const pb = m2 === 1 ? 0 : Math.round(index(map.peak.w2, m2));
  const peak = el('circle', { class: 'peak', cx: (pb + 0.5) * cw, cy: h - (pa + 0.5) * ch, r: Math.max(4, Math.min(ch, cw)), fill: 'none', stroke: '#fff', 'stroke-width': 2 });
  const gradientId = `ramp-${entry.index}`;
  const legendBar = [
    el('defs', {}, el('linearGradient', { id: gradientId }, RAMP_STOPS.map((c, i) => el('stop', { offset: `${(i / (RAMP_STOPS.length - 1)) * 100}%`, 'stop-color': c })))),
    el('rect', { x: 0, y: h + 38, width: w, height: 8, fill: `url(#${gradientId})` }),
    el('text', { x: 0, y: h + 58 }, escapeHtml(formatNumber(map.min))),
    el('text', { x: w, y: h + 58, 'text-anchor': 'end' }, escapeHtml(formatNumber(map.max))),
  ];
  const svg = el(
    'svg',
    { class: 'heatmap', 'data-layer': entry.name, width: w + MAP_MARGIN + 8, height: h + 66 + 12, role: 'img', 'aria-label': `frequency map of ${entry.name}` },
    el('g', { transform: `translate(${MAP_MARGIN},12)` }, [cells.join(''), peak, ...axes, ...legendBar]),
  );
  const peakText = m2 === 1 ? `w1 = ±${piLabel(Math.abs(map.peak.w1))}` : `(w1, w2) = ±(${piLabel(map.peak.w1)}, ${piLabel(map.peak.w2)})`;
  const caption = `<figcaption><strong>${escapeHtml(entry.role)}</strong>: <code>${escapeHtml(entry.name)}</code><br>peak at ${escapeHtml(peakText)}, grid ${m1}×${m2}</figcaption>`;
  return `<figure class="map">${svg}${caption}</figure>`;
}

function numbersTable(report: LipcheckReport): string {
  const methods = ALL_METHODS.filter((m) => report.settings.methods.includes(m));
  const showTightness = methods.includes('power') && methods.some((m) => m !== 'power');
  const showBudget = report.layers.some((l) => l.budget !== null);
  const head = ['layer', 'op', 'kernel', 's/d/g', 'input', ...methods, ...(showTightness ? ['tightness'] : []), ...(showBudget ? ['budget'] : [])];
  const rows = report.layers.map((layer) => {
    const over = layer.budget !== null && !layer.budget.passed;
    const op = layer.foldedBatchNorm ? `${layer.op}+BN` : layer.op;
    const cells = [
      `<td class="name">${escapeHtml(layer.name)}</td>`,
      ...[op, formatShape(layer.weightShape), formatStrideDilationGroup(layer.strides, layer.dilations, layer.group), formatShape(layer.inputShape)].map((c) => `<td>${escapeHtml(c)}</td>`),
    ];
    if (layer.unsupportedReason !== null) {
      cells.push(`<td colspan="${methods.length + (showTightness ? 1 : 0)}">${escapeHtml(`unsupported: ${layer.unsupportedReason}`)}</td>`);
    } else {
      for (const m of methods) {
        const text = escapeHtml(formatNumber(layer.bounds[m]));
        cells.push(`<td class="num">${m === layer.bestMethod ? `<strong>${text}</strong>` : text}</td>`);
      }
      if (showTightness) cells.push(`<td class="num">${layer.tightness === null ? MISSING : `${escapeHtml(formatNumber(layer.tightness, 3))}×`}</td>`);
    }
    if (showBudget) {
      const b = layer.budget;
      cells.push(`<td>${escapeHtml(!b ? MISSING : b.passed ? `ok ≤ ${formatNumber(b.limit)}` : (b.reason ?? 'over'))}</td>`);
    }
    return `<tr${over ? ' class="over"' : ''}>${cells.join('')}</tr>`;
  });
  return `<div class="scroll"><table><thead><tr>${head.map((h) => `<th>${escapeHtml(h)}</th>`).join('')}</tr></thead><tbody>\n${rows.join('\n')}\n</tbody></table></div>`;
}

function notesSection(report: LipcheckReport): string {
  const notes = [...report.network.notes, ...report.warnings];
  for (const l of report.layers) for (const n of l.notes) notes.push(`${l.name}: ${n}`);
  if (notes.length === 0) return '';
  return section('Notes', `<ul class="notes">${notes.map((n) => `<li>${escapeHtml(n)}</li>`).join('')}</ul>`, 'notes');
}

