// The loader's output and the bound engine's input: one record per linear layer
// found in the graph. Plain data only; the loader knows nothing of bounds.

import type { GraphSummary } from './graph.js';

export type AutoPad = 'NOTSET' | 'SAME_UPPER' | 'SAME_LOWER' | 'VALID';

interface LayerBase {
  /** Node name, or the weight's name when the node has none. */
  name: string;
  /** ONNX op type as found in the graph (Conv, ConvTranspose, Gemm, MatMul, QLinearConv, ...). */
  op: string;
  /** Index of the node in the (flattened) graph order. */
  nodeIndex: number;
  /** Human-readable remarks on how the layer was read (folded BN, dequantized, fp16, Pad merged...). */
  notes: string[];
}

export interface ConvLayer extends LayerBase {
  kind: 'conv';
  /**
   * Weight exactly as ONNX lays it out, after dequantization / BN folding:
   *  Conv:          [cout, cin/group, ...kernel]
   *  ConvTranspose: [cin,  cout/group, ...kernel]
   */
  weight: Float32Array;
  weightShape: number[];
  /** 1 or 2 spatial dims (3-D convs are reported as unsupported). */
  spatialDims: number;
  strides: number[];
  dilations: number[];
  /** Explicit pads [begin_0, begin_1, ..., end_0, end_1, ...] after resolving auto_pad and merged Pad nodes. */
  pads: number[];
  /** auto_pad as written in the model (pads above are already resolved). */
  autoPad: AutoPad;
  group: number;
  /** ConvTranspose output_padding (zeros for Conv). */
  outputPadding: number[];
  hasBias: boolean;
  foldedBatchNorm: boolean;
  /**
   * Relative error of the stored weight against the model's real-valued one (derived weights: BN
   * fold, Gemm alpha, dequantization, double -> float32, each rounded once to float32):
   * ||W_exact - weight||_F <= weightRounding * ||weight||_F (elementwise too, above 2^-126).
   * 0 (or absent, for records built by hand) when the stored values are the model's exactly.
   */
  weightRounding?: number;
  /** Input and output shapes without the batch dim: [c, ...spatial]; null where unknown. */
  inputShape: number[] | null;
  outputShape: number[] | null;
  /** True when inputShape rests on an assumed model input size: only size-free bounds are certified. */
  inputSizeAssumed?: boolean;
}

export interface DenseLayer extends LayerBase {
  kind: 'dense';
  /** The layer's matrix as an operator y = W x: row-major [out, in], alpha (Gemm) already applied. */
  weight: Float32Array;
  /** [out, in] */
  weightShape: number[];
  hasBias: boolean;
  foldedBatchNorm: false;
  /** As for ConvLayer. */
  weightRounding?: number;
  inputShape: number[] | null;
  outputShape: number[] | null;
  /** As for ConvLayer (a matrix's norm never depends on it). */
  inputSizeAssumed?: boolean;
}

/** A conv/dense-like layer lipcheck found but cannot bound; reported by name, never skipped. */
export interface UnsupportedLayer extends LayerBase {
  kind: 'unsupported';
  reason: string;
}

export type Layer = ConvLayer | DenseLayer | UnsupportedLayer;

export interface ModelInfo {
  path: string;
  sha256: string;
  opset: number | null;
  producer: string;
  irVersion: number;
  /** The model input's shape after defaults / --input-shape: [n, c, ...spatial]. */
  inputShape: number[] | null;
  /** Where inputShape came from: declared by the model, given by --input-shape, assumed for symbolic dims, or unknown. */
  inputShapeSource: InputShapeSource;
}

export type InputShapeSource = 'model' | 'flag' | 'assumed' | 'unknown';

export interface LoadedModel {
  info: ModelInfo;
  layers: Layer[];
  /** The graph for the whole-network bound (nodes in topological order); set by the ONNX loader. */
  graph?: GraphSummary;
  /** Non-fatal remarks for stderr (defaults taken, ops skipped on purpose...). */
  warnings: string[];
}
