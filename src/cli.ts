// The command line: parses flags, then ties loader -> engine -> report. stdout carries only the
// report; progress, warnings, budget failures and errors go to stderr.
// Exit codes: 0 ok / within budget, 1 a budget exceeded, 2 usage or input error, 3 internal error (a bug).
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import type { ChalkInstance } from 'chalk';
import { auditModel } from './audit.js';
import { frequencyMap } from './bounds/frequency-map.js';
import { ALL_METHODS, DEFAULT_ENGINE_OPTIONS, type EngineOptions, type MethodName } from './bounds/types.js';
import { InputError } from './errors.js';
import type { Layer } from './model/layer.js';
import { budgetProblem, hasAnyBudget, loadBudgetConfig, resolveBudgets } from './report/budget.js';
import { buildReport } from './report/build.js';
import { chalkFor } from './report/color.js';
import { heatMapLayers, renderHtml, type HtmlFrequencyMap } from './report/html.js';
import { renderJson } from './report/json.js';
import { renderMarkdown } from './report/markdown.js';
import { renderTable } from './report/table.js';
import type { LipcheckReport } from './report/types.js';
import { compileNamePattern } from './util/name-pattern.js';
import { printable } from './util/printable.js';
import { diffMain } from './diff/cli.js';

export const EXIT = { ok: 0, budgetExceeded: 1, usage: 2, internal: 3 } as const;

export type Format = 'table' | 'json' | 'markdown' | 'html';

interface OutStream {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

/** Where the CLI reads and writes; tests pass their own. */
export interface CliIO {
  stdout: OutStream;
  stderr: OutStream;
  env: Record<string, string | undefined>;
  cwd: string;
}

export interface CliOptions {
  model: string;
  format: Format;
  methods: MethodName[];
  samples: number;
  iterations: number;
  tolerance: number;
  seed: number;
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
}

function processIO(): CliIO {
  return { stdout: process.stdout, stderr: process.stderr, env: process.env, cwd: process.cwd() };
}

export async function main(argv: string[], io: CliIO = processIO()): Promise<number> {
  if (argv[2] === 'diff') return diffMain(argv, io);
  return runCommand('lipcheck', () => parseArgs(argv, io), (options) => run(options, io), io);
}

/** Parse, run, and map errors to exit codes the same way for every command (main and diff). */
export async function runCommand<O extends { debug: boolean }>(
  label: string,
  parse: () => O | null,
  exec: (options: O) => Promise<number>,
  io: CliIO,
): Promise<number> {
  let options: O | null;
  try {
    options = parse();
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.exitCode === 0) return EXIT.ok; // --help, --version
      // commander wraps its hints onto a second line: keep them on the one error line
      io.stderr.write(`${label}: ${printable(err.message.replace(/^error: /, '').replace(/\s*\n\s*/g, ' ').trim())}\n`);
      return EXIT.usage;
    }
    throw err;
  }
  if (!options) return EXIT.ok;
  try {
    return await exec(options);
  } catch (err) {
    return reportError(err, options.debug, io);
  }
}

export function reportError(err: unknown, debug: boolean, io: CliIO): number {
  const e = err instanceof Error ? err : new Error(String(err));
  if (e instanceof InputError) {
    io.stderr.write(`lipcheck: ${e.file ? `${e.file}: ` : ''}${oneLine(e.message)}\n`);
    if (debug && e.stack) io.stderr.write(`${e.stack}\n`);
    return EXIT.usage;
  }
  if (debug) io.stderr.write(`lipcheck: internal error: ${e.stack ?? e.message}\n`);
  else io.stderr.write(`lipcheck: internal error: ${oneLine(e.message)} (rerun with --debug for the stack trace, and please report it)\n`);
  return EXIT.internal;
}

/** One printable line: multi-line messages joined, control characters from file names escaped. */
export function oneLine(text: string): string {
  return printable(text.replace(/\s*\n\s*/g, '; ').trim());
}

// ---------------------------------------------------------------- flags

export function toolVersion(): string {
  // dist/cli.js and src/cli.ts both sit one level below the package root.
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
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

Exit codes: 0 ok, 1 budget exceeded, 2 usage or input error, 3 internal error (a bug)
Colour: off when stdout is not a terminal or NO_COLOR is set; FORCE_COLOR=1 forces it on.
`;

/**
 * What every command shares: the engine's flags, the stream and diagnostics flags, help text,
 * suggestions, and errors handed to runCommand (which prints the one-line message) instead of exiting.
 */
export function withCommonOptions(cmd: Command, io: CliIO, helpAfter: string): Command {
  return cmd
    .addOption(new Option('-m, --methods <list>', 'comma-separated methods').argParser(parseMethods).default([...DEFAULT_ENGINE_OPTIONS.methods], DEFAULT_ENGINE_OPTIONS.methods.join(',')))
    .option('-s, --samples <n>', 'grid points per frequency axis (toeplitz, spectral)', parsePositiveInt, DEFAULT_ENGINE_OPTIONS.samples)
    .option('--iterations <n>', 'max power-iteration steps', parsePositiveInt, DEFAULT_ENGINE_OPTIONS.iterations)
    .option('--tolerance <x>', 'relative tolerance (power convergence, spectral certificate)', parseTolerance, DEFAULT_ENGINE_OPTIONS.tolerance)
    .option('--seed <n>', 'seed for random starts', parseNonNegativeInt, DEFAULT_ENGINE_OPTIONS.seed)
    .option('-q, --quiet', 'no progress or warnings on stderr')
    .option('--debug', 'print stack traces on errors')
    .option('--color', 'force colour')
    .option('--no-color', 'disable colour')
    .addHelpText('after', helpAfter)
    .showSuggestionAfterError(true)
    .exitOverride()
    .configureOutput({
      writeOut: (text) => io.stdout.write(text),
      writeErr: (text) => io.stderr.write(text),
      outputError: () => {},
    });
}

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
    .option('-c, --config <file>', 'budget config (default: lipcheck.config.json, or "lipcheck" in package.json)');
  withCommonOptions(program, io, HELP_AFTER);
  program.parse(argv);
  const o = program.opts<{
    format: Format; json?: boolean; methods: MethodName[]; samples: number; iterations: number; tolerance: number; seed: number;
    inputShape?: number[]; layers?: string; budget?: number; layerBudget?: number; budgetMethod?: MethodName; config?: string;
    quiet?: boolean; debug?: boolean; color?: boolean; html?: string; bars: boolean;
  }>();
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
  };
}

export function parsePositiveInt(value: string): number {
  const n = Number(value);
  if (!/^\s*\d+\s*$/.test(value) || !Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError('expected a positive integer');
  return n;
}

export function parseNonNegativeInt(value: string): number {
  const n = Number(value);
  if (!/^\s*\d+\s*$/.test(value) || !Number.isSafeInteger(n)) throw new InvalidArgumentError('expected a non-negative integer');
  return n;
}

export function parseTolerance(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n <= 0 || n >= 1) throw new InvalidArgumentError('expected a number between 0 and 1 (exclusive)');
  return n;
}

function parseBudget(value: string): number {
  const n = value.trim() === '' ? Number.NaN : Number(value);
  const problem = budgetProblem(n);
  if (problem) throw new InvalidArgumentError('expected a positive number');
  return n;
}

export function parseMethods(value: string): MethodName[] {
  const names = value.split(',').map((s) => s.trim()).filter((s) => s !== '');
  const unknown = names.filter((n) => !ALL_METHODS.includes(n as MethodName));
  if (unknown.length > 0) throw new InvalidArgumentError(`unknown method ${unknown.join(', ')} (choose from ${ALL_METHODS.join(', ')})`);
  if (names.length === 0) throw new InvalidArgumentError(`expected a comma-separated list of ${ALL_METHODS.join(', ')}`);
  return ALL_METHODS.filter((m) => names.includes(m));
}

export function parseInputShape(value: string): number[] {
  const parts = value.split(/[x,×]/i);
  const dims = parts.map((p) => (/^\s*\d+\s*$/.test(p) ? Number(p) : Number.NaN));
  if (dims.length < 2 || dims.length > 5 || dims.some((d) => !Number.isSafeInteger(d) || d < 1)) {
    throw new InvalidArgumentError('expected 2 to 5 positive integers such as 1x3x224x224');
  }
  return dims;
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

/** A single stderr line rewritten in place; only on a TTY. */
export class ProgressLine {
  private shown = false;
  constructor(
    private readonly stream: OutStream,
    private readonly enabled: boolean,
  ) {}

  update(text: string): void {
    if (!this.enabled) return;
    const width = Math.max(20, (this.stream.columns ?? 80) - 1);
    this.stream.write(`\r\x1b[2K${text.length > width ? `${text.slice(0, width - 1)}…` : text}`);
    this.shown = true;
  }

  clear(): void {
    if (!this.shown) return;
    this.stream.write('\r\x1b[2K');
    this.shown = false;
  }
}

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
  const audit = await auditModel({
    file: opts.model,
    cwd: io.cwd,
    inputShape: opts.inputShape,
    engine: engineOptions,
    select: opts.layers === undefined ? undefined : { pattern: opts.layers, matches: compileNamePattern(opts.layers) },
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
    },
    layers: selected,
    bounds,
    totalLayers: model.layers.length,
    network: audit.network,
    naiveProduct: audit.naiveProduct,
    budgets,
    timing: { totalMs: performance.now() - started, loadMs: audit.loadMs, boundsMs: audit.boundsMs },
    warnings,
  });
  const wantsHtml = opts.format === 'html' || opts.html !== undefined;
  const frequencyMaps = wantsHtml ? frequencyMapsFor(report, selected, opts.samples) : [];
  if (opts.html !== undefined) writeReportFile(path.resolve(io.cwd, opts.html), opts.html, renderHtml(report, { frequencyMaps }));
  io.stdout.write(render(report, opts.format, chalkFor({ flag: opts.color, env: io.env, isTTY: Boolean(io.stdout.isTTY) }), { bars: opts.bars, frequencyMaps }));

  if (!hasAnyBudget(budgets)) return EXIT.ok;
  for (const f of report.budget.failures) {
    io.stderr.write(`${errChalk.red(`lipcheck: budget exceeded: ${f.name ?? 'network'}: ${f.reason}`)}\n`);
  }
  return report.budget.passed ? EXIT.ok : EXIT.budgetExceeded;
}

/** The per-frequency maps of the layers the HTML report shows (at most two: cheap). */
function frequencyMapsFor(report: LipcheckReport, layers: readonly Layer[], samples: number): HtmlFrequencyMap[] {
  return heatMapLayers(report).flatMap((pick) => {
    const layer = layers[pick.index];
    return layer.kind === 'conv' ? [{ ...pick, map: frequencyMap(layer, samples) }] : [];
  });
}

function writeReportFile(absPath: string, shown: string, text: string): void {
  try {
    writeFileSync(absPath, text);
  } catch (err) {
    throw new InputError(`cannot write: ${(err as Error).message}`, shown);
  }
}

export function render(report: LipcheckReport, format: Format, chalk: ChalkInstance, extra: { bars?: boolean; frequencyMaps?: HtmlFrequencyMap[] } = {}): string {
  switch (format) {
    case 'json': return renderJson(report);
    case 'markdown': return renderMarkdown(report);
    case 'table': return renderTable(report, chalk, { bars: extra.bars });
    case 'html': return renderHtml(report, { frequencyMaps: extra.frequencyMaps });
  }
}
