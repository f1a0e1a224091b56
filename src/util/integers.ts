// Small integer helpers shared by the kernel geometry (strides, dilations) and the network merges.

/** Greatest common divisor of two non-negative integers (gcd(a, 0) = a). */
export function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}
