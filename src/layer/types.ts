// What the bound engine returns. Pure data: the reporter formats it, the engine never prints.

export type MethodName = 'toeplitz' | 'spectral' | 'power' | 'frobenius';
export const ALL_METHODS: MethodName[] = ['toeplitz', 'spectral', 'power', 'frobenius'];

export interface EngineOptions {
  methods: MethodName[];
  /** Grid points per frequency axis for the Toeplitz/spectral sup (the paper uses 50). */
  samples: number;
  /** Max power-iteration steps. */
  iterations: number;
  /** Relative tolerance: power-iteration convergence, and the per-frequency sigma_max certificate. */
  tolerance: number;
  /** Seed for every random start. */
  seed: number;
  /** onnxruntime intra-op threads for power iteration; default: the machine's available parallelism. */
  threads?: number;
}

export const DEFAULT_ENGINE_OPTIONS: EngineOptions = {
  methods: ['toeplitz', 'spectral', 'power', 'frobenius'],
  samples: 50,
  iterations: 200,
  tolerance: 1e-4,
  seed: 1,
};

/** One method's result on one layer. */
export interface MethodResult {
  /** Certified upper bound (toeplitz, spectral, frobenius) or lower estimate (power); null if not computed. */
  value: number | null;
  /** 'upper' = guaranteed >= the layer's l2 norm; 'lower' = an estimate from below. */
  kind: 'upper' | 'lower';
  ms: number;
  /**
   * What a user needs to trust the number: grid size, grid maximum, correction factor,
   * iterations, converged, the route taken (stride-1 vs polyphase, torus vs sup), ...
   * Plain JSON values only.
   */
  details: Record<string, number | string | boolean | null | number[]>;
  /** Set when the method could not produce a value (non-finite weights, unsupported case, ...). */
  error?: string;
}

export interface LayerBounds {
  name: string;
  op: string;
  kind: 'conv' | 'dense' | 'unsupported';
  /** Methods actually run, keyed by method name. */
  methods: Partial<Record<MethodName, MethodResult>>;
  /** The best (smallest) certified upper bound among the methods run; null if none. */
  best: number | null;
  /** Which method gave `best`. */
  bestMethod: MethodName | null;
  /** How the layer kind was handled (groups as blocks, dilation dropped, polyphase stride, transpose as adjoint...). */
  handling: string[];
}
