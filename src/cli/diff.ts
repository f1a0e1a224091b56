// `lipcheck diff a.onnx b.onnx`: bounds two checkpoints of the same architecture with the same
// settings and reports how each layer's bound and the network bound changed (b / a), with an
// optional growth gate. Exit codes as the main command: 0 ok, 1 growth over --max-growth,
// 2 usage or input error, 3 internal error.
import { performance } from 'node:perf_hooks';
import { Command, CommanderError, Option } from 'commander';
import { auditModel } from '../audit.js';
import type { EngineOptions, MethodName } from '../layer/types.js';
import { resolveBudgets } from '../report/budget.js';
import { buildReport } from '../report/build.js';
import { DEFAULT_NETWORK_EFFORT } from '../network/blocks.js';
import { chalkFor } from '../report/color.js';
import type { LipcheckReport } from '../report/types.js';
import {
  EXIT, oneLine, parseGrowth, parseInputShape, ProgressLine, runCommand, toolVersion, withCommonOptions,
  type CliIO,
} from './shared.js';
import { buildDiffReport } from '../diff/build.js';
import { annotate, appendStepSummary, onGitHubActions } from './ci.js';
import { renderDiffJson, renderDiffMarkdown, renderDiffTable } from '../diff/render.js';
import type { DiffReport } from '../diff/types.js';

export type DiffFormat = 'table' | 'json' | 'markdown';

export interface DiffOptions {
  a: string;
  b: string;
  format: DiffFormat;
  engine: EngineOptions;
  /** --jobs: processes bounding layers (undefined: the audit decides). */
  jobs?: number;
  inputShape?: number[];
  maxGrowth: number | null;
  quiet: boolean;
  debug: boolean;
  color?: boolean;
}

const HELP_AFTER = `
Layers are matched by name, then the rest by order and shape (same op and weight shape); the
report says which matched how, and lists every layer found in only one checkpoint.
Ratios are b / a of each layer's best certified bound (and of every method run), and of the
graph-aware network bound. --max-growth gates them: exit 1 when any ratio exceeds the limit
(or is missing), every offender listed on stderr.

Examples:
  $ lipcheck diff epoch10.onnx epoch20.onnx
  $ lipcheck diff base.onnx finetuned.onnx --max-growth 1.1     # CI gate
  $ lipcheck diff a.onnx b.onnx --json > diff.json
  $ lipcheck diff a.onnx b.onnx --format markdown > pr-comment.md
`;

/** argv in process.argv form with argv[2] === 'diff'; null when --help was handled. */
export function parseDiffArgs(argv: string[], io: CliIO): DiffOptions | null {
  const program = new Command('lipcheck diff')
    .description('Compare the Lipschitz bounds of two checkpoints of the same architecture (b / a).')
    .argument('<a>', 'the reference ONNX model (e.g. the older checkpoint)')
    .argument('<b>', 'the ONNX model compared against it')
    .addOption(new Option('-f, --format <format>', 'report format').choices(['table', 'json', 'markdown']).default('table'))
    .option('--json', 'shorthand for --format json')
    .option('--input-shape <shape>', 'input shape of both models, e.g. 1x3x224x224', parseInputShape)
    .option('--max-growth <x>', 'fail (exit 1) when a layer or the network bound grew by more than this factor', parseGrowth);
  withCommonOptions(program, io, HELP_AFTER);
  program.parse([argv[0], argv[1], ...argv.slice(3)]);
  const o = program.opts<{
    format: DiffFormat; json?: boolean; methods: MethodName[]; samples: number; iterations: number; tolerance: number; seed: number; jobs?: number;
    inputShape?: number[]; maxGrowth?: number; quiet?: boolean; debug?: boolean; color?: boolean;
  }>();
  if (o.json && program.getOptionValueSource('format') === 'cli' && o.format !== 'json') {
    throw new CommanderError(2, 'lipcheck.conflict', `--json conflicts with --format ${o.format}`);
  }
  return {
    a: program.args[0],
    b: program.args[1],
    format: o.json ? 'json' : o.format,
    engine: { methods: o.methods, samples: o.samples, iterations: o.iterations, tolerance: o.tolerance, seed: o.seed },
    jobs: o.jobs,
    inputShape: o.inputShape,
    maxGrowth: o.maxGrowth ?? null,
    quiet: o.quiet ?? false,
    debug: o.debug ?? false,
    color: program.getOptionValueSource('color') === 'cli' ? o.color : undefined,
  };
}

export async function diffMain(argv: string[], io: CliIO): Promise<number> {
  return runCommand('lipcheck diff', () => parseDiffArgs(argv, io), (options) => runDiff(options, io), io);
}

/** Loads one checkpoint and bounds every layer: the main command's report without budgets. */
async function checkpointReport(file: string, opts: DiffOptions, io: CliIO, progress: ProgressLine): Promise<LipcheckReport> {
  const started = performance.now();
  const audit = await auditModel({
    file,
    cwd: io.cwd,
    inputShape: opts.inputShape,
    engine: opts.engine,
    jobs: opts.jobs,
    onProgress: (text) => progress.update(`lipcheck diff: ${text}`),
  });
  return buildReport({
    toolVersion: toolVersion(),
    model: { ...audit.model.info, path: file },
    // the audit's defaults: every network rule at the default effort, no input box
    settings: { ...opts.engine, inputShape: opts.inputShape ?? null, layers: null, budgetMethod: null, networkMethod: 'averaging', networkEffort: DEFAULT_NETWORK_EFFORT, inputRange: null },
    layers: audit.layers,
    bounds: audit.bounds,
    totalLayers: audit.model.layers.length,
    network: audit.network,
    naiveProduct: audit.naiveProduct,
    budgets: resolveBudgets({}, null),
    timing: { totalMs: performance.now() - started, loadMs: audit.loadMs, boundsMs: audit.boundsMs, processes: audit.processes },
    warnings: audit.model.warnings.map((w) => `${file}: ${w}`),
  });
}

async function runDiff(opts: DiffOptions, io: CliIO): Promise<number> {
  const started = performance.now();
  const errChalk = chalkFor({ flag: opts.color, env: io.env, isTTY: Boolean(io.stderr.isTTY) });
  const progress = new ProgressLine(io.stderr, !opts.quiet && Boolean(io.stderr.isTTY));
  const a = await checkpointReport(opts.a, opts, io, progress);
  const b = await checkpointReport(opts.b, opts, io, progress);
  progress.clear();
  const report = buildDiffReport({
    toolVersion: toolVersion(),
    a,
    b,
    maxGrowth: opts.maxGrowth,
    totalMs: performance.now() - started,
    warnings: [...a.warnings, ...b.warnings],
  });
  if (!opts.quiet) {
    const warn = (text: string) => io.stderr.write(`${errChalk.yellow(`lipcheck: warning: ${oneLine(text)}`)}\n`);
    for (const w of report.warnings) warn(w);
    const { unmatched } = report;
    if (unmatched.a.length + unmatched.b.length > 0) {
      const names = [...unmatched.a.map((u) => `${u.name} (only in a)`), ...unmatched.b.map((u) => `${u.name} (only in b)`)];
      warn(`${names.length} unmatched layer${names.length === 1 ? '' : 's'}: ${names.join(', ')}`);
    }
  }
  io.stdout.write(renderDiff(report, opts.format, chalkFor({ flag: opts.color, env: io.env, isTTY: Boolean(io.stdout.isTTY) })));
  const failed = report.gate.failures.map((f) => `growth exceeded: ${f.name ?? 'network'}: ${f.reason}`);
  for (const f of failed) io.stderr.write(`${errChalk.red(`lipcheck: ${oneLine(f)}`)}\n`);
  if (onGitHubActions(io.env)) {
    annotate(io, failed);
    appendStepSummary(io, renderDiffMarkdown(report), (m) => {
      if (!opts.quiet) io.stderr.write(`${errChalk.yellow(`lipcheck: warning: ${oneLine(m)}`)}\n`);
    });
  }
  return failed.length === 0 ? EXIT.ok : EXIT.budgetExceeded;
}

export function renderDiff(report: DiffReport, format: DiffFormat, chalk: ReturnType<typeof chalkFor>): string {
  switch (format) {
    case 'json': return renderDiffJson(report);
    case 'markdown': return renderDiffMarkdown(report);
    case 'table': return renderDiffTable(report, chalk);
  }
}
