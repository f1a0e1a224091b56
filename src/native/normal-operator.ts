// Builds, in memory, an ONNX model of a layer's normal operator: x -> y = A x -> z = A^T y.
// The forward node is the layer's own op with its own attributes (so onnxruntime applies the real
// padding / stride / dilation / group semantics); the adjoint node reuses the same weight tensor.
// Pure: returns bytes and shapes, runs nothing. The bias is left out: it does not change the
// Lipschitz constant. The weight is a graph INPUT, not an initializer: the caller feeds a tensor
// wrapping the layer's own Float32Array, so a 400 MB dense weight is never copied into the model
// bytes and again into onnxruntime (that doubled peak memory on VGG-16's fc6, 2.5 GB).
import { attr, buildModel, node, valueInfo, type AttrValue } from '../onnx/build.js';
import type { ConvLayer, DenseLayer } from '../model/layer.js';

export interface NormalOperatorModel {
  /** Serialized ModelProto with inputs 'x', 'w' and outputs 'y' (= A x) and 'z' (= A^T A x). */
  bytes: Uint8Array;
  /** Dims of the weight input 'w' (the layer's weightShape). */
  weightDims: number[];
  /** Input / output dims including the batch dim of 1. */
  inputDims: number[];
  outputDims: number[];
  /** Which ONNX ops implement A and A^T, e.g. 'Conv -> ConvTranspose'. */
  route: string;
  /** output_padding given to the adjoint ConvTranspose (Conv layers only). */
  adjointOutputPadding: number[] | null;
}

export const INPUT = 'x';
export const WEIGHT = 'w';
export const FORWARD = 'y';
export const NORMAL = 'z';

/** Output size of a Conv along one axis (ONNX formula with explicit pads). */
export function convOutputSize(n: number, k: number, s: number, d: number, padBegin: number, padEnd: number): number {
  return Math.floor((n + padBegin + padEnd - d * (k - 1) - 1) / s) + 1;
}

/** Output size of a ConvTranspose along one axis (ONNX formula with explicit pads). */
export function convTransposeOutputSize(n: number, k: number, s: number, d: number, padBegin: number, padEnd: number, outPad: number): number {
  return (n - 1) * s + outPad + d * (k - 1) + 1 - padBegin - padEnd;
}

/**
 * Conv or ConvTranspose layer: A is the layer's op, A^T the other op with the same weight tensor.
 * This works because a Conv weight [cout, cin/g, k..] read as a ConvTranspose weight
 * [C = cout, M/g = cin/g, k..] is exactly the transposed (gradient) operator, and vice versa.
 * The ConvTranspose's output_padding is chosen so the adjoint maps back onto the conv's input
 * shape: the rows a strided conv never reads (the floor in its size formula) get zero, as they must.
 * Throws on shapes that leave no valid operator.
 */
export function convNormalModel(layer: ConvLayer, inputShape: number[]): NormalOperatorModel {
  const dims = layer.spatialDims;
  const kernel = layer.weightShape.slice(2);
  const { strides, dilations, pads, group } = layer;
  const transpose = layer.op === 'ConvTranspose';
  const inSpatial = inputShape.slice(1);
  if (inSpatial.length !== dims || kernel.length !== dims) {
    throw new Error(`input shape [${inputShape}] does not match a ${dims}-D kernel [${layer.weightShape}]`);
  }
  // Channel counts of A (input -> output); see the weight layouts in ConvLayer.
  const [w0, w1] = layer.weightShape;
  const cin = transpose ? w0 : w1 * group;
  const cout = transpose ? w1 * group : w0;
  if (inputShape[0] !== cin) throw new Error(`input has ${inputShape[0]} channels, the weight expects ${cin}`);

  const outSpatial: number[] = [];
  const adjointPad: number[] = [];
  for (let a = 0; a < dims; a++) {
    const [n, k, s, d, pb, pe] = [inSpatial[a], kernel[a], strides[a], dilations[a], pads[a], pads[a + dims]];
    if (transpose) {
      outSpatial.push(convTransposeOutputSize(n, k, s, d, pb, pe, layer.outputPadding[a] ?? 0));
    } else {
      const m = convOutputSize(n, k, s, d, pb, pe);
      outSpatial.push(m);
      // in = (m-1)s + d(k-1) + 1 - pb - pe + r with r the remainder the conv's floor dropped, 0 <= r < s.
      adjointPad.push(n - convTransposeOutputSize(m, k, s, d, pb, pe, 0));
    }
  }
  if (outSpatial.some((m) => m < 1)) throw new Error(`empty output [${outSpatial}] for input [${inSpatial}]`);
  if (transpose) {
    // The adjoint Conv maps back onto the input size only if output_padding < stride on every axis.
    const back = outSpatial.map((m, a) => convOutputSize(m, kernel[a], strides[a], dilations[a], pads[a], pads[a + dims]));
    if (back.some((m, a) => m !== inSpatial[a])) {
      throw new Error(`output_padding [${layer.outputPadding}] >= stride [${strides}]: no Conv adjoint of this shape`);
    }
  } else if (adjointPad.some((r, a) => r < 0 || r >= strides[a])) {
    throw new Error(`adjoint output_padding [${adjointPad}] outside [0, stride)`); // cannot happen by the algebra above
  }

  const common: Record<string, AttrValue> = {
    kernel_shape: attr.ints(kernel),
    strides: attr.ints(strides),
    dilations: attr.ints(dilations),
    pads: attr.ints(pads),
    group: attr.i(group),
  };
  const convT = (outPad: number[]): Record<string, AttrValue> => ({ ...common, output_padding: attr.ints(outPad) });
  const forwardAttrs = transpose ? convT(layer.outputPadding.length === dims ? layer.outputPadding : new Array(dims).fill(0)) : common;
  const adjointAttrs = transpose ? common : convT(adjointPad);
  const inputDims = [1, ...inputShape];
  const outputDims = [1, cout, ...outSpatial];
  const [fwdOp, adjOp] = transpose ? ['ConvTranspose', 'Conv'] : ['Conv', 'ConvTranspose'];
  const bytes = buildModel({
    nodes: [
      node(fwdOp, [INPUT, WEIGHT], [FORWARD], forwardAttrs, 'forward'),
      node(adjOp, [FORWARD, WEIGHT], [NORMAL], adjointAttrs, 'adjoint'),
    ],
    inputs: [valueInfo(INPUT, inputDims), valueInfo(WEIGHT, layer.weightShape)],
    outputs: [valueInfo(FORWARD, outputDims), valueInfo(NORMAL, inputDims)],
  });
  return { bytes, weightDims: layer.weightShape, inputDims, outputDims, route: `${fwdOp} -> ${adjOp}`, adjointOutputPadding: transpose ? null : adjointPad };
}

/** Dense layer W [out, in]: y = x W^T by Gemm(transB), z = y W by MatMul, on row vectors. */
export function denseNormalModel(layer: DenseLayer): NormalOperatorModel {
  const [rows, cols] = layer.weightShape;
  const inputDims = [1, cols];
  const outputDims = [1, rows];
  const bytes = buildModel({
    nodes: [
      node('Gemm', [INPUT, WEIGHT], [FORWARD], { transB: attr.i(1) }, 'forward'),
      node('MatMul', [FORWARD, WEIGHT], [NORMAL], {}, 'adjoint'),
    ],
    inputs: [valueInfo(INPUT, inputDims), valueInfo(WEIGHT, [rows, cols])],
    outputs: [valueInfo(FORWARD, outputDims), valueInfo(NORMAL, inputDims)],
  });
  return { bytes, weightDims: [rows, cols], inputDims, outputDims, route: 'Gemm -> MatMul', adjointOutputPadding: null };
}
