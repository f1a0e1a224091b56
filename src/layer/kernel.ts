// The engine's common currency: a dense 2-D kernel applied with stride 1, no dilation, one group.
// Every conv layer kind (strided, dilated, grouped, transposed, 1-D) is reduced to one or more
// "variants", each a list of such blocks, such that
//     ||layer||_2 <= max over blocks of ||block as a stride-1 Toeplitz operator||_2
// holds for every variant; the engine reports the smallest certified value over variants.

/** Row-major [cout][cin][kh][kw] kernel in float64. A 1-D conv has kw = 1. */
export interface Kernel2D {
  data: Float64Array;
  cout: number;
  cin: number;
  kh: number;
  kw: number;
}

/** One valid reduction of a layer: its norm is at most the max of its blocks' norms. */
export interface KernelVariant {
  /** e.g. 'stride-1', 'polyphase s=2' */
  label: string;
  blocks: Kernel2D[];
  /**
   * The blocks represent the layer's lattice operator exactly (up to unitary maps), so sup_w of
   * sigma_max over them IS that operator's norm and no other variant can give a smaller spectral
   * value. Absent/false: a valid but possibly loose reduction (stride-1 bound of a strided conv).
   */
  exact?: boolean;
}
