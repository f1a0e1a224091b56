// Cholesky test of t*I - G for a complex Hermitian G (interleaved re/im): the certificate behind
// every spectral-bound frequency. The real version is cholesky-real.ts; the scheme and its rounding
// margin: docs/derivations.md#certified-largest-eigenvalue-of-a-gram-matrix-cholesky-test-and-rounding-margins

/**
 * Complex version of choleskyTestReal: t*I - G = L L^H with L lower, real positive diagonal,
 * L[i][j] = (B_ij - sum_{p<j} L_ip conj(L_jp)) / L_jj. On failure at row i, x = L_unit^{-H} e_i.
 */
export function choleskyTestHermitian(g: Float64Array, n: number, t: number, l: Float64Array, x: Float64Array): number {
  for (let i = 0; i < n; i++) {
    const ri = 2 * i * n;
    // Two columns j, j+1 per pass share the loads of row i (the hot loop of the spectral bound).
    let j = 0;
    for (; j + 1 < i; j += 2) {
      const rj = 2 * j * n;
      const rk = rj + 2 * n;
      let sr = -g[ri + 2 * j];
      let si = -g[ri + 2 * j + 1];
      let ur = -g[ri + 2 * j + 2];
      let ui = -g[ri + 2 * j + 3];
      for (let p = 0; p < j; p++) {
        const ar = l[ri + 2 * p];
        const ai = l[ri + 2 * p + 1];
        const br = l[rj + 2 * p];
        const bi = l[rj + 2 * p + 1];
        const cr = l[rk + 2 * p];
        const ci = l[rk + 2 * p + 1];
        // a * conj(b), a * conj(c)
        sr -= ar * br + ai * bi;
        si -= ai * br - ar * bi;
        ur -= ar * cr + ai * ci;
        ui -= ai * cr - ar * ci;
      }
      const dj = l[rj + 2 * j];
      const lr = sr / dj;
      const li = si / dj;
      l[ri + 2 * j] = lr;
      l[ri + 2 * j + 1] = li;
      // the p = j term of column j+1
      const cr = l[rk + 2 * j];
      const ci = l[rk + 2 * j + 1];
      ur -= lr * cr + li * ci;
      ui -= li * cr - lr * ci;
      const dk = l[rk + 2 * j + 2];
      l[ri + 2 * j + 2] = ur / dk;
      l[ri + 2 * j + 3] = ui / dk;
    }
    for (; j < i; j++) {
      const rj = 2 * j * n;
      let sr = -g[ri + 2 * j];
      let si = -g[ri + 2 * j + 1];
      for (let p = 0; p < j; p++) {
        const ar = l[ri + 2 * p];
        const ai = l[ri + 2 * p + 1];
        const br = l[rj + 2 * p];
        const bi = l[rj + 2 * p + 1];
        sr -= ar * br + ai * bi;
        si -= ai * br - ar * bi;
      }
      const d = l[rj + 2 * j];
      l[ri + 2 * j] = sr / d;
      l[ri + 2 * j + 1] = si / d;
    }
    let d = t - g[ri + 2 * i];
    for (let p = 0; p < i; p++) {
      const ar = l[ri + 2 * p];
      const ai = l[ri + 2 * p + 1];
      d -= ar * ar + ai * ai;
    }
    if (!(d > 0)) {
      // Solve L_unit^H x = e_i: x_j -= conj(Lunit[r][j]) x_r for r from i down to 1.
      x.fill(0);
      x[2 * i] = 1;
      for (let r = i; r > 0; r--) {
        const xr = x[2 * r];
        const xi = x[2 * r + 1];
        if (xr === 0 && xi === 0) continue;
        const rr = 2 * r * n;
        for (let j = 0; j < r; j++) {
          const dj = l[2 * j * n + 2 * j];
          const lr = l[rr + 2 * j] / dj;
          const li = l[rr + 2 * j + 1] / dj;
          x[2 * j] -= lr * xr + li * xi;
          x[2 * j + 1] -= lr * xi - li * xr;
        }
      }
      return i;
    }
    l[ri + 2 * i] = Math.sqrt(d);
    l[ri + 2 * i + 1] = 0;
  }
  return -1;
}
