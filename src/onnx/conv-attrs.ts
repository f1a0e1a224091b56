// The attributes of Conv-like nodes, resolved against the input size. Shared by shape
// propagation and layer extraction so both see the same pads.
import type { AutoPad } from '../model/layer.js';
import { InputError } from '../errors.js';
import { Attributes, perAxis } from './attributes.js';
import { convOutputSize, parseAutoPad, resolveConvPads, resolveConvTransposeGeometry } from './geometry.js';
import { nodeLabel } from './graph-index.js';
import type { NodeProto } from './schema.js';

export interface ConvGeometry {
  spatialDims: number;
  kernel: number[];
  strides: number[];
  dilations: number[];
  pads: number[];
  /** False when SAME padding had to be resolved without the input size (stride-1 assumption). */
  padsExact: boolean;
  autoPad: AutoPad;
  group: number;
  outputPadding: number[];
  /** Output spatial sizes, null when the input size is unknown. */
  outputSpatial: number[] | null;
}

/** Index of the weight input for each conv-like op. */
export const CONV_WEIGHT_INPUT: Record<string, number> = { Conv: 1, ConvTranspose: 1, ConvInteger: 1, QLinearConv: 3 };

export function convGeometry(node: NodeProto, weightDims: number[], inputSpatial: number[] | null): ConvGeometry {
  const label = nodeLabel(node);
  const attrs = new Attributes(node);
  const spatialDims = weightDims.length - 2;
  if (spatialDims < 1) throw new InputError(`node '${label}': weight of rank ${weightDims.length} is not a conv kernel`);
  const kernel = perAxis(attrs, 'kernel_shape', spatialDims, 0, label).map((k, i) => k || weightDims[i + 2]);
  const strides = perAxis(attrs, 'strides', spatialDims, 1, label);
  const dilations = perAxis(attrs, 'dilations', spatialDims, 1, label);
  const explicit = attrs.ints('pads') ?? [];
  if (explicit.length !== 0 && explicit.length !== 2 * spatialDims) {
    throw new InputError(`node '${label}': attribute pads has ${explicit.length} values, expected ${2 * spatialDims}`);
  }
  // int64 attributes beyond 2^53 arrive rounded: refuse them with the rest.
  const allSafe = [...strides, ...dilations, ...kernel, ...explicit].every((v) => Number.isSafeInteger(v));
  if (!allSafe || [...strides, ...dilations, ...kernel].some((v) => !(v >= 1)) || explicit.some((p) => p < 0)) {
    throw new InputError(`node '${label}': invalid kernel/stride/dilation/pads`);
  }
  const autoPadText = attrs.string('auto_pad', 'NOTSET');
  const autoPad = parseAutoPad(autoPadText);
  if (!autoPad) throw new InputError(`node '${label}': unknown auto_pad '${autoPadText}'`);
  const group = attrs.int('group', 1);
  if (!Number.isSafeInteger(group) || group < 1) throw new InputError(`node '${label}': invalid group ${group}`);
  const input = inputSpatial && inputSpatial.length === spatialDims ? inputSpatial : null;

  if (node.op_type === 'ConvTranspose') {
    const outputPadding = perAxis(attrs, 'output_padding', spatialDims, 0, label);
    let outputShape = attrs.ints('output_shape');
    if (outputShape && outputShape.length === spatialDims + 2) outputShape = outputShape.slice(2);
    if (outputShape && outputShape.length === 0) outputShape = null;
    if (outputShape && (outputShape.length !== spatialDims || !outputShape.every((v) => Number.isSafeInteger(v) && v >= 1))) {
      throw new InputError(`node '${label}': attribute output_shape [${outputShape.join(', ')}] does not fit ${spatialDims} spatial dims`);
    }
    if (!outputPadding.every((v) => Number.isSafeInteger(v) && v >= 0)) throw new InputError(`node '${label}': invalid output_padding [${outputPadding.join(', ')}]`);
    const needsInput = outputShape !== null || autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER';
    const geo = needsInput && !input
      ? { pads: new Array<number>(2 * spatialDims).fill(0), output: null }
      : resolveConvTransposeGeometry(autoPad, input, kernel, strides, dilations, outputPadding, explicit, outputShape);
    // An output larger than the full transposed output (output_shape, or SAME with stride > kernel) would need negative pads.
    if (geo.pads.some((p) => p < 0)) {
      const why = outputShape ? `output_shape [${outputShape.join(', ')}]` : `auto_pad ${autoPad}`;
      throw new InputError(`node '${label}': ${why} needs negative pads [${geo.pads.join(', ')}]; not supported`);
    }
    return { spatialDims, kernel, strides, dilations, pads: geo.pads, padsExact: !(needsInput && !input), autoPad, group, outputPadding, outputSpatial: geo.output };
  }

  const same = autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER';
  // Unknown input with SAME padding: resolve as for an input divisible by the stride
  // (exact whenever stride is 1), and say so.
  const assumed = same && !input ? strides.map((s) => s * 64) : input;
  const pads = resolveConvPads(autoPad, assumed, kernel, strides, dilations, explicit);
  const outputSpatial = input ? convOutputSize(input, kernel, strides, dilations, pads) : null;
  return {
    spatialDims, kernel, strides, dilations, pads,
    padsExact: !(same && !input && strides.some((s) => s > 1)),
    autoPad, group, outputPadding: new Array<number>(spatialDims).fill(0), outputSpatial,
  };
}
