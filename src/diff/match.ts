// Pairs the layers of two checkpoints of the same architecture: first by name (names unique on
// both sides), then the rest by order and shape (same op and weight shape, keeping relative order),
// so a renamed layer is still compared. Whatever is left is reported as unmatched, never dropped.

export type MatchedBy = 'name' | 'order+shape';

/** What matching looks at. */
export interface LayerKey {
  name: string;
  op: string;
  weightShape: readonly number[] | null;
}

export interface LayerPair {
  /** Indices into the a and b layer lists. */
  a: number;
  b: number;
  matchedBy: MatchedBy;
}

export interface LayerMatching {
  /** In a's layer order. */
  pairs: LayerPair[];
  unmatchedA: number[];
  unmatchedB: number[];
}

function sameShape(x: readonly number[] | null, y: readonly number[] | null): boolean {
  if (x === null || y === null) return x === y;
  return x.length === y.length && x.every((d, i) => d === y[i]);
}

function uniqueNames(layers: readonly LayerKey[]): Map<string, number> {
  const count = new Map<string, number>();
  for (const l of layers) count.set(l.name, (count.get(l.name) ?? 0) + 1);
  const index = new Map<string, number>();
  layers.forEach((l, i) => {
    if (count.get(l.name) === 1) index.set(l.name, i);
  });
  return index;
}

export function matchLayers(a: readonly LayerKey[], b: readonly LayerKey[]): LayerMatching {
  const pairs: LayerPair[] = [];
  const usedA = new Set<number>();
  const usedB = new Set<number>();
  // A duplicated name says nothing about which layer is which: those go to order+shape.
  const namesB = uniqueNames(b);
  for (const [name, i] of uniqueNames(a)) {
    const j = namesB.get(name);
    if (j === undefined) continue;
    pairs.push({ a: i, b: j, matchedBy: 'name' });
    usedA.add(i);
    usedB.add(j);
  }
  // The rest, in order: each leftover a takes the next leftover b (after the previous one taken)
  // with the same op and weight shape.
  const restB = b.map((_, j) => j).filter((j) => !usedB.has(j));
  let from = 0;
  for (let i = 0; i < a.length; i++) {
    if (usedA.has(i)) continue;
    for (let k = from; k < restB.length; k++) {
      const j = restB[k];
      if (b[j].op === a[i].op && sameShape(b[j].weightShape, a[i].weightShape)) {
        pairs.push({ a: i, b: j, matchedBy: 'order+shape' });
        usedA.add(i);
        usedB.add(j);
        from = k + 1;
        break;
      }
    }
  }
  pairs.sort((p, q) => p.a - q.a);
  return {
    pairs,
    unmatchedA: a.map((_, i) => i).filter((i) => !usedA.has(i)),
    unmatchedB: b.map((_, j) => j).filter((j) => !usedB.has(j)),
  };
}
