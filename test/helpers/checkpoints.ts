// Checkpoints of one small architecture whose weights differ by known factors, for the growth gates
// (`lipcheck diff`, --baseline): scaling a layer's weights by c scales its norm, and every
// scale-equivariant bound, by exactly c (exactly in floating point for powers of two).
import { attr, buildModel, floatTensor, node, valueInfo } from '../../src/onnx/build.js';
import { normalArray } from '../../src/util/random.js';

const SHAPES = { conv1: [3, 2, 3, 3], conv2: [2, 3, 3, 3], fc: [4, 72] };
const BASE = { conv1: normalArray(54, 11), conv2: normalArray(54, 12), fc: normalArray(4 * 72, 13) };

export interface ChainSpec {
  /** Factors applied to the base weights. */
  scale?: { conv1?: number; conv2?: number; fc?: number };
  names?: { conv1?: string; conv2?: string; fc?: string };
  /** Output size of fc (another value changes its shape). */
  fcOut?: number;
}

/** conv1 (3x3, 2->3) -> Relu -> conv2 (3x3, 3->2) -> Flatten -> fc (Gemm); input 1x2x6x6. A plain chain. */
export function chainCheckpoint(spec: ChainSpec = {}): Uint8Array {
  const s = { conv1: 1, conv2: 1, fc: 1, ...spec.scale };
  const n = { conv1: 'conv1', conv2: 'conv2', fc: 'fc', ...spec.names };
  const fcOut = spec.fcOut ?? 4;
  const fcWeights = fcOut === 4 ? BASE.fc : normalArray(fcOut * 72, 14);
  const pads = { pads: attr.ints([1, 1, 1, 1]) };
  return buildModel({
    nodes: [
      node('Conv', ['x', 'w1'], ['h1'], pads, n.conv1),
      node('Relu', ['h1'], ['r1'], {}, 'relu'),
      node('Conv', ['r1', 'w2'], ['h2'], pads, n.conv2),
      node('Flatten', ['h2'], ['f'], {}, 'flatten'),
      node('Gemm', ['f', 'w3'], ['y'], { transB: attr.i(1) }, n.fc),
    ],
    initializers: [
      floatTensor('w1', SHAPES.conv1, BASE.conv1.map((v) => v * s.conv1)),
      floatTensor('w2', SHAPES.conv2, BASE.conv2.map((v) => v * s.conv2)),
      floatTensor('w3', [fcOut, 72], fcWeights.map((v) => v * s.fc)),
    ],
    inputs: [valueInfo('x', [1, 2, 6, 6])],
    outputs: [valueInfo('y', [1, fcOut])],
  });
}

