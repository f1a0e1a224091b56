// GitHub-flavoured markdown: a one-line verdict and a table, ready to post as a PR comment.
import { ALL_METHODS } from '../layer/types.js';
import { assumedInputNote, networkMethodNote, formatNumber, formatShape, formatStrideDilationGroup, MISSING } from './format.js';
import { printable } from '../util/printable.js';
import type { LipcheckReport, ReportLayer } from './types.js';
import { baselineSummaryLines } from './baseline.js';

export function renderMarkdown(report: LipcheckReport): string {
  const methods = ALL_METHODS.filter((m) => report.settings.methods.includes(m));
  const showTightness = methods.includes('power') && methods.some((m) => m !== 'power');
  const showBudget = report.layers.some((l) => l.budget !== null);
  const head = ['Layer', 'Op', 'Kernel', 's/d/g', 'Input', ...methods, ...(showTightness ? ['Tightness'] : []), ...(showBudget ? ['Budget'] : [])];
  const numeric = new Set(methods.map((_, i) => 5 + i).concat(showTightness ? [5 + methods.length] : []));
  const lines = [
    verdict(report),
    '',
    row(head.map(escapeCell)),
    row(head.map((_, i) => (numeric.has(i) ? '---:' : '---'))),
  ];
  for (const layer of report.layers) {
    const cells = [codeSpan(layer.name), layer.op, formatShape(layer.weightShape), formatStrideDilationGroup(layer.strides, layer.dilations, layer.group), formatShape(layer.inputShape)].map((c, i) => (i === 0 ? escapePipes(c) : escapeCell(c)));
    if (layer.unsupportedReason !== null) {
      cells.push(escapeCell(`unsupported: ${layer.unsupportedReason}`), ...Array<string>(methods.length - 1 + (showTightness ? 1 : 0)).fill(''));
    } else {
      for (const m of methods) {
        const text = formatNumber(layer.bounds[m]);
        cells.push(m === layer.bestMethod ? `**${text}**` : text);
      }
      if (showTightness) cells.push(layer.tightness === null ? MISSING : `${formatNumber(layer.tightness, 3)}×`);
    }
    if (showBudget) cells.push(escapeCell(budgetText(layer)));
    lines.push(row(cells));
  }
  const local = report.network.local;
  if (local) lines.push('', `Local bound over the input range \`${escapeCell(local.range)}\`: ${local.bound === null ? 'none' : `**${formatNumber(local.bound)}**`}${local.certified ? '' : ' (not certified)'}${report.network.gated === 'local' ? ' — gated by the network budget' : ''}`);
  const assumed = assumedInputNote(report);
  if (assumed) lines.push('', `> ${escapeCell(assumed)}`);
  if (report.baseline) {
    const mark = { plain: '', warn: '⚠️ ', pass: '✅ ', fail: '❌ ' };
    lines.push('', ...baselineSummaryLines(report.baseline).map((l) => `${mark[l.tone]}${escapeCell(l.text)}  `));
  }
  lines.push('', `<sub>lipcheck ${report.tool.version} · ${escapeCell(report.model.path)} · bold = best certified upper bound; power is a lower estimate; network bound: ${escapeCell(networkMethodNote(report.network))} (naive product ${report.network.naiveProduct === null ? 'none' : formatNumber(report.network.naiveProduct)})${report.network.uncertifiedOps.length > 0 ? ` · not certified because of ${escapeCell(report.network.uncertifiedOps.join(', '))}` : ''}</sub>`);
  return `${lines.join('\n')}\n`;
}

/** One line: pass/fail, the network bound, and what failed. */
export function verdict(report: LipcheckReport): string {
  const bound = report.network.bound === null ? 'no certified network bound' : `network bound **${formatNumber(report.network.bound)}**`;
  const count = `${report.layers.length} layer${report.layers.length === 1 ? '' : 's'}`;
  const { failures } = report.budget;
  const growth = report.baseline?.gate.failures ?? [];
  const what = (fs: { scope: string; name: string | null }[]) => fs.map((f) => (f.scope === 'network' ? 'network' : codeSpan(f.name ?? ''))).join(', ');
  if (failures.length > 0 || growth.length > 0) {
    const parts = [
      ...(failures.length > 0 ? [`**lipcheck: budget exceeded** (${failures.length}): ${what(failures)}`] : []),
      ...(growth.length > 0 ? [`**lipcheck: growth over ${formatNumber(report.baseline!.gate.maxGrowth)}x of the baseline** (${growth.length}): ${what(growth)}`] : []),
    ];
    return `❌ ${parts.join(' · ')} · ${bound} · ${count}`;
  }
  const budgeted = report.budget.limit !== null || report.layers.some((l) => l.budget !== null);
  const growthGated = report.baseline !== null && report.baseline.maxGrowth !== null;
  const label = budgeted && growthGated ? 'within budget and growth limit' : budgeted ? 'within budget' : growthGated ? 'growth within limit' : null;
  return `${label ? `✅ **lipcheck: ${label}**` : 'ℹ️ **lipcheck**: no budget set'} · ${bound} · ${count}`;
}

function budgetText(layer: ReportLayer): string {
  if (!layer.budget) return MISSING;
  return layer.budget.passed ? `✅ ≤ ${formatNumber(layer.budget.limit)}` : `❌ ${layer.budget.reason}`;
}

// Backslash escapes do not work inside code spans: a backtick in a name would end the span.
function codeSpan(name: string): string {
  return `\`${printable(name).replace(/`/g, "'")}\``;
}

function row(cells: string[]): string {
  return `| ${cells.join(' | ')} |`;
}

function escapePipes(text: string): string {
  return printable(text.replace(/\r?\n/g, ' ')).replace(/\|/g, '\\|');
}

// Layer names and reasons come from the model file: keep them from breaking the table or adding markup.
function escapeCell(text: string): string {
  return escapePipes(text.replace(/([\\`*_[\]<])/g, '\\$1'));
}
