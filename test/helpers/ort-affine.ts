// The check that ties a loaded layer record to what onnxruntime actually computes: for a model
// whose only layer is linear up to a bias, y(x) - y(0) must equal A x with A the layer's explicit
// matrix (test/helpers/exact.ts).
import * as ort from 'onnxruntime-node';
import { expect } from 'vitest';
import { normalArray } from '../../src/util/random.js';
import { matVec } from './exact.js';

export async function expectOrtMatchesMatrix(file: string, inputShape: number[], m: { a: Float64Array; rows: number; cols: number }, seed: number): Promise<void> {
  const { a, rows, cols } = m;
  expect(inputShape.reduce((p, q) => p * q, 1)).toBe(cols);
  const x = Float32Array.from(normalArray(cols, seed));
  const session = await ort.InferenceSession.create(file);
  const run = async (data: Float32Array) => {
    const out = await session.run({ [session.inputNames[0]]: new ort.Tensor('float32', data, inputShape) });
    return out[session.outputNames[0]].data as Float32Array;
  };
  const y1 = await run(x);
  const y0 = await run(new Float32Array(cols));
  await session.release();
  expect(y1.length).toBe(rows);
  let worst = 0;
  let scale = 0;
  const ax = matVec(a, rows, cols, x);
  for (let r = 0; r < rows; r++) {
    worst = Math.max(worst, Math.abs(y1[r] - y0[r] - ax[r]));
    scale = Math.max(scale, Math.abs(ax[r]));
  }
  expect(scale).toBeGreaterThan(0.1);
  expect(worst).toBeLessThan(1e-4 * scale);
}
