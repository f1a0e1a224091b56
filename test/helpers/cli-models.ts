// Small ONNX models with norms known in closed form, for the CLI tests; and a runner that
// spawns the real executable (bin/lipcheck -> dist/cli/main.js).
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, statSync, readdirSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import { main } from '../../src/cli/main.js';
import { REPORT_JSON_SCHEMA } from '../../src/report/json-schema.js';
import type { LipcheckReport } from '../../src/report/types.js';
import { validateJsonSchema } from './json-schema.js';
import { attr, buildModel, floatTensor, node, valueInfo } from '../../src/onnx/build.js';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BIN = path.join(ROOT, 'bin', 'lipcheck');

/**
 * `chain.onnx`: conv1 (1x1, weight diag(2, 0.5): norm exactly 2) -> Relu -> Flatten -> fc
 * (Gemm, 4x32 weight with singular values 3, 2, 1, 0: norm exactly 3). Plain chain bound: 6.
 */
export const CHAIN = { conv1: 2, fc: 3, product: 6 };

export function chainModel(inputDims: (number | string)[] = [1, 2, 4, 4]): Uint8Array {
  const fc = new Array<number>(4 * 32).fill(0);
  fc[0 * 32 + 0] = 3;
  fc[1 * 32 + 5] = 2;
  fc[2 * 32 + 9] = -1;
  return buildModel({
    nodes: [
      node('Conv', ['x', 'w1'], ['h'], { kernel_shape: attr.ints([1, 1]) }, 'conv1'),
      node('Relu', ['h'], ['r'], {}, 'relu'),
      node('Flatten', ['r'], ['f'], {}, 'flatten'),
      node('Gemm', ['f', 'w2'], ['y'], { transB: attr.i(1) }, 'fc'),
    ],
    initializers: [floatTensor('w1', [2, 2, 1, 1], [2, 0, 0, 0.5]), floatTensor('w2', [4, 32], fc)],
    inputs: [valueInfo('x', inputDims)],
    outputs: [valueInfo('y', [1, 4])],
  });
}

/** `unsupported.onnx`: conv1 as above, then a MatMul of two run-time tensors (no weight: unsupported). */
export function unsupportedModel(): Uint8Array {
  return buildModel({
    nodes: [
      node('Conv', ['x', 'w1'], ['h'], {}, 'conv1'),
      node('Flatten', ['h'], ['f'], {}, 'flatten'),
      node('MatMul', ['f', 'z'], ['y'], {}, 'mix'),
    ],
    initializers: [floatTensor('w1', [2, 2, 1, 1], [2, 0, 0, 0.5])],
    inputs: [valueInfo('x', [1, 2, 4, 4]), valueInfo('z', [32, 3])],
    outputs: [valueInfo('y', [1, 3])],
  });
}

export async function writeModels(dir: string): Promise<void> {
  await writeFile(path.join(dir, 'chain.onnx'), chainModel());
  await writeFile(path.join(dir, 'symbolic.onnx'), chainModel(['N', 2, 'H', 'W']));
  await writeFile(path.join(dir, 'unsupported.onnx'), unsupportedModel());
  await writeFile(path.join(dir, 'notonnx.onnx'), 'this is not a protobuf\n'.repeat(20));
}

/** Build dist/ when it is missing or older than a source file (`npm test` builds it first anyway). */
export function ensureBuilt(): void {
  const out = path.join(ROOT, 'dist', 'cli', 'main.js');
  const newest = (dir: string): number =>
    Math.max(0, ...readdirSync(dir, { withFileTypes: true }).map((e) => (e.isDirectory() ? newest(path.join(dir, e.name)) : statSync(path.join(dir, e.name)).mtimeMs)));
  if (existsSync(out) && statSync(out).mtimeMs >= newest(path.join(ROOT, 'src'))) return;
  try {
    execFileSync(process.execPath, [path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', path.join(ROOT, 'tsconfig.json')], { stdio: 'pipe' });
  } catch {
    // tsc emits even with type errors elsewhere; the build check of `npm test` reports those.
  }
  if (!existsSync(out)) throw new Error('dist/cli/main.js missing: run `npx tsc -p tsconfig.json`');
}

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Spawn `node bin/lipcheck ...args` with a clean colour environment plus `env`. */
export function runCli(args: string[], opts: { cwd: string; env?: Record<string, string> }): Promise<CliRun> {
  const env: Record<string, string | undefined> = { ...process.env };
  for (const key of ['FORCE_COLOR', 'NO_COLOR', 'NODE_DISABLE_COLORS', 'CI']) delete env[key];
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { cwd: opts.cwd, env: { ...env, ...opts.env }, timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : null) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** The same as runCli, but calling main() in this process (no TTY): fast, for the many flag cases. */
export async function runInProcess(args: string[], opts: { cwd: string; env?: Record<string, string> }): Promise<CliRun> {
  let stdout = '';
  let stderr = '';
  const code = await main(['node', 'lipcheck', ...args], {
    cwd: opts.cwd,
    env: { ...opts.env },
    stdout: { isTTY: false, write: (t: string) => (stdout += t) },
    stderr: { isTTY: false, write: (t: string) => (stderr += t) },
  });
  return { code, stdout, stderr };
}

/** A stack trace in stderr (only --debug may print one). */
export const STACK = /\n\s+at /;

/** The JSON report on stdout, checked against the published schema. */
export function parseReport(run: CliRun): LipcheckReport {
  const report = JSON.parse(run.stdout) as LipcheckReport;
  expect(validateJsonSchema(REPORT_JSON_SCHEMA, report)).toEqual([]);
  return report;
}

/** An error run: exit 2, nothing on stdout, exactly one stderr line, no stack trace. */
export function expectOneLineError(run: CliRun, pattern: RegExp): void {
  expect(run.code).toBe(2);
  expect(run.stdout).toBe('');
  expect(run.stderr.trimEnd().split('\n')).toHaveLength(1);
  expect(run.stderr).toMatch(pattern);
  expect(run.stderr).not.toMatch(STACK);
}
