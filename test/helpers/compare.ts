/** Tolerance checks that report the worst element, so a failure says where and by how much. */
import * as assert from 'assert';

export interface Tol {
  /** Allowed |a−b| = abs + rel·|b| + relMax·max|b|. */
  abs?: number;
  rel?: number;
  relMax?: number;
}

export function assertClose(what: string, actual: ArrayLike<number>, expected: ArrayLike<number>, tol: Tol): number {
  assert.strictEqual(actual.length, expected.length, `${what}: length ${actual.length}, expected ${expected.length}`);
  let maxAbs = 0;
  for (let i = 0; i < expected.length; i++) maxAbs = Math.max(maxAbs, Math.abs(expected[i]));
  let worst = 0;
  let worstAt = -1;
  for (let i = 0; i < expected.length; i++) {
    const b = expected[i];
    const allowed = (tol.abs ?? 0) + (tol.rel ?? 0) * Math.abs(b) + (tol.relMax ?? 0) * maxAbs;
    const err = Math.abs(actual[i] - b);
    // `!(err <= allowed)` also catches NaN.
    if (!(err <= allowed)) {
      assert.fail(`${what}[${i}]: got ${actual[i]}, expected ${b} (|diff| ${err.toExponential(2)} > ${allowed.toExponential(2)})`);
    }
    if (err > worst) {
      worst = err;
      worstAt = i;
    }
  }
  void worstAt;
  return worst;
}

// The stated tolerances. fp32 storage: as required. fp16 storage: weights are rounded to half
// precision (compute stays fp32), so errors scale with the output's range rather than each value.
export interface TolSet {
  positions: Tol;
  attention: Tol;
  logits: Tol;
}
export const FP32_TOL: TolSet = {
  positions: { abs: 1e-4, rel: 1e-4 },
  attention: { abs: 1e-5 },
  logits: { abs: 1e-3 },
};
export const FP16_TOL: TolSet = {
  positions: { abs: 2e-3, relMax: 2e-3 },
  attention: { abs: 2e-2 },
  logits: { abs: 2e-2, relMax: 2e-2 },
};
