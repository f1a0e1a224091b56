// Renderers of the diff report: terminal table, GitHub markdown, JSON. Formatting only.
import Table from 'cli-table3';
import type { ChalkInstance } from 'chalk';
import { ALL_METHODS } from '../layer/types.js';
import { formatDuration, formatNumber, formatShape, MISSING } from '../report/format.js';
import type { DiffLayer, DiffReport, UnmatchedLayer } from './types.js';

export function renderDiffJson(report: DiffReport): string {
  return `${JSON.stringify(report, null, 2)}\n`;
}

function ratioText(r: number | null): string {
  return r === null ? MISSING : `${formatNumber(r)}x`;
}

function methodsRun(report: DiffReport) {
  return ALL_METHODS.filter((m) => report.settings.methods.includes(m));
}

function matchedText(l: DiffLayer): string {
  return l.matchedBy === 'name' ? 'name' : `order+shape (a: ${l.a.name})`;
}

function unmatchedLine(side: 'a' | 'b', u: UnmatchedLayer): string {
  return `only in ${side}: ${u.name} (${u.op} ${formatShape(u.weightShape)}, #${u.index + 1}, best ${formatNumber(u.best)})`;
}

function summaryLines(report: DiffReport): string[] {
  const n = report.network;
  const lines = [
    `network bound (graph-aware): ${formatNumber(n.a)} -> ${formatNumber(n.b)} (${ratioText(n.ratio)})   naive product: ${formatNumber(n.naiveA)} -> ${formatNumber(n.naiveB)} (${ratioText(n.naiveRatio)})`,
  ];
  if (report.grewMost.length > 0) lines.push(`grew most: ${report.grewMost.map((g) => `${g.name} ${ratioText(g.ratio)}`).join(', ')}`);
  else lines.push('no layer grew');
  return lines;
}

export function renderDiffTable(report: DiffReport, chalk: ChalkInstance): string {
  const methods = methodsRun(report);
  const head = ['layer', 'matched by', 'op', 'kernel', 'best a', 'best b', 'b/a', ...methods.map((m) => `${m} b/a`)];
  const table = new Table({
    head: head.map((h) => chalk.bold(h)),
    colAligns: head.map((_, i) => (i >= 4 ? 'right' : 'left')),
    style: { head: [], border: [], compact: true },
  });
  for (const l of report.layers) {
    const over = l.gate !== null && !l.gate.passed;
    const paint = (t: string) => (over ? chalk.red(t) : t);
    table.push([l.name, matchedText(l), l.op, formatShape(l.weightShape), formatNumber(l.a.best), formatNumber(l.b.best), ratioText(l.ratio), ...methods.map((m) => ratioText(l.ratios[m]))].map(paint));
  }
  const lines = summaryLines(report);
  for (const note of report.network.notes) lines.push(chalk.dim(`  ${note}`));
  for (const u of report.unmatched.a) lines.push(chalk.yellow(unmatchedLine('a', u)));
  for (const u of report.unmatched.b) lines.push(chalk.yellow(unmatchedLine('b', u)));
  lines.push(`${report.layers.length} matched layer${report.layers.length === 1 ? '' : 's'} (${report.a.path} -> ${report.b.path}) in ${formatDuration(report.timing.totalMs)}`);
  if (report.gate.maxGrowth !== null) {
    lines.push(
      report.gate.passed
        ? chalk.green(`growth within ${formatNumber(report.gate.maxGrowth)}x`)
        : chalk.red(`growth over ${formatNumber(report.gate.maxGrowth)}x: ${report.gate.failures.length} failure${report.gate.failures.length === 1 ? '' : 's'}`),
    );
  }
  return `${table.toString()}\n${lines.join('\n')}\n`;
}

// Names come from model files: keep them from breaking the table or adding markup.
function mdCell(text: string): string {
  return text.replace(/([\\`*_[\]<|])/g, '\\$1').replace(/\r?\n/g, ' ');
}

export function renderDiffMarkdown(report: DiffReport): string {
  const methods = methodsRun(report);
  const head = ['Layer', 'Matched by', 'Op', 'Kernel', 'Best a', 'Best b', 'b/a', ...methods.map((m) => `${m} b/a`)];
  const row = (cells: string[]) => `| ${cells.join(' | ')} |`;
  const lines = [diffVerdict(report), '', row(head), row(head.map((_, i) => (i >= 4 ? '---:' : '---')))];
  for (const l of report.layers) {
    const over = l.gate !== null && !l.gate.passed;
    const ratio = ratioText(l.ratio);
    lines.push(row([mdCell(l.name), mdCell(matchedText(l)), mdCell(l.op), formatShape(l.weightShape), formatNumber(l.a.best), formatNumber(l.b.best), over ? `**${ratio}** ❌` : ratio, ...methods.map((m) => ratioText(l.ratios[m]))]));
  }
  lines.push('', ...summaryLines(report).map((t) => `${mdCell(t)}  `));
  for (const u of report.unmatched.a) lines.push(`⚠️ ${mdCell(unmatchedLine('a', u))}  `);
  for (const u of report.unmatched.b) lines.push(`⚠️ ${mdCell(unmatchedLine('b', u))}  `);
  lines.push('', `<sub>lipcheck ${mdCell(report.tool.version)} diff · ${mdCell(report.a.path)} → ${mdCell(report.b.path)} · ratios of the best certified bound</sub>`);
  return `${lines.join('\n')}\n`;
}

/** One line: gate verdict and the network change. */
export function diffVerdict(report: DiffReport): string {
  const net = `network ${ratioText(report.network.ratio ?? report.network.naiveRatio)}`;
  const count = `${report.layers.length} matched, ${report.unmatched.a.length + report.unmatched.b.length} unmatched`;
  if (report.gate.maxGrowth === null) return `ℹ️ **lipcheck diff**: no growth limit set · ${net} · ${count}`;
  if (report.gate.passed) return `✅ **lipcheck diff: growth within ${formatNumber(report.gate.maxGrowth)}x** · ${net} · ${count}`;
  const what = report.gate.failures.map((f) => (f.scope === 'network' ? 'network' : `\`${(f.name ?? '').replace(/`/g, "'")}\``)).join(', ');
  return `❌ **lipcheck diff: growth over ${formatNumber(report.gate.maxGrowth)}x** (${report.gate.failures.length}): ${what} · ${net} · ${count}`;
}
