// --input-range end to end: a squeeze-and-excitation gate has no global bound, so a network budget can
// only gate the local bound over the input box; the report says which bound was gated, and the local
// bound stays above a measurement inside the box.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { REPORT_JSON_SCHEMA } from '../src/report/json-schema.js';
import type { LipcheckReport } from '../src/report/types.js';
import { attr, buildModel, floatTensor, node, valueInfo } from '../src/onnx/build.js';
import { normalArray } from '../src/util/random.js';
import { ensureBuilt, runInProcess } from './helpers/cli-models.js';
import { empiricalLipschitzInBox } from './helpers/empirical.js';
import { validateJsonSchema } from './helpers/json-schema.js';
import { tempDir } from './helpers/tmp.js';

const he = (n: number, fanIn: number, seed: number) => Float32Array.from(normalArray(n, seed), (v) => v * Math.sqrt(2 / fanIn));

/** conv -> relu -> SE gate (x * sigmoid(conv1x1(mean x))) -> conv, input [N, 3, 8, 8]. */
function seModel(batch: number | string): Uint8Array {
  return buildModel({
    nodes: [
      node('Conv', ['x', 'w1'], ['c1'], { pads: attr.ints([1, 1, 1, 1]) }, 'conv1'),
      node('Relu', ['c1'], ['r1'], {}, 'relu1'),
      node('GlobalAveragePool', ['r1'], ['m'], {}, 'squeeze'),
      node('Conv', ['m', 'w2'], ['g'], {}, 'excite'),
      node('Sigmoid', ['g'], ['s'], {}, 'gate'),
      node('Mul', ['r1', 's'], ['y1'], {}, 'scale'),
      node('Conv', ['y1', 'w3'], ['y'], {}, 'conv3'),
    ],
    initializers: [floatTensor('w1', [4, 3, 3, 3], he(108, 27, 1)), floatTensor('w2', [4, 4, 1, 1], he(16, 4, 2)), floatTensor('w3', [2, 4, 1, 1], he(8, 4, 3))],
    inputs: [valueInfo('x', [batch, 3, 8, 8])],
    outputs: [valueInfo('y', null)],
  });
}

describe('--input-range', () => {
  let dir: string;
  beforeAll(() => {
    ensureBuilt();
    dir = tempDir('lipcheck-local');
    writeFileSync(path.join(dir, 'se.onnx'), seModel(1));
  });

  const run = async (...args: string[]) => {
    const r = await runInProcess(['se.onnx', '--json', '--methods', 'toeplitz,spectral,frobenius', ...args], { cwd: dir });
    return { ...r, report: r.stdout ? (JSON.parse(r.stdout) as LipcheckReport) : null };
  };

  it('without a range: no global bound, a network budget fails (exit 1)', async () => {
    const r = await run('--budget', '1000');
    expect(r.code).toBe(1);
    expect(r.report!.network.bound).toBeNull();
    expect(r.report!.network.local).toBeNull();
    expect(r.report!.network.gated).toBeNull();
  });

  it('with --input-range 0:1: a certified local bound, gated by the budget, above the measurement in the box', async () => {
    const r = await run('--input-range', '0:1', '--budget', '1000');
    expect(validateJsonSchema(REPORT_JSON_SCHEMA, r.report)).toEqual([]);
    const local = r.report!.network.local!;
    expect(local.range).toBe('0:1');
    expect(local.certified).toBe(true);
    expect(r.report!.network.gated).toBe('local');
    expect(r.code).toBe(0);
    const n = 3 * 8 * 8;
    const empirical = await empiricalLipschitzInBox(seModel('N'), [1, 3, 8, 8], new Float64Array(n), new Float64Array(n).fill(1), { pairs: 24, steps: 20, seed: 4 });
    expect(local.bound!).toBeGreaterThanOrEqual(empirical * (1 - 6e-6));
    // a budget below the local bound fails, naming the local bound
    const tight = await run('--input-range', '0:1', '--budget', String(local.bound! / 2));
    expect(tight.code).toBe(1);
    expect(tight.stderr).toMatch(/local network bound over 0:1/);
  });

  it('a malformed range, or one with the wrong channel count, is a one-line usage error (exit 2)', async () => {
    for (const range of ['1:0', '0:1,0:1']) {
      const r = await run('--input-range', range);
      expect(r.code).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
    }
    expect((await run('--input-range', '0:1,0:1')).stderr).toMatch(/se\.onnx: --input-range gives 2 channel ranges, the model input has 3 channels/);
  });
});
