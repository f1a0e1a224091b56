// What every command shares: streams, exit codes, the command runner (parse, run, map errors to exit
// codes), the engine and diagnostics flags with their parsers, and the progress line. commander lives
// only under src/cli/; main.ts and diff.ts both build on this file and never on each other.
import { readFileSync } from 'node:fs';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { ALL_METHODS, DEFAULT_ENGINE_OPTIONS, type MethodName } from '../layer/types.js';
import { InputError } from '../errors.js';
import { budgetProblem } from '../report/budget.js';
import { printable } from '../util/printable.js';
import { decimal } from '../util/numbers.js';

export const EXIT = { ok: 0, budgetExceeded: 1, usage: 2, internal: 3 } as const;

export interface OutStream {
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

export function processIO(): CliIO {
  return { stdout: pipeSafe(process.stdout), stderr: pipeSafe(process.stderr), env: process.env, cwd: process.cwd() };
}

const pipeSafeStreams = new WeakMap<NodeJS.WriteStream, OutStream>();

/**
 * A process stream whose reader may go away (`lipcheck ... | head`): EPIPE then drops the rest of
 * the output quietly instead of an unhandled 'error' event with a stack trace, and the run goes on
 * to its normal exit code (as if the output had been read). Any other stream error still throws.
 */
function pipeSafe(stream: NodeJS.WriteStream): OutStream {
  const known = pipeSafeStreams.get(stream);
  if (known) return known;
  let closed = false;
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE' && err.code !== 'ERR_STREAM_DESTROYED') throw err;
    closed = true;
  });
  const safe: OutStream = {
    get isTTY() {
      return stream.isTTY;
    },
    get columns() {
      return stream.columns;
    },
    write: (text: string) => (closed ? false : stream.write(text)),
  };
  pipeSafeStreams.set(stream, safe);
  return safe;
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
  // dist/cli/ and src/cli/ both sit two levels below the package root.
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

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
    .option('-j, --jobs <n>', 'processes bounding layers (each loads the model; values do not depend on it) (default: 2 on 2+ cores when the model has enough work, else 1)', parsePositiveInt)
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
  const n = decimal(value);
  if (!Number.isFinite(n) || n <= 0 || n >= 1) throw new InvalidArgumentError('expected a number between 0 and 1 (exclusive)');
  return n;
}

export function parseMethods(value: string): MethodName[] {
  const names = value.split(',').map((s) => s.trim()).filter((s) => s !== '');
  const unknown = names.filter((n) => !ALL_METHODS.includes(n as MethodName));
  if (unknown.length > 0) throw new InvalidArgumentError(`unknown method ${unknown.join(', ')} (choose from ${ALL_METHODS.join(', ')})`);
  if (names.length === 0) throw new InvalidArgumentError(`expected a comma-separated list of ${ALL_METHODS.join(', ')}`);
  return ALL_METHODS.filter((m) => names.includes(m));
}

/** --max-growth: a positive factor (a budget's rules). */
export function parseGrowth(value: string): number {
  const n = decimal(value);
  if (budgetProblem(n) !== null) throw new InvalidArgumentError('expected a positive number such as 1.1');
  return n;
}

export function parseInputShape(value: string): number[] {
  const parts = value.split(/[x,×]/i);
  const dims = parts.map((p) => (/^\s*\d+\s*$/.test(p) ? Number(p) : Number.NaN));
  if (dims.length < 2 || dims.length > 5 || dims.some((d) => !Number.isSafeInteger(d) || d < 1)) {
    throw new InvalidArgumentError('expected 2 to 5 positive integers such as 1x3x224x224');
  }
  return dims;
}

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
