/**
 * Limited-memory BFGS with a backtracking (Armijo) line search, for smooth convex objectives such
 * as regularised logistic loss. Deterministic; returns the last iterate.
 */
export interface LbfgsOptions {
  maxIterations: number;
  /** Stop when the largest gradient component is below it (scipy's pgtol). */
  tolerance: number;
  memory?: number;
  signal?: AbortSignal;
}

function dot(a: Float64Array, b: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

export function lbfgs(f: (x: Float64Array, grad: Float64Array) => number, x0: Float64Array, options: LbfgsOptions): Float64Array {
  const n = x0.length;
  const m = options.memory ?? 10;
  let x = x0.slice();
  let g = new Float64Array(n);
  let fx = f(x, g);
  const S: Float64Array[] = [];
  const Y: Float64Array[] = [];
  const rho: number[] = [];
  for (let iter = 0; iter < options.maxIterations; iter++) {
    options.signal?.throwIfAborted();
    if (g.reduce((m, v) => Math.max(m, Math.abs(v)), 0) <= options.tolerance) break;
    // Two-loop recursion: d = -H·g
    const q = g.slice();
    const alpha: number[] = new Array<number>(S.length);
    for (let i = S.length - 1; i >= 0; i--) {
      alpha[i] = rho[i] * dot(S[i], q);
      for (let j = 0; j < n; j++) q[j] -= alpha[i] * Y[i][j];
    }
    const gamma = S.length > 0 ? dot(S[S.length - 1], Y[Y.length - 1]) / dot(Y[Y.length - 1], Y[Y.length - 1]) : 1 / Math.max(1, Math.sqrt(dot(g, g)));
    for (let j = 0; j < n; j++) q[j] *= gamma;
    for (let i = 0; i < S.length; i++) {
      const beta = rho[i] * dot(Y[i], q);
      for (let j = 0; j < n; j++) q[j] += S[i][j] * (alpha[i] - beta);
    }
    const d = q.map((v) => -v);
    let slope = dot(g, d);
    if (slope >= 0) {
      // Not a descent direction (numerical trouble): restart from steepest descent.
      for (let j = 0; j < n; j++) d[j] = -g[j];
      slope = -dot(g, g);
      S.length = Y.length = rho.length = 0;
    }
    let step = 1;
    const xNew = new Float64Array(n);
    const gNew = new Float64Array(n);
    let fNew = Infinity;
    for (let k = 0; k < 40; k++) {
      for (let j = 0; j < n; j++) xNew[j] = x[j] + step * d[j];
      fNew = f(xNew, gNew);
      if (fNew <= fx + 1e-4 * step * slope) break;
      step /= 2;
    }
    // Relative decrease at rounding level (scipy's ftol as scikit-learn sets it): no progress left.
    if (!(fNew < fx) || fx - fNew <= 64 * Number.EPSILON * Math.max(1, Math.abs(fx), Math.abs(fNew))) {
      if (fNew < fx) {
        x = xNew;
      }
      break;
    }
    const s = new Float64Array(n);
    const y = new Float64Array(n);
    for (let j = 0; j < n; j++) {
      s[j] = xNew[j] - x[j];
      y[j] = gNew[j] - g[j];
    }
    const sy = dot(s, y);
    if (sy > 1e-12) {
      S.push(s);
      Y.push(y);
      rho.push(1 / sy);
      if (S.length > m) {
        S.shift();
        Y.shift();
        rho.shift();
      }
    }
    x = xNew;
    g = gNew;
    fx = fNew;
  }
  return x;
}
