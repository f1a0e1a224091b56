// The terminal table (cli-table3). Colour comes only from the chalk instance passed in, so the
// caller's NO_COLOR / FORCE_COLOR / TTY decision holds (cli-table3's own colours are switched off).
import Table from 'cli-table3';
import type { ChalkInstance } from 'chalk';
import { ALL_METHODS, type MethodName } from '../layer/types.js';
import { logFraction, logScale, renderBar, type LogScale } from './bars.js';
import { baselineSummaryLines } from './baseline.js';
import { assumedInputNote, networkMethodNote, formatDuration, formatNumber, formatShape, formatStrideDilationGroup, MISSING } from './format.js';
import { printable } from '../util/printable.js';
import type { LipcheckReport, ReportLayer } from './types.js';

export interface TableOptions {
  /** A per-layer bar of the best bound on a log scale (default on; --no-bars). */
  bars?: boolean;
}

export function renderTable(report: LipcheckReport, chalk: ChalkInstance, options: TableOptions = {}): string {
  const methods = ALL_METHODS.filter((m) => report.settings.methods.includes(m));
  const showTightness = methods.includes('power') && methods.some((m) => m !== 'power');
  const showBudget = report.layers.some((l) => l.budget !== null);
  const scale = options.bars === false ? null : logScale(report.layers.map((l) => l.best));
  const head = ['layer', 'op', 'kernel', 's/d/g', 'input', ...methods, ...(showTightness ? ['tightness'] : []), ...(scale ? ['best (log)'] : []), ...(showBudget ? ['budget'] : [])];
  const numericFrom = 5;
  const table = new Table({
    head: head.map((h) => chalk.bold(h)),
    colAligns: head.map((_, i) => (i >= numericFrom && i < numericFrom + methods.length + (showTightness ? 1 : 0) ? 'right' : 'left')),
    style: { head: [], border: [], compact: true },
  });
  for (const layer of report.layers) table.push(tableRow(layer, methods, showTightness, scale, showBudget, head.length - numericFrom, chalk));
  return `${table.toString()}\n${footer(report, chalk)}${scale ? chalk.dim(barLegend(scale)) + '\n' : ''}`;
}

function tableRow(layer: ReportLayer, methods: MethodName[], showTightness: boolean, scale: LogScale | null, showBudget: boolean, trailing: number, chalk: ChalkInstance): Table.Cell[] {
  const over = layer.budget !== null && !layer.budget.passed;
  const paint = (text: string) => (over ? chalk.red(text) : text);
  const op = layer.foldedBatchNorm ? `${layer.op}+BN` : layer.op;
  if (layer.unsupportedReason !== null) {
    const spanned = trailing - (showBudget ? 1 : 0);
    const lead = [printable(layer.name), op, MISSING, MISSING, MISSING].map(paint);
    const cells: Table.Cell[] = [...lead, { content: chalk.yellow(`unsupported: ${printable(layer.unsupportedReason)}`), colSpan: spanned, hAlign: 'left' }];
    if (showBudget) cells.push(budgetCell(layer, chalk));
    return cells;
  }
  const lead = [printable(layer.name), op, formatShape(layer.weightShape), formatStrideDilationGroup(layer.strides, layer.dilations, layer.group), formatShape(layer.inputShape)];
  const numbers = methods.map((m) => {
    const text = formatNumber(layer.bounds[m]);
    // The best certified bound is what budgets and the network bound use: make it stand out.
    return m === layer.bestMethod ? chalk.bold(text) : text;
  });
  if (showTightness) numbers.push(layer.tightness === null ? MISSING : `${formatNumber(layer.tightness, 3)}x`);
  if (scale) {
    const fraction = logFraction(layer.best, scale);
    numbers.push(fraction === null ? MISSING : renderBar(fraction));
  }
  const cells: Table.Cell[] = [...lead, ...numbers].map(paint);
  if (showBudget) cells.push(budgetCell(layer, chalk));
  return cells;
}

function budgetCell(layer: ReportLayer, chalk: ChalkInstance): string {
  const b = layer.budget;
  if (!b) return MISSING;
  if (b.passed) return chalk.green(`ok <= ${formatNumber(b.limit)}`);
  // The full reason (with the budget's source) goes to stderr and the JSON; the cell stays short.
  return chalk.red(b.value === null ? 'over: no bound' : `over: ${formatNumber(b.value)} > ${formatNumber(b.limit)}`);
}

function footer(report: LipcheckReport, chalk: ChalkInstance): string {
  const { network, layers } = report;
  const unsupported = layers.filter((l) => l.unsupportedReason !== null).length;
  const lines: string[] = [];
  const bound = network.bound === null ? chalk.yellow('none') : chalk.bold(formatNumber(network.bound));
  const naive = network.naiveProduct === null ? 'none' : formatNumber(network.naiveProduct);
  lines.push(`network bound (${networkMethodNote(network)}): ${bound}${network.certified ? '' : chalk.yellow(' (not certified)')}   naive product of layer bounds: ${naive}`);
  if (network.uncertifiedOps.length > 0) lines.push(chalk.yellow(`  not certified because of: ${printable(network.uncertifiedOps.join(', '))}`));
  for (const note of network.notes) lines.push(chalk.dim(`  ${printable(note)}`));
  if (network.local) {
    const lb = network.local.bound === null ? chalk.yellow('none') : chalk.bold(formatNumber(network.local.bound));
    lines.push(`local bound over the input range ${printable(network.local.range)}: ${lb}${network.local.certified ? '' : chalk.yellow(' (not certified)')}${network.gated === 'local' ? ' (gated by the network budget)' : ''}`);
    for (const note of network.local.notes) lines.push(chalk.dim(`  ${printable(note)}`));
  }
  const assumed = assumedInputNote(report);
  if (assumed) lines.push(chalk.yellow(assumed));
  const counted = `${layers.length} layer${layers.length === 1 ? '' : 's'}${unsupported > 0 ? ` (${unsupported} unsupported)` : ''}`;
  lines.push(`${counted} in ${formatDuration(report.timing.totalMs)}`);
  if (report.baseline) {
    const paint = { plain: (t: string) => t, warn: chalk.yellow, pass: chalk.green, fail: chalk.red };
    for (const l of baselineSummaryLines(report.baseline)) lines.push(paint[l.tone](printable(l.text)));
  }
  if (report.budget.failures.length > 0) {
    lines.push(chalk.red(`budget exceeded: ${report.budget.failures.length} failure${report.budget.failures.length === 1 ? '' : 's'}`));
  } else if (report.budget.limit !== null || layers.some((l) => l.budget !== null)) {
    lines.push(chalk.green('all budgets met'));
  }
  return `${lines.join('\n')}\n`;
}

function barLegend(scale: LogScale): string {
  const decades = Number(scale.decades.toPrecision(2));
  return `bars: best bound on a log scale, full = ${formatNumber(scale.max)} (largest layer), empty = ${decades} decade${decades === 1 ? '' : 's'} below`;
}
