// Plain shape facts shared by the ONNX loader and the network walk (no bounds): numpy broadcasting
// of concrete shapes and of shapes with symbolic dims (< 0, see GraphNode.inputShapes).

/** Numpy multidirectional broadcasting of concrete shapes (0 included: it meets 1 or 0); null if unknown or incompatible. */
export function broadcastShapes(shapes: readonly (readonly number[] | null)[]): number[] | null {
  return broadcast(shapes, false);
}

/**
 * Broadcasting where dims < 0 are symbolic lengths (equal values the same length, each >= 1):
 * equal symbols broadcast, a symbol meets 1 as itself and a concrete d > 1 as d (the only length
 * a valid run can give it, or 1); two different symbols, 0 or a non-integer dim give null.
 */
export function broadcastSymbolicShapes(shapes: readonly (readonly number[] | null)[]): number[] | null {
  return broadcast(shapes, true);
}

function broadcast(shapes: readonly (readonly number[] | null)[], symbolic: boolean): number[] | null {
  if (shapes.some((s) => s === null)) return null;
  const list = shapes as readonly (readonly number[])[];
  const rank = Math.max(0, ...list.map((s) => s.length));
  const out: number[] = [];
  for (let a = 0; a < rank; a++) {
    let d = 1;
    for (const s of list) {
      const v = s[s.length - rank + a] ?? 1;
      if (symbolic && (!Number.isInteger(v) || v === 0)) return null;
      if (v === 1 || v === d) continue;
      if (d === 1 || (symbolic && d < 0 && v > 1)) d = v;
      else if (!(symbolic && d > 1 && v < 0)) return null; // two different lengths (or symbols)
    }
    out.push(d);
  }
  return out;
}
