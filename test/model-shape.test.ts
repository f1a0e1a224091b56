// model/shape.ts: numpy broadcasting against onnxruntime's own Add (concrete shapes, 0 included),
// and the symbolic rule against every substitution of small lengths for the symbols.
import { describe, expect, it } from 'vitest';
import * as ort from 'onnxruntime-node';
import { buildModel, node, valueInfo } from '../src/onnx/build.js';
import { broadcastShapes, broadcastSymbolicShapes } from '../src/model/shape.js';

/** Output dims of onnxruntime's Add on inputs of these shapes, or null if it rejects them. */
async function ortBroadcast(a: number[], b: number[]): Promise<number[] | null> {
  const model = buildModel({
    nodes: [node('Add', ['a', 'b'], ['c'])],
    inputs: [valueInfo('a', a.map((_, i) => `a${i}`)), valueInfo('b', b.map((_, i) => `b${i}`))],
    outputs: [valueInfo('c', null)],
  });
  const session = await ort.InferenceSession.create(model);
  const size = (s: number[]) => s.reduce((x, y) => x * y, 1);
  try {
    const out = await session.run({ a: new ort.Tensor('float32', new Float32Array(size(a)), a), b: new ort.Tensor('float32', new Float32Array(size(b)), b) });
    return [...out.c.dims];
  } catch {
    return null;
  } finally {
    await session.release();
  }
}

describe('broadcastShapes (concrete)', () => {
  it('agrees with onnxruntime on compatible, incompatible and empty (0) shapes', async () => {
    const cases: [number[], number[]][] = [
      [[2, 3], [3]], [[2, 1, 4], [3, 1]], [[2, 3], [4, 3]], [[0, 3], [1, 3]], [[0, 3], [0, 1]], [[0], [2]],
      [[1], [0]], [[], [2, 2]], [[5, 1, 1], [1, 4, 1]], [[3], [4]],
    ];
    for (const [a, b] of cases) expect(broadcastShapes([a, b]), `${a} / ${b}`).toEqual(await ortBroadcast(a, b));
    expect(broadcastShapes([[2, 3], null])).toBeNull();
  });
});

describe('broadcastSymbolicShapes', () => {
  const shapes: number[][] = [[-1, 3], [1, 3], [5, 1], [-1, 1], [-2, 3], [1, 1], [3], [-1], [4, -1], [-2]];
  it('whenever it gives a shape, every valid run (symbols -> 1..6) broadcasts to that shape, symbols substituted', () => {
    for (const a of shapes) {
      for (const b of shapes) {
        const sym = broadcastSymbolicShapes([a, b]);
        if (sym === null) continue;
        for (let s1 = 1; s1 <= 6; s1++) {
          for (let s2 = 1; s2 <= 6; s2++) {
            const sub = (s: number[]) => s.map((d) => (d === -1 ? s1 : d === -2 ? s2 : d));
            const run = broadcastShapes([sub(a), sub(b)]);
            if (run !== null) expect(run, `${a} / ${b} with ${s1}, ${s2}`).toEqual(sub(sym));
          }
        }
      }
    }
  });

  it('equal symbols broadcast, a symbol meets 1 as itself and d > 1 as d; different symbols and 0 refuse', () => {
    expect(broadcastSymbolicShapes([[-1, 3], [-1, 1]])).toEqual([-1, 3]);
    expect(broadcastSymbolicShapes([[-1], [1]])).toEqual([-1]);
    expect(broadcastSymbolicShapes([[-1], [5]])).toEqual([5]);
    expect(broadcastSymbolicShapes([[-1], [-2]])).toBeNull();
    expect(broadcastSymbolicShapes([[0], [1]])).toBeNull();
  });
});
