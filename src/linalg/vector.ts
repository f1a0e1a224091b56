// Float64 vector kernels shared by the eigen solvers. Plain left-to-right sums: the certified
// targets depend on these exact roundings, so keep the order.

/** sum_{i < len} x[i] y[i] */
export function dot(x: ArrayLike<number>, y: ArrayLike<number>, len: number): number {
  let s = 0;
  for (let i = 0; i < len; i++) s += x[i] * y[i];
  return s;
}
