// The command line: parses flags, then ties loader -> engine -> report. stdout carries only the
// report; progress, warnings, budget failures and errors go to stderr.
// Exit codes: 0 ok / within budget, 1 a budget exceeded, 2 usage or input error, 3 internal error (a bug).
import { performance } from 'node:perf_hooks';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import type { ChalkInstance } from 'chalk';
import { auditModel, frequencyMapsFor, type AuditOptions } from '../audit.js';
import { formatInputRange, parseInputRange, type InputRange } from '../network/local.js';
import { DEFAULT_NETWORK_EFFORT } from '../network/blocks.js';
import { ALL_METHODS, type EngineOptions, type MethodName } from '../layer/types.js';
import { InputError } from '../errors.js';
import { baselineOf, compareToBaseline, readBaseline, renderBaseline, settingsDifferences, type Baseline, type BaselineSettings } from '../report/baseline.js';
import { budgetProblem, loadBudgetConfig, resolveBudgets } from '../report/budget.js';
import { buildReport } from '../report/build.js';
import { chalkFor } from '../report/color.js';
import { heatMapLayers, renderHtml, type HtmlFrequencyMap } from '../report/html.js';
import { renderJson } from '../report/json.js';
import { renderJunit } from '../report/junit.js';
import { renderMarkdown } from '../report/markdown.js';
import { renderTable } from '../report/table.js';
import type { LipcheckReport } from '../report/types.js';
import { compileNamePattern } from '../util/name-pattern.js';
import { annotate, appendStepSummary, onGitHubActions, writeReportFile } from './ci.js';
import { diffMain } from './diff.js';
import {
  EXIT, oneLine, parseGrowth, parseInputShape, processIO, ProgressLine, runCommand, toolVersion, withCommonOptions, type CliIO,
} from './shared.js';
import { decimal } from '../util/numbers.js';

export type NetworkMethod = NonNullable<AuditOptions['networkMethod']>;
const NETWORK_METHODS: NetworkMethod[] = ['graph', 'merged', 'averaging'];

export type Format = 'table' | 'json' | 'markdown' | 'html';

export interface CliOptions {
  model: string;
  format: Format;
  methods: MethodName[];
  samples: number;
  iterations: number;
  tolerance: number;
  seed: number;
  /** --jobs: processes bounding layers (undefined: the audit decides). */
  jobs?: number;
  inputShape?: number[];
  layers?: string;
  budget?: number;
  layerBudget?: number;
  budgetMethod?: MethodName;
  config?: string;
  quiet: boolean;
  debug: boolean;
  color?: boolean;
  /** --html <file>: also write the HTML report there. */
  html?: string;
  /** Per-layer bars in the table (--no-bars turns them off). */
  bars: boolean;
  /** Structural rules the network bound may use (--network-method). */
  networkMethod: NetworkMethod;
  /** Work merged operators may add (--network-effort). */
  networkEffort: number;
  /** --input-range: the input box of the local bound. */
  inputRange?: InputRange;
  /** --write-baseline <file>. */
  writeBaseline?: string;
  /** --baseline <file> and --max-growth <x>: the growth gate against a baseline. */
  baseline?: string;
  maxGrowth?: number;
  /** --junit <file>. */
  junit?: string;
}

export async function main(argv: string[], io: CliIO = processIO()): Promise<number> {
  if (argv[2] === 'diff') return diffMain(argv, io);
  return runCommand('lipcheck', () => parseArgs(argv, io), (options) => run(options, io), io);
}

const HELP_AFTER = `
Methods (default: all four, ${ALL_METHODS.join(',')}):
  toeplitz   the paper's bound (Araujo et al., AAAI 2021), grid sup made certified   upper bound
  spectral   sup over frequencies of the symbol's largest singular value (tightest)  upper bound
  power      power iteration on the layer's real operator (onnxruntime-node)         lower estimate
  frobenius  sqrt(kh*kw) * ||K||_F, the cheap baseline                               upper bound

Network bound: certified by a walk over the ONNX graph (residual additions, concatenations,
pooling, activations with their proven constants); the naive product of layer bounds is shown beside it.
Budgets gate each layer's best (smallest) certified bound, or the --budget-method value, and the network bound.
Per-layer budgets by name pattern: lipcheck.config.json, or a "lipcheck" key in package.json:
  { "budget": 1000, "layerBudget": 10, "layers": { "conv1": 20, "/^fc\\\\d+$/": 2 } }

Examples:
  $ lipcheck model.onnx
  $ lipcheck model.onnx --json > report.json
  $ lipcheck model.onnx --methods spectral,power --samples 100
  $ lipcheck model.onnx --input-shape 1x3x224x224 --layers 'layer1.*'
  $ lipcheck model.onnx --layer-budget 5 --budget 1000        # CI gate: exit 1 when exceeded
  $ lipcheck model.onnx --format markdown > pr-comment.md
  $ lipcheck model.onnx --html report.html                  # table on stdout, HTML report to a file
  $ lipcheck diff epoch10.onnx epoch20.onnx --max-growth 1.1 # compare checkpoints (lipcheck diff --help)
  $ lipcheck model.onnx --write-baseline lipcheck-baseline.json    # record today's bounds (commit the file)
  $ lipcheck model.onnx --baseline lipcheck-baseline.json --max-growth 1.1 --junit junit.xml   # CI growth gate

CI: with GITHUB_ACTIONS=true every failed check is also an ::error annotation, and the markdown
report is appended to $GITHUB_STEP_SUMMARY. --junit writes JUnit XML (GitLab, Jenkins, Azure, CircleCI).

Exit codes: 0 ok, 1 budget exceeded, 2 usage or input error, 3 internal error (a bug)
Colour: off when stdout is not a terminal or NO_COLOR is set; FORCE_COLOR=1 forces it on.
`;


/** Parse argv (process.argv form); null when commander already handled --help/--version. */
export function parseArgs(argv: string[], io: CliIO): CliOptions | null {
  const program = new Command('lipcheck')
    .description('Certified Lipschitz (l2 operator norm) upper bounds for the conv and dense layers of an ONNX model.')
    .argument('<model>', 'ONNX model file')
    .version(toolVersion(), '-v, --version')
    .addOption(new Option('-f, --format <format>', 'report format').choices(['table', 'json', 'markdown', 'html']).default('table'))
    .option('--json', 'shorthand for --format json')
    .option('--html <file>', 'also write the self-contained HTML report (charts, frequency maps) to <file>')
    .option('--no-bars', 'no per-layer bars in the table')
    .option('--input-shape <shape>', 'model input shape, e.g. 1x3x224x224 (for unknown dims)', parseInputShape)
    .option('--layers <pattern>', "only layers whose name matches a glob ('conv*') or /regex/", parseLayerPattern)
    .option('--budget <x>', 'budget on the network bound', parseBudget)
    .option('--layer-budget <x>', 'budget on every layer', parseBudget)
    .addOption(new Option('--budget-method <method>', "gate this method's value instead of each layer's best bound").choices(ALL_METHODS))
    .option('-c, --config <file>', 'budget config (default: lipcheck.config.json, or "lipcheck" in package.json)')
    .option('--write-baseline <file>', 'write a baseline (layer and network bounds, settings, model sha256) to <file>')
    .option('--baseline <file>', 'compare with a baseline written by --write-baseline (ratios now / baseline)')
    .option('--max-growth <x>', 'with --baseline: fail (exit 1) when a layer or the network bound grew by more than this factor', parseGrowth)
    .option('--junit <file>', 'also write a JUnit XML report of the budget and growth checks to <file>')
    .option('--input-range <lo:hi,...>', 'also bound the network over this input box: one interval (0:1) or one per channel (-2.1:2.2,-2.0:2.4,-1.8:2.6)', parseRange)
    .addOption(new Option('--network-method <method>', 'rules for the network bound: graph (plain walk), merged (+ exact merges of linear layers), averaging (+ ReLU block averaging)').choices(NETWORK_METHODS).default('averaging'))
    .option('--network-effort <x>', 'work merged operators may add to tighten the network bound, as a share of the per-layer spectral work (estimated, deterministic); more buys a tighter bound on deep residual networks', parseEffort, DEFAULT_NETWORK_EFFORT);
  withCommonOptions(program, io, HELP_AFTER);
  program.parse(argv);
  const o = program.opts<{
    format: Format; json?: boolean; methods: MethodName[]; samples: number; iterations: number; tolerance: number; seed: number; jobs?: number;
    inputShape?: number[]; layers?: string; budget?: number; layerBudget?: number; budgetMethod?: MethodName; config?: string;
    quiet?: boolean; debug?: boolean; color?: boolean; html?: string; bars: boolean;
    networkMethod: NetworkMethod; networkEffort: number; inputRange?: InputRange; writeBaseline?: string; baseline?: string; maxGrowth?: number; junit?: string;
  }>();
  if (o.maxGrowth !== undefined && o.baseline === undefined) {
    throw new CommanderError(2, 'lipcheck.conflict', '--max-growth needs --baseline <file> (to compare two models: lipcheck diff a.onnx b.onnx --max-growth x)');
  }
  if (o.json && program.getOptionValueSource('format') === 'cli' && o.format !== 'json') {
    throw new CommanderError(2, 'lipcheck.conflict', `--json conflicts with --format ${o.format}`);
  }
  // commander sets color=true by default because of --no-color; only an explicit flag counts.
  const colorFlag = program.getOptionValueSource('color') === 'cli' ? o.color : undefined;
  return {
    model: program.args[0],
    format: o.json ? 'json' : o.format,
    methods: o.methods,
    samples: o.samples,
    iterations: o.iterations,
    tolerance: o.tolerance,
    seed: o.seed,
    jobs: o.jobs,
    inputShape: o.inputShape,
    layers: o.layers,
    budget: o.budget,
    layerBudget: o.layerBudget,
    budgetMethod: o.budgetMethod,
    config: o.config,
    quiet: o.quiet ?? false,
    debug: o.debug ?? false,
    color: colorFlag,
    html: o.html,
    bars: o.bars,
    networkMethod: o.networkMethod,
    networkEffort: o.networkEffort,
    inputRange: o.inputRange,
    writeBaseline: o.writeBaseline,
    baseline: o.baseline,
    maxGrowth: o.maxGrowth,
    junit: o.junit,
  };
}

function parseEffort(value: string): number {
  const n = decimal(value);
  if (!(n >= 0 && n <= 1000)) throw new InvalidArgumentError('expected a number from 0 to 1000');
  return n;
}

function parseBudget(value: string): number {
  const n = decimal(value);
  const problem = budgetProblem(n);
  if (problem) throw new InvalidArgumentError('expected a positive number');
  return n;
}

function parseLayerPattern(value: string): string {
  try {
    compileNamePattern(value);
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
  return value;
}

// ---------------------------------------------------------------- run



async function run(opts: CliOptions, io: CliIO): Promise<number> {
  const started = performance.now();
  const errChalk = chalkFor({ flag: opts.color, env: io.env, isTTY: Boolean(io.stderr.isTTY) });
  const progress = new ProgressLine(io.stderr, !opts.quiet && Boolean(io.stderr.isTTY));
  const warnings: string[] = [];
  const warn = (message: string, keep = true) => {
    if (keep) warnings.push(message);
    if (opts.quiet) return;
    progress.clear();
    io.stderr.write(`${errChalk.yellow(`lipcheck: warning: ${oneLine(message)}`)}\n`);
  };

  const config = await loadBudgetConfig(io.cwd, opts.config);
  const budgets = resolveBudgets({ budget: opts.budget, layerBudget: opts.layerBudget, budgetMethod: opts.budgetMethod }, config);
  if (budgets.method && !opts.methods.includes(budgets.method)) {
    throw new InputError(`budget method ${budgets.method} is not among --methods ${opts.methods.join(',')}`);
  }
  if (budgets.network && opts.layers !== undefined) {
    throw new InputError(`a network budget (${budgets.network.source}) needs every layer: drop --layers`);
  }
  if (budgets.method === 'power') warn('gating on power, a lower estimate: a layer can pass while its true norm exceeds the budget');

  const engineOptions: EngineOptions = { methods: opts.methods, samples: opts.samples, iterations: opts.iterations, tolerance: opts.tolerance, seed: opts.seed };
  // Read and check the baseline before the (long) audit: a bad file or different settings fail fast.
  // The input shape the model resolves to is known only after loading: checked again below.
  const baseline = opts.baseline === undefined ? null : await readBaseline(io.cwd, opts.baseline);
  const runSettings = (inputShape: number[] | null, inputShapeSource: string): BaselineSettings => ({
    ...engineOptions, inputShape, inputShapeSource, networkMethod: opts.networkMethod, networkEffort: opts.networkEffort, layers: opts.layers ?? null,
  });
  if (baseline) checkBaselineSettings(baseline, opts.baseline!, runSettings(baseline.settings.inputShape, baseline.settings.inputShapeSource), () => {});

  const inputRange = opts.inputRange ?? (config?.inputRange === undefined ? undefined : parseConfigRange(config.inputRange, config.source));
  const audit = await auditModel({
    file: opts.model,
    cwd: io.cwd,
    inputShape: opts.inputShape,
    engine: engineOptions,
    select: opts.layers === undefined ? undefined : { pattern: opts.layers, matches: compileNamePattern(opts.layers) },
    networkMethod: opts.networkMethod,
    networkEffort: opts.networkEffort,
    inputRange,
    jobs: opts.jobs,
    onProgress: (text) => progress.update(`lipcheck: ${text}`),
  });
  const { model, layers: selected, bounds } = audit;
  for (const w of model.warnings) warn(w);
  progress.clear();
  for (const b of bounds) {
    for (const [method, result] of Object.entries(b.methods)) if (result?.error) warn(`${b.name}: ${method}: ${result.error}`, false);
    // The table shows the number only; say per layer when it is an unconverged estimate (JSON: details.power.converged).
    const power = b.methods.power;
    if (power && !power.error && power.details.converged === false) {
      warn(`${b.name}: power iteration did not converge in ${power.details.iterations} iterations (its value is a lower estimate only)`, false);
    }
  }

  const report = buildReport({
    toolVersion: toolVersion(),
    model: { ...model.info, path: opts.model },
    settings: {
      methods: opts.methods, samples: opts.samples, iterations: opts.iterations, tolerance: opts.tolerance, seed: opts.seed,
      inputShape: opts.inputShape ?? null, layers: opts.layers ?? null, budgetMethod: budgets.method,
      networkMethod: opts.networkMethod, networkEffort: opts.networkEffort, inputRange: inputRange ? formatInputRange(inputRange) : null,
    },
    layers: selected,
    bounds,
    totalLayers: model.layers.length,
    network: audit.network,
    local: audit.local,
    naiveProduct: audit.naiveProduct,
    budgets,
    timing: { totalMs: performance.now() - started, loadMs: audit.loadMs, boundsMs: audit.boundsMs, processes: audit.processes },
    warnings,
  });
  if (baseline) {
    checkBaselineSettings(baseline, opts.baseline!, runSettings(report.settings.inputShape, report.settings.inputShapeSource), warn);
    if (baseline.tool.version !== report.tool.version) warn(`baseline written by lipcheck ${baseline.tool.version}, this is ${report.tool.version}: a newer version may compute tighter bounds`);
    report.baseline = compareToBaseline(baseline, opts.baseline!, report, opts.maxGrowth ?? null);
    const { unmatched } = report.baseline;
    const names = [...unmatched.baseline.map((u) => `${u.name} (only in the baseline)`), ...unmatched.current.map((u) => `${u.name} (not in the baseline)`)];
    if (names.length > 0) warn(`${names.length} unmatched layer${names.length === 1 ? '' : 's'}: ${names.join(', ')}`);
  }

  const wantsHtml = opts.format === 'html' || opts.html !== undefined;
  const frequencyMaps = wantsHtml ? frequencyMapsFor(heatMapLayers(report), selected, opts.samples) : [];
  if (opts.html !== undefined) writeReportFile(io, opts.html, renderHtml(report, { frequencyMaps }));
  if (opts.writeBaseline !== undefined) writeReportFile(io, opts.writeBaseline, renderBaseline(baselineOf(report)));
  if (opts.junit !== undefined) writeReportFile(io, opts.junit, renderJunit(report));
  io.stdout.write(render(report, opts.format, chalkFor({ flag: opts.color, env: io.env, isTTY: Boolean(io.stdout.isTTY) }), { bars: opts.bars, frequencyMaps }));

  const failed = [
    ...report.budget.failures.map((f) => `budget exceeded: ${f.name ?? 'network'}: ${f.reason}`),
    ...(report.baseline?.gate.failures ?? []).map((f) => `growth exceeded: ${f.name ?? 'network'}: ${f.reason}`),
  ];
  for (const f of failed) io.stderr.write(`${errChalk.red(`lipcheck: ${oneLine(f)}`)}\n`);
  if (onGitHubActions(io.env)) {
    annotate(io, failed);
    appendStepSummary(io, renderMarkdown(report), (m) => warn(m, false));
  }
  return failed.length === 0 ? EXIT.ok : EXIT.budgetExceeded;
}

/** Settings that could change a gated number are an input error; the others a warning. */
function checkBaselineSettings(baseline: Baseline, file: string, now: BaselineSettings, warn: (message: string) => void): void {
  const { errors, warnings } = settingsDifferences(baseline.settings, now);
  if (errors.length > 0) {
    throw new InputError(`settings differ from the baseline's: ${errors.join('; ')} (they change the bounds: rerun with the baseline's settings, or rewrite it with --write-baseline)`, file);
  }
  for (const w of warnings) warn(`settings differ from the baseline's: ${w}`);
}

export function render(report: LipcheckReport, format: Format, chalk: ChalkInstance, extra: { bars?: boolean; frequencyMaps?: HtmlFrequencyMap[] } = {}): string {
  switch (format) {
    case 'json': return renderJson(report);
    case 'markdown': return renderMarkdown(report);
    case 'table': return renderTable(report, chalk, { bars: extra.bars });
    case 'html': return renderHtml(report, { frequencyMaps: extra.frequencyMaps });
  }
}

function parseRange(value: string): InputRange {
  try {
    return parseInputRange(value);
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
}

function parseConfigRange(value: string, source: string): InputRange {
  try {
    return parseInputRange(value);
  } catch (err) {
    throw new InputError(`"inputRange": ${(err as Error).message}`, source);
  }
}
