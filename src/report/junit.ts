// JUnit XML (--junit): the test report format GitLab, Jenkins, Azure Pipelines and CircleCI ingest.
// One test case per gated layer (a budget and/or a growth check against the baseline) and one for the
// network; a failed check is a <failure> carrying its reason. Layers found in only one of this run
// and the baseline are <skipped> cases, so they show up in the CI's UI rather than vanish.
import { printable } from '../util/printable.js';
import type { LipcheckReport } from './types.js';

interface Case {
  classname: string;
  name: string;
  seconds: number;
  failures: string[];
  skipped: string | null;
}

export function renderJunit(report: LipcheckReport): string {
  const cases: Case[] = [];
  const base = report.baseline;
  const growthGated = base !== null && base.maxGrowth !== null;
  for (const layer of report.layers) {
    const growth = growthGated ? base.layers.find((l) => l.name === layer.name) : undefined;
    const checks = [layer.budget ? { passed: layer.budget.passed, reason: `budget: ${layer.budget.reason}` } : null, growth?.gate ? { passed: growth.gate.passed, reason: `growth: ${growth.gate.reason}` } : null];
    const notInBaseline = growthGated && base.unmatched.current.some((u) => u.name === layer.name);
    if (checks.every((c) => c === null) && !notInBaseline) continue;
    const seconds = Object.values(layer.details).reduce((s, d) => s + (d?.ms ?? 0), 0) / 1000;
    const failures = checks.flatMap((c) => (c && !c.passed ? [c.reason] : []));
    cases.push({ classname: 'lipcheck.layer', name: layer.name, seconds, failures, skipped: checks.every((c) => c === null) ? 'not in the baseline: no growth check' : null });
  }
  if (growthGated) {
    for (const u of base.unmatched.baseline) {
      cases.push({ classname: 'lipcheck.baseline', name: u.name, seconds: 0, failures: [], skipped: 'in the baseline, not in this model: no growth check' });
    }
  }
  const networkFailures = [
    ...report.budget.failures.filter((f) => f.scope === 'network').map((f) => `budget: ${f.reason}`),
    ...(growthGated ? base.gate.failures.filter((f) => f.scope === 'network').map((f) => `growth: ${f.reason}`) : []),
  ];
  if (report.budget.limit !== null || growthGated) cases.push({ classname: 'lipcheck.network', name: 'network', seconds: 0, failures: networkFailures, skipped: null });

  const failed = cases.filter((c) => c.failures.length > 0).length;
  const skipped = cases.filter((c) => c.skipped !== null).length;
  const seconds = (report.timing.totalMs / 1000).toFixed(3);
  const counts = `tests="${cases.length}" failures="${failed}" errors="0" skipped="${skipped}" time="${seconds}"`;
  const lines = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="lipcheck" ${counts}>`,
    `  <testsuite name="${attr(`lipcheck ${report.model.path}`)}" ${counts}>`,
    '    <properties>',
    ...[
      ['lipcheck.version', report.tool.version],
      ['model.path', report.model.path],
      ['model.sha256', report.model.sha256],
      ...(base ? [['baseline.file', base.file], ['baseline.model.sha256', base.sha256]] : []),
    ].map(([k, v]) => `      <property name="${attr(k)}" value="${attr(v)}"/>`),
    '    </properties>',
  ];
  for (const c of cases) {
    const open = `    <testcase classname="${c.classname}" name="${attr(c.name)}" time="${c.seconds.toFixed(3)}"`;
    if (c.failures.length === 0 && c.skipped === null) {
      lines.push(`${open}/>`);
      continue;
    }
    lines.push(`${open}>`);
    if (c.skipped !== null) lines.push(`      <skipped message="${attr(c.skipped)}"/>`);
    if (c.failures.length > 0) {
      const message = c.failures.join('; ');
      lines.push(`      <failure message="${attr(message)}" type="lipcheck.${c.failures.map((f) => f.split(':')[0]).join('+')}">${text(c.failures.join('\n'))}</failure>`);
    }
    lines.push('    </testcase>');
  }
  lines.push('  </testsuite>', '</testsuites>');
  return `${lines.join('\n')}\n`;
}

// XML 1.0 cannot carry most control characters even as references, nor lone surrogates: names from the
// model are made printable first (visible \uXXXX escapes), then markup characters escaped.
function xmlSafe(value: string): string {
  return printable(value).replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]|[\ufffe\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16)}`);
}

function markup(value: string): string {
  return value.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** Element text: one line per failed check. */
function text(value: string): string {
  return markup(value.split('\n').map(xmlSafe).join('\n'));
}

/** Attribute values (names, messages) stay on one line: a newline in a layer name shows as \n. */
function attr(value: string): string {
  return markup(xmlSafe(value)).replace(/"/g, '&quot;').replace(/'/g, '&apos;');
}
