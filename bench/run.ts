// `npm run bench`: generates the benchmark models (once per generator version and seed), then runs each
// model in its own child process (so each peak RSS belongs to one model), prints a table and writes JSON.
//
//   tsx bench/run.ts [--models a,b] [--methods toeplitz,spectral,...] [--samples 50] [--threads N]
//                    [--reference toeplitz,spectral|none] [--ref-frequencies N] [--check-threads]
//                    [--quick] [--seed 1] [--json bench/results.json]
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ALL_METHODS, type MethodName } from '../src/layer/types.js';
import { parseInputRange } from '../src/network/local.js';
import { DEFAULT_JOBS } from '../src/audit.js';
import { BENCH_MODELS } from './models.js';
import { REFERENCE_METHODS, type ReferenceMethod } from './reference.js';
import { benchmarkModel, failedRecord } from './model-bench.js';
import { formatResults } from './format.js';
import type { BenchConfig, BenchResults, ModelRecord } from './types.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const MODELS_DIR = path.join(HERE, 'models');
const QUICK_MODELS = ['cifar-resnet18'];
/** Spectral reference: grid points per block actually evaluated (the naive spectral is minutes per wide layer). */
const DEFAULT_REF_FREQUENCIES = 100;
const QUICK_REF_FREQUENCIES = 16;
/** --quick: reference runs only on layers up to this many weights (128x128x3x3), seconds instead of minutes. */
const QUICK_REF_MAX_WEIGHTS = 2 ** 18;

const USAGE = `usage: npm run bench -- [options]
  --models a,b          ${Object.keys(BENCH_MODELS).join(', ')} (default: all; --quick: ${QUICK_MODELS.join(', ')})
  --methods a,b         ${ALL_METHODS.join(', ')} (default: all)
  --samples N           grid points per frequency axis (default 50)
  --threads N           engine / onnxruntime threads (default: the engine's)
  --reference a,b|none  naive reference to time against: toeplitz, spectral (default: both, if run)
  --ref-frequencies N   spectral reference: grid points evaluated per block, time extrapolated;
                        0 = full grid (default ${DEFAULT_REF_FREQUENCIES}; --quick ${QUICK_REF_FREQUENCIES})
  --ref-max-weights N   reference only on layers with at most N weights; 0 = all (default 0;
                        --quick ${QUICK_REF_MAX_WEIGHTS})
  --jobs N              also time all methods over N processes, as lipcheck --jobs N (default 2 on 2+ cores; 1: no such run)
  --input-range R|none  input box of the local bound, as lipcheck's --input-range (default 0:1)
  --check-threads       also run every method at 1 and 2 threads and compare the bounds (to 1e-6)
  --quick               a fast check: ${QUICK_MODELS.join(', ')} only, reference on small layers and few frequencies
  --seed N              weight seed of the generated models (default 1)
  --json PATH           results file (default bench/results.json)`;

function list<T extends string>(value: string | undefined, allowed: readonly T[], flag: string): T[] | undefined {
  if (value === undefined) return undefined;
  const items = value.split(',').map((x) => x.trim()).filter(Boolean);
  for (const x of items) if (!allowed.includes(x as T)) throw new Error(`${flag}: unknown '${x}' (expected ${allowed.join(', ')})`);
  return items as T[];
}

function positiveInt(value: string | undefined, flag: string, fallback: number, allowZero = false): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < (allowZero ? 0 : 1)) throw new Error(`${flag}: expected a ${allowZero ? 'non-negative' : 'positive'} integer, got '${value}'`);
  return n;
}

interface Cli {
  models: string[];
  seed: number;
  json: string;
  config: BenchConfig;
  child: { model: string; file: string; out: string } | null;
}

function parseCli(argv: string[]): Cli {
  const { values } = parseArgs({
    args: argv,
    options: {
      models: { type: 'string' },
      methods: { type: 'string' },
      samples: { type: 'string' },
      threads: { type: 'string' },
      reference: { type: 'string' },
      'ref-frequencies': { type: 'string' },
      'ref-max-weights': { type: 'string' },
      'check-threads': { type: 'boolean', default: false },
      'input-range': { type: 'string' },
      jobs: { type: 'string' },
      quick: { type: 'boolean', default: false },
      seed: { type: 'string' },
      json: { type: 'string' },
      help: { type: 'boolean', default: false },
      // internal: run one model in this process and write its record to --child-out
      child: { type: 'string' },
      'child-file': { type: 'string' },
      'child-out': { type: 'string' },
    },
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const quick = values.quick ?? false;
  const methods = list(values.methods, ALL_METHODS, '--methods') ?? [...ALL_METHODS];
  const reference =
    values.reference === 'none'
      ? []
      : (list(values.reference, REFERENCE_METHODS, '--reference') ?? REFERENCE_METHODS.filter((m) => methods.includes(m as MethodName)));
  const config: BenchConfig = {
    methods,
    samples: positiveInt(values.samples, '--samples', 50),
    threads: values.threads === undefined ? null : positiveInt(values.threads, '--threads', 1),
    reference,
    referenceFrequencies: positiveInt(values['ref-frequencies'], '--ref-frequencies', quick ? QUICK_REF_FREQUENCIES : DEFAULT_REF_FREQUENCIES, true),
    referenceMaxWeights: positiveInt(values['ref-max-weights'], '--ref-max-weights', quick ? QUICK_REF_MAX_WEIGHTS : 0, true),
    checkThreads: values['check-threads'] ?? false,
    jobs: positiveInt(values.jobs, '--jobs', DEFAULT_JOBS),
    inputRange: values['input-range'] === 'none' ? null : (values['input-range'] ?? '0:1'),
  };
  if (config.inputRange) parseInputRange(config.inputRange); // a malformed range fails here, before any model runs
  const child = values.child !== undefined && values['child-file'] && values['child-out']
    ? { model: values.child, file: values['child-file'], out: values['child-out'] }
    : null;
  return {
    models: list(values.models, Object.keys(BENCH_MODELS), '--models') ?? (quick ? QUICK_MODELS : Object.keys(BENCH_MODELS)),
    seed: positiveInt(values.seed, '--seed', 1, true),
    json: values.json ?? path.join(HERE, 'results.json'),
    config,
    child,
  };
}

/** The generator's version: a hash of models.ts, so editing a generator regenerates its files. */
function generatorTag(): string {
  return createHash('sha256').update(fs.readFileSync(path.join(HERE, 'models.ts'))).digest('hex').slice(0, 8);
}

/** bench/models/<name>.s<seed>.<tag>.onnx, generated unless already there. */
function ensureModel(name: string, seed: number, tag: string): string {
  const file = path.join(MODELS_DIR, `${name}.s${seed}.${tag}.onnx`);
  if (fs.existsSync(file)) return file;
  fs.mkdirSync(MODELS_DIR, { recursive: true });
  const t0 = performance.now();
  const bytes = BENCH_MODELS[name](seed);
  // write-then-rename: an interrupted run never leaves a truncated model under the final name
  fs.writeFileSync(`${file}.tmp`, bytes);
  fs.renameSync(`${file}.tmp`, file);
  console.error(`generated ${path.relative(process.cwd(), file)} (${(bytes.length / 2 ** 20).toFixed(1)} MB, ${((performance.now() - t0) / 1000).toFixed(1)} s)`);
  return file;
}

/** Flags a child needs to reproduce the parent's config. */
function configArgs(c: BenchConfig): string[] {
  return [
    '--methods', c.methods.join(','),
    '--samples', String(c.samples),
    ...(c.threads === null ? [] : ['--threads', String(c.threads)]),
    '--reference', c.reference.length ? c.reference.join(',') : 'none',
    '--ref-frequencies', String(c.referenceFrequencies),
    '--ref-max-weights', String(c.referenceMaxWeights),
    '--input-range', c.inputRange ?? 'none',
    '--jobs', String(c.jobs),
    ...(c.checkThreads ? ['--check-threads'] : []),
  ];
}

/** Runs one model in a fresh node process (same loader flags, plus --expose-gc for clean measurements). */
function runChild(model: string, file: string, config: BenchConfig): Promise<ModelRecord> {
  const out = path.join(os.tmpdir(), `lipcheck-bench-${process.pid}-${model}.json`);
  const args = [...process.execArgv, '--expose-gc', fileURLToPath(import.meta.url), '--child', model, '--child-file', file, '--child-out', out, ...configArgs(config)];
  return new Promise((resolve) => {
    const p = spawn(process.execPath, args, { stdio: ['ignore', 'inherit', 'inherit'] });
    const fail = (error: string) => failedRecord(model, file, error);
    p.on('error', (e) => resolve(fail(e.message)));
    p.on('close', (code, signal) => {
      try {
        const rec = JSON.parse(fs.readFileSync(out, 'utf8')) as ModelRecord;
        fs.rmSync(out, { force: true });
        resolve(rec);
      } catch {
        resolve(fail(`benchmark process exited with ${signal ?? `code ${code}`} before writing results`));
      }
    });
  });
}

async function childMain(cli: Cli, child: NonNullable<Cli['child']>): Promise<void> {
  let rec: ModelRecord;
  try {
    rec = await benchmarkModel(child.model, child.file, cli.config);
  } catch (e) {
    // a loader failure: recorded, and the other models still run
    rec = failedRecord(child.model, child.file, e instanceof Error ? e.message : String(e));
  }
  fs.writeFileSync(child.out, JSON.stringify(rec));
}

async function main(): Promise<void> {
  const cli = parseCli(process.argv.slice(2));
  if (cli.child) return childMain(cli, cli.child);
  const tag = generatorTag();
  const results: BenchResults = {
    date: new Date().toISOString(),
    machine: {
      cpus: os.cpus().length,
      availableParallelism: os.availableParallelism(),
      cpuModel: os.cpus()[0]?.model ?? 'unknown',
      totalMemMB: Math.round(os.totalmem() / 2 ** 20),
      platform: os.platform(),
      arch: os.arch(),
      node: process.version,
    },
    config: { ...cli.config, models: cli.models, seed: cli.seed },
    models: [],
  };
  for (const name of cli.models) {
    const file = ensureModel(name, cli.seed, tag);
    console.error(`benchmarking ${name} ...`);
    results.models.push(await runChild(name, file, cli.config));
    fs.mkdirSync(path.dirname(cli.json), { recursive: true });
    fs.writeFileSync(cli.json, `${JSON.stringify(results, null, 2)}\n`); // after each model: partial results survive
  }
  console.log(formatResults(results));
  console.log(`\nwrote ${path.relative(process.cwd(), cli.json)}`);
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : String(e));
  process.exitCode = 1;
});
