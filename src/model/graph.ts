// A bound-free summary of the ONNX graph, produced by the loader, for the whole-network
// bound: the engine walks it as a DAG. Weights of conv/dense layers are not repeated here:
// a node that is a layer points at its record in LoadedModel.layers.

export type AttrScalar = number | string | number[] | string[] | null;

export interface GraphNode {
  /** Position in graph order (topologically sorted by the loader). */
  index: number;
  name: string;
  op: string;
  /** '' for the default ONNX domain. */
  domain: string;
  inputs: string[];
  outputs: string[];
  /** Scalar and list attributes (ints, floats, strings); tensor/graph attributes omitted. */
  attrs: Record<string, AttrScalar>;
  /** Values of inputs that are constants (initializers, Constant, through Identity/Cast/DequantizeLinear), by input position; null for runtime tensors. */
  constInputs: (Float32Array | null)[];
  /** Shapes of constant inputs, by input position. */
  constShapes: (number[] | null)[];
  /**
   * Full shapes (with batch) of inputs/outputs where inferred; null where unknown. A dim < 0 is a
   * symbolic length (see GraphSummary.inputSizeAssumed): it depends on an input size the user did
   * not give. Equal negative values are the same length (the same function of the input size);
   * nothing else is known of it, so a certified rule may use it only in ways valid for every length.
   */
  inputShapes: (number[] | null)[];
  outputShapes: (number[] | null)[];
  /** Index into LoadedModel.layers when this node is a conv/dense/unsupported-layer node. */
  layerIndex: number | null;
  /**
   * Set when the loader absorbed this node into a layer (a BatchNormalization folded into the
   * preceding Conv, a Pad merged into the next Conv): the walk treats it as the identity,
   * because the layer's bound already accounts for it. Names the layer it was absorbed into.
   */
  absorbedInto: string | null;
  /** True for nodes that only compute constants (Constant, Identity/Cast/DequantizeLinear of weights). */
  constant: boolean;
}

export interface GraphSummary {
  /** Runtime graph inputs (initializers excluded). */
  inputs: string[];
  outputs: string[];
  nodes: GraphNode[];
  /**
   * True when some input size was assumed (symbolic dims, no --input-shape): every dim that depends
   * on it is symbolic (< 0) in the shapes above, never the assumed value.
   */
  inputSizeAssumed?: boolean;
}
