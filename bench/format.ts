// The benchmark's stdout: one table row per (model, run), the reference comparison beside the method
// it times, and the thread-count check. Formatting only.
import type { BenchResults, MethodSummary, ModelRecord, ReferenceRecord, RunRecord } from './types.js';

const s = (ms: number) => (ms / 1000).toFixed(ms < 10_000 ? 2 : 1);
const mb = (x: number | null) => (x === null ? '-' : x.toFixed(0));
const num = (x: number | null) => (x === null ? '-' : x.toPrecision(4));
const times = (x: number | null) => (x === null ? '-' : `${x.toFixed(x < 100 ? 1 : 0)}x`);

/**
 * Shares of a run's wall time inside onnxruntime, in the WebAssembly kernels and in the rest of JS, e.g.
 * '22 / 41 / 37' (results without a kernel clock: native / JS; older ones: '-').
 */
export function nativeShare(nativeMs: number | undefined, wallMs: number, wasmMs?: number): string {
  if (nativeMs === undefined || !(wallMs > 0)) return '-';
  const pct = (ms: number) => Math.round((100 * Math.min(ms, wallMs)) / wallMs);
  const [n, w] = [pct(nativeMs), wasmMs === undefined ? null : pct(wasmMs)];
  return w === null ? `${n} / ${100 - n}` : `${n} / ${w} / ${Math.max(0, 100 - n - w)}`;
}

function product(m: MethodSummary): string {
  if (m.count === 0) return '-';
  const e = Math.floor(m.log10Product);
  return `${(10 ** (m.log10Product - e)).toFixed(2)}e${e}`;
}

function bounds(m: MethodSummary | undefined): string[] {
  if (!m) return ['-', '-', '-', '-'];
  const n = `${m.count}${m.errors ? ` (${m.errors} err)` : ''}`;
  return [n, `${num(m.sum)}${m.kind === 'lower' ? ' (lower)' : ''}`, product(m), num(m.max)];
}

function referenceCells(r: ReferenceRecord | undefined): string[] {
  if (!r) return ['', '', '', ''];
  const subset = `${r.layers.filter((l) => l.kind === 'conv').length} conv shapes`;
  // the spectral reference is uncertified (power iteration from below): show how far above it we are;
  // on a sampled grid its value is not comparable at all
  const check = !r.fullGrid ? 'n/a (sampled grid)' : r.allSameOrBetter === null ? `max x${num(r.maxValueRatio)} (uncert. ref)` : r.allSameOrBetter ? 'yes' : 'NO';
  const extrap = r.fullGrid ? '' : ' (extrap.)';
  return [`${s(r.convOursMs)} / ${s(r.convRefMs)}${extrap} (${subset})`, times(r.convSpeedup), `${s(r.extrapolatedModelRefMs)}`, check];
}

/** Columns padded to their widest cell; the first row is the header. */
function grid(rows: string[][]): string {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  const line = (r: string[]) => r.map((cell, c) => (c < 2 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('  ');
  return [line(rows[0]), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.slice(1).map(line)].join('\n');
}

const HEADER = [
  'model', 'run', 'wall s', 'native / wasm / JS %', 'peak RSS MB', 'layers', 'sum of bounds', 'product', 'max',
  'subset ours/ref s', 'speed-up', 'ref model s (extrap.)', 'ours <= ref', 'worst tightness',
];

/** Max over layers of (smallest certified value) / power, and that layer; '' unless the run has both. */
export function worstTightness(r: RunRecord): string {
  const power = r.perMethod.power?.layers;
  if (!power) return '';
  const uppers = Object.values(r.perMethod)
    .filter((m) => m && m.kind === 'upper')
    .map((m) => new Map(m!.layers.map((l) => [l.name, l.value ?? Infinity])));
  let worst: { t: number; name: string } | null = null;
  for (const l of power) {
    const best = Math.min(...uppers.map((m) => m.get(l.name) ?? Infinity));
    if (l.value === null || !(l.value > 0) || !Number.isFinite(best)) continue;
    const t = best / l.value;
    if (worst === null || t > worst.t) worst = { t, name: l.name };
  }
  return worst === null ? '' : `${worst.t.toFixed(4)} (${worst.name})`;
}

function modelRows(m: ModelRecord): string[][] {
  if (m.error && m.runs.length === 0) return [[m.model, `ERROR: ${m.error}`]];
  const rows: string[][] = [[m.model, 'load', s(m.load.ms), '', mb(m.load.peakRssMB), `${m.layers.conv}c+${m.layers.dense}d+${m.layers.unsupported}u`]];
  for (const r of m.runs) {
    const single = r.methods.length === 1 ? r.methods[0] : null;
    const ref = single ? m.reference.find((x) => x.method === single) : undefined;
    rows.push([
      '',
      r.label,
      s(r.wallMs),
      (r.processes ?? 1) > 1 ? '-' : nativeShare(r.nativeMs, r.wallMs, r.wasmMs),
      `${mb(r.peakRssMB ?? r.sampledPeakRssMB)}${(r.processes ?? 1) > 1 ? ' (parent only)' : ''}`,
      ...(single ? bounds(r.perMethod[single]) : ['', '', '', '']),
      ...referenceCells(ref),
      worstTightness(r),
    ]);
  }
  rows.push(['', 'process peak', '', '', mb(m.processPeakRssMB)]);
  return rows;
}

function threadLines(m: ModelRecord): string[] {
  const t = m.threadsCheck;
  if (!t) return [];
  const used = t.powerThreadsUsed.map((x) => x ?? '?').join(' vs ');
  const verdict = t.identical ? `identical to ${1e-6}` : `DIFFER (${t.mismatches.length} of ${t.compared})`;
  const warn = t.powerThreadsUsed[0] !== null && t.powerThreadsUsed[0] === t.powerThreadsUsed[1] ? ' [the engine ignored the thread option]' : '';
  return [`${m.model}: bounds at ${t.threads.join(' vs ')} threads: ${verdict}, max rel diff ${t.maxRelDiff.toExponential(2)} over ${t.compared} values; power ran with ${used} threads${warn}`];
}

function denseLines(m: ModelRecord): string[] {
  return m.reference
    .filter((r) => r.layers.some((l) => l.kind === 'dense'))
    .map((r) => {
      const d = r.layers.filter((l) => l.kind === 'dense');
      const ours = d.reduce((a, l) => a + l.oursMs, 0);
      const ref = d.reduce((a, l) => a + l.refFullGridMs, 0);
      return `${m.model}: ${r.method} on ${d.length} dense shape(s): ours ${s(ours)} s (certified spectral norm) vs reference ${s(ref)} s (${r.method === 'toeplitz' ? '||W||_F' : 'plain power iteration'}), speed-up ${times(r.denseSpeedup)}`;
    });
}

/** The network bound line of a model: the plain walk against merges and ReLU averaging, and what that costs. */
function networkLines(x: ModelRecord): string[] {
  const n = x.network;
  if (!n) return [];
  const fmt = (v: number | null) => (v === null ? 'none' : v.toExponential(3));
  const ratio = n.bound !== null && n.graphBound ? ` (x${(n.bound / n.graphBound).toPrecision(3)})` : '';
  const all = x.runs.find((r) => r.label === 'all');
  const share = all && all.wallMs > 0 ? `, +${((100 * n.ms) / all.wallMs).toFixed(0)}% of the all-methods run` : '';
  return [`${x.model} network bound: plain walk ${fmt(n.graphBound)}, ${n.method} ${fmt(n.bound)}${ratio}, ${n.blocks} blocks, ${(n.ms / 1000).toFixed(2)} s${share}`];
}

/** The all-methods run over several processes against the one-process run: time, and whether every value is the same. */
function parallelLines(x: ModelRecord): string[] {
  const one = x.runs.find((r) => r.label === 'all');
  const many = x.runs.find((r) => (r.processes ?? 1) > 1);
  if (!one || !many) return [];
  let differ = 0;
  let compared = 0;
  for (const [m, summary] of Object.entries(one.perMethod)) {
    const other = new Map((many.perMethod[m as keyof typeof many.perMethod]?.layers ?? []).map((l) => [l.name, l.value]));
    for (const l of summary?.layers ?? []) {
      compared++;
      if (other.get(l.name) !== l.value) differ++;
    }
  }
  const same = differ === 0 ? `all ${compared} values identical` : `${differ} of ${compared} values DIFFER`;
  return [`${x.model} all methods over ${many.processes} processes: ${s(many.wallMs)} s against ${s(one.wallMs)} s in one (x${(one.wallMs / many.wallMs).toFixed(2)}), ${same}; children forked before the model load, as the CLI does`];
}

/** The local bound line: bound over onnxruntime's lower estimate in the same box, and its time against the toeplitz-only run. */
function localLines(x: ModelRecord): string[] {
  const l = x.local;
  if (!l) return [];
  const toeplitz = x.runs.find((r) => r.label === 'toeplitz');
  const time = `${(l.ms / 1000).toFixed(2)} s` + (toeplitz && toeplitz.wallMs > 0 ? ` (x${(l.ms / toeplitz.wallMs).toFixed(2)} the toeplitz-only layer run)` : '');
  const bound = l.bound === null ? 'not certified' : `${l.bound.toExponential(3)}${l.certified ? '' : ' (not certified)'}`;
  const ratio = l.bound !== null && l.empirical > 0 ? `, bound / empirical ${(l.bound / l.empirical).toExponential(2)}` : '';
  return [`${x.model} local bound over ${l.range}: ${bound}, empirical lower ${l.empirical.toExponential(3)}${ratio}, ${time}`];
}

/**
 * Power's start, measured in one run: alone it starts from a seeded vector, in the all-methods run from
 * spectral's plane wave. Time of power's layers in each, and the largest relative change of a value.
 */
function powerStartLines(x: ModelRecord): string[] {
  const alone = x.runs.find((r) => r.label === 'power')?.perMethod.power;
  const all = x.runs.find((r) => r.label === 'all')?.perMethod.power;
  if (!alone || !all || !x.runs.find((r) => r.label === 'all')?.methods.includes('spectral')) return [];
  const before = new Map(alone.layers.map((l) => [l.name, l.value]));
  let worst = 0;
  for (const l of all.layers) {
    const b = before.get(l.name);
    if (l.value !== null && b) worst = Math.max(worst, Math.abs(l.value / b - 1));
  }
  const sec = (ms: number) => (ms / 1000).toFixed(2);
  return [
    `${x.model} power start: seeded (power alone) ${sec(alone.sumLayerMs)} s, plane wave from spectral's maximiser (all methods) ` +
      `${sec(all.sumLayerMs)} s: x${(alone.sumLayerMs / Math.max(all.sumLayerMs, 1e-9)).toFixed(2)} faster, values within ${worst.toExponential(1)} relative`,
  ];
}

export function formatResults(res: BenchResults): string {
  const m = res.machine;
  const head = `lipcheck bench: ${m.cpuModel}, ${m.cpus} cpus (availableParallelism ${m.availableParallelism}), node ${m.node}; ` +
    `samples ${res.config.samples}, threads ${res.config.threads ?? 'default'}, models seed ${res.config.seed}`;
  const rows = [HEADER, ...res.models.flatMap(modelRows)];
  const notes = [
    'speed-up: naive reference time / engine time on one layer per distinct conv shape (same grid, same correction factor);',
    '  spectral reference = power iteration per frequency, uncertified' +
      (res.config.referenceFrequencies > 0 ? `, timed on <= ${res.config.referenceFrequencies} grid points per block and extrapolated to the full grid` : '') + '.',
    ...(res.config.referenceMaxWeights > 0 ? [`reference only on layers with <= ${res.config.referenceMaxWeights} weights (the subset and "ref model s" cover only those).`] : []),
    'native / wasm / JS %: share of the run\'s wall time inside onnxruntime (float64 DGEMM, power iteration\'s operator), in the WebAssembly kernels (src/wasm) and in the rest of JS.',
    'ref model s: the reference time of every layer of the model, each at its shape\'s measured time.',
  ];
  const errors = res.models.flatMap((x) => [
    ...(x.error ? [`${x.model}: ${x.error}`] : []),
    ...x.runs.flatMap((r) =>
      Object.entries(r.perMethod).flatMap(([meth, sm]) =>
        (sm?.layers ?? []).filter((l) => l.error).slice(0, 3).map((l) => `${x.model} ${r.label} ${meth} ${l.name}: ${l.error}`),
      ),
    ),
  ]);
  return [
    head,
    '',
    grid(rows),
    '',
    ...notes,
    ...res.models.flatMap(networkLines),
    ...res.models.flatMap(parallelLines),
    ...res.models.flatMap(localLines),
    ...res.models.flatMap(powerStartLines),
    ...res.models.flatMap(denseLines),
    ...res.models.flatMap(threadLines),
    ...(errors.length ? ['', 'errors (first 3 per run):', ...errors] : []),
  ].join('\n');
}
