import assert from 'node:assert/strict';
import test from 'node:test';
import {
  CURVE_DEFAULTS,
  analyzeCurve,
  curveScale,
  curveStats,
  findJumps,
  findPlateaus,
  headCurve,
  labelChunks,
  quantileSorted,
  resolveCurveOptions,
} from '../src/engine/curves';

/** Deterministic uniform numbers in [0, 1) (a 32-bit LCG), so "noise" tests are reproducible. */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

const close = (a: number, b: number, eps = 1e-9) => assert.ok(Math.abs(a - b) <= eps, `${a} ≉ ${b}`);

test('quantiles interpolate linearly between closest ranks (numpy default)', () => {
  const s = [1, 1, 2, 3, 4, 5, 6, 9];
  close(quantileSorted(s, 0.25), 1.75);
  close(quantileSorted(s, 0.5), 3.5);
  close(quantileSorted(s, 0.75), 5.25);
  close(quantileSorted(s, 0), 1);
  close(quantileSorted(s, 1), 9);
});

test('curveStats: min, max, range, mean, quartiles and a focus range with no outliers', () => {
  const st = curveStats(Float32Array.from([3, 1, 4, 1, 5, 9, 2, 6]));
  assert.equal(st.length, 8);
  assert.equal(st.min, 1);
  assert.equal(st.max, 9);
  assert.equal(st.range, 8);
  close(st.mean, 31 / 8);
  close(st.q1, 1.75);
  close(st.median, 3.5);
  close(st.q3, 5.25);
  close(st.iqr, 3.5);
  // Fences [-3.5, 10.5] keep everything; pad = 5% of 8.
  assert.equal(st.focus.outliers, 0);
  close(st.focus.lo, 0.6);
  close(st.focus.hi, 9.4);
});

test('focus range drops an outlier and pads the inliers by 5%', () => {
  const st = curveStats([0, 1, 2, 3, 4, 5, 6, 7, 8, 100]);
  // q1 = 2.25, q3 = 6.75, upper fence 13.5: 100 is out, inliers span 0..8.
  assert.equal(st.focus.outliers, 1);
  close(st.focus.lo, -0.4);
  close(st.focus.hi, 8.4);
  assert.equal(st.max, 100);
});

test('a single token and a constant curve are handled', () => {
  const one = analyzeCurve(Float32Array.of(5));
  assert.equal(one.stats.range, 0);
  assert.deepEqual([one.stats.focus.lo, one.stats.focus.hi], [4, 6]);
  assert.equal(one.chunks.chunks.length, 0);
  assert.equal(one.chunks.unlabelledTail, 1);
  assert.deepEqual(one.chunks.fractions, { constant: 0, mono: 0, hybrid: 0 });
  assert.equal(one.plateaus.plateaus.length, 0);
  assert.equal(one.jumps.jumps.length, 0);
  assert.equal(one.scale.rate, 0);

  const flat = analyzeCurve(new Float32Array(100).fill(2.5));
  assert.deepEqual([flat.stats.focus.lo, flat.stats.focus.hi], [1.5, 3.5]);
  // 100 = 6·16 + 4: the 4-token tail is labelled.
  assert.equal(flat.chunks.chunks.length, 7);
  assert.equal(flat.chunks.counts.constant, 7);
  assert.deepEqual(flat.plateaus.plateaus.map((p) => [p.start, p.end, p.mean]), [[0, 100, 2.5]]);
  assert.equal(flat.jumps.jumps.length, 0);
});

test('non-finite or empty input is rejected', () => {
  assert.throws(() => curveStats([1, NaN, 2]), /non-finite value NaN at token 1/);
  assert.throws(() => analyzeCurve(Float32Array.of(0, Infinity)), /non-finite/);
  assert.throws(() => curveStats([]), /empty/);
  assert.throws(() => labelChunks([]), /empty/);
});

test('options are validated and defaults filled in', () => {
  assert.equal(resolveCurveOptions().chunkSize, 16);
  assert.equal(resolveCurveOptions({ chunkSize: 8 }).chunkSize, 8);
  assert.equal(resolveCurveOptions({}).resolution, CURVE_DEFAULTS.resolution);
  assert.throws(() => resolveCurveOptions({ chunkSize: 0 }), /chunkSize/);
  assert.throws(() => resolveCurveOptions({ chunkSize: 2.5 }), /chunkSize/);
  assert.throws(() => resolveCurveOptions({ jumpK: -1 }), /jumpK/);
  assert.throws(() => resolveCurveOptions({ resolution: NaN }), /resolution/);
});

/** z = height · floor(t / width): flat steps with jumps between them. */
function staircase(T: number, width: number, height: number, jitter = 0): Float32Array {
  const r = lcg(7);
  const z = new Float32Array(T);
  for (let t = 0; t < T; t++) z[t] = height * Math.floor(t / width) + jitter * (2 * r() - 1);
  return z;
}

test('staircase: plateaus are the steps, jumps are at the step edges, chunks are Constant', () => {
  const a = analyzeCurve(staircase(128, 32, 10));
  assert.deepEqual(a.plateaus.plateaus.map((p) => [p.start, p.end]), [[0, 32], [32, 64], [64, 96], [96, 128]]);
  assert.deepEqual(a.plateaus.plateaus.map((p) => p.mean), [0, 10, 20, 30]);
  assert.deepEqual(a.jumps.jumps, [{ index: 32, size: 10 }, { index: 64, size: 10 }, { index: 96, size: 10 }]);
  // Most steps are 0: the rate floor (2·IQR/(T−1) = 30/127) sets the jump threshold.
  assert.equal(a.scale.medianStep, 0);
  close(a.scale.rate, 30 / 127, 1e-12);
  close(a.jumps.threshold, (5 * 30) / 127, 1e-12);
  assert.equal(a.chunks.chunks.length, 8);
  assert.equal(a.chunks.fractions.constant, 1);
});

test('jittery staircase still gives the same plateaus and jumps', () => {
  const a = analyzeCurve(staircase(128, 32, 10, 0.1));
  assert.deepEqual(a.plateaus.plateaus.map((p) => [p.start, p.end]), [[0, 32], [32, 64], [64, 96], [96, 128]]);
  assert.deepEqual(a.jumps.jumps.map((j) => j.index), [32, 64, 96]);
  for (const j of a.jumps.jumps) assert.ok(Math.abs(j.size - 10) < 0.21);
  assert.equal(a.chunks.counts.constant, 8);
});

test('a step inside a chunk makes that chunk Mono, the others Constant', () => {
  const c = labelChunks(staircase(96, 40, 10));
  // Steps at 40 and 80 fall in chunks [32,48) and [80,96)? 80 is a chunk start, so only [32,48).
  assert.deepEqual(c.chunks.map((k) => k.label), ['constant', 'constant', 'mono', 'constant', 'constant', 'constant']);
  assert.equal(c.chunks[2].direction, 'up');
  assert.equal(c.chunks[2].spread, 10);
});

test('ramps are Mono in the right direction, with no plateaus and no jumps', () => {
  const up = Float32Array.from({ length: 200 }, (_, t) => 0.5 * t);
  const a = analyzeCurve(up);
  // 200 = 12·16 + 8: thirteen chunks.
  assert.equal(a.chunks.chunks.length, 13);
  assert.equal(a.chunks.fractions.mono, 1);
  assert.ok(a.chunks.chunks.every((c) => c.direction === 'up'));
  assert.equal(a.plateaus.plateaus.length, 0);
  assert.equal(a.jumps.jumps.length, 0);
  const down = labelChunks(up.map((v) => -v));
  assert.ok(down.chunks.every((c) => c.label === 'mono' && c.direction === 'down'));
});

test('integer positions stay Mono at long lengths (ε follows the rate, not the IQR)', () => {
  const z = Float32Array.from({ length: 4096 }, (_, t) => t);
  const c = labelChunks(z);
  assert.equal(c.chunks.length, 256);
  assert.equal(c.counts.mono, 256);
});

test('Mono tolerates small wiggles back, not large ones', () => {
  const small = Float32Array.from({ length: 16 }, (_, t) => t + 0.6 * (t % 2 ? -1 : 1));
  assert.equal(labelChunks(small).chunks[0].label, 'mono');
  const large = Float32Array.from({ length: 16 }, (_, t) => t + 5 * (t % 2 ? -1 : 1));
  assert.equal(labelChunks(large).chunks[0].label, 'hybrid');
});

test('noise is Hybrid everywhere, without plateaus or jumps', () => {
  const r = lcg(42);
  const z = Float32Array.from({ length: 512 }, () => 10 * r());
  const a = analyzeCurve(z);
  assert.equal(a.chunks.chunks.length, 32);
  assert.equal(a.chunks.fractions.hybrid, 1);
  assert.equal(a.plateaus.plateaus.length, 0);
  assert.equal(a.jumps.jumps.length, 0);
});

test('a spike in a ramp is two jumps and one focus outlier', () => {
  const z = Float32Array.from({ length: 200 }, (_, t) => t + (t === 100 ? 1000 : 0));
  const a = analyzeCurve(z);
  assert.deepEqual(a.jumps.jumps, [{ index: 100, size: 1001 }, { index: 101, size: -999 }]);
  assert.equal(a.stats.focus.outliers, 1);
  assert.ok(a.stats.focus.hi < 250);
});

test('the resolution floor hides float-noise jumps that a zero floor would report', () => {
  const z = Float32Array.from({ length: 64 }, (_, t) => (t % 2) * 1e-6 + (t >= 32 ? 1e-4 : 0));
  assert.equal(findJumps(z).jumps.length, 0);
  assert.equal(labelChunks(z).fractions.constant, 1);
  assert.deepEqual(findJumps(z, { resolution: 0 }).jumps.map((j) => j.index), [32]);
});

test('partial last chunk is labelled only with at least minPartialChunk tokens', () => {
  const ramp = (T: number) => Float32Array.from({ length: T }, (_, t) => t);
  let c = labelChunks(ramp(19));
  assert.equal(c.chunks.length, 1);
  assert.equal(c.unlabelledTail, 3);
  c = labelChunks(ramp(20));
  assert.deepEqual(c.chunks.map((k) => [k.start, k.end]), [[0, 16], [16, 20]]);
  assert.equal(c.unlabelledTail, 0);
  c = labelChunks(ramp(20), { chunkSize: 8, minPartialChunk: 5 });
  assert.deepEqual(c.chunks.map((k) => [k.start, k.end]), [[0, 8], [8, 16]]);
  assert.equal(c.unlabelledTail, 4);
});

test('plateaus: greedy from the left, short runs dropped', () => {
  const opts = { resolution: 1, constantRel: 0, plateauMinLen: 4 };
  // 0..1 fits one band of width 1, so the first run takes the 1; the 2s form the second run.
  let p = findPlateaus([0, 0, 0, 0, 1, 2, 2, 2, 2], opts);
  assert.equal(p.tolerance, 1);
  assert.deepEqual(p.plateaus.map((q) => [q.start, q.end, q.min, q.max]), [[0, 5, 0, 1], [5, 9, 2, 2]]);
  p = findPlateaus([0, 0, 5, 5, 5, 5, 9, 20, 20, 20], opts);
  assert.deepEqual(p.plateaus.map((q) => [q.start, q.end]), [[2, 6]]);
  p = findPlateaus([3, 3, 3, 3], opts);
  assert.deepEqual(p.plateaus.map((q) => [q.start, q.end]), [[0, 4]]);
});

test('headCurve views one head of a flat [R][H][T] tensor', () => {
  const R = 2, H = 3, T = 4;
  const pos = Float32Array.from({ length: R * H * T }, (_, i) => i);
  assert.deepEqual(Array.from(headCurve(pos, H, T, 1, 2)), [20, 21, 22, 23]);
  assert.throws(() => headCurve(pos, H, T, 2, 0), /RePo layer 2/);
  assert.throws(() => headCurve(pos, H, T, 0, 3), /head 3/);
});

test('16K tokens: linear-time pieces and sorts finish quickly', () => {
  const r = lcg(3);
  const T = 16384;
  const z = Float32Array.from({ length: T }, (_, t) => Math.floor(t / 64) * 3 + 0.01 * r());
  const t0 = performance.now();
  const a = analyzeCurve(z);
  const ms = performance.now() - t0;
  assert.equal(a.plateaus.plateaus.length, T / 64);
  assert.equal(a.jumps.jumps.length, T / 64 - 1);
  assert.ok(ms < 1000, `took ${ms.toFixed(0)} ms`);
  // curveScale alone on noise (the sort-heavy part).
  assert.ok(curveScale(Float32Array.from({ length: T }, () => r())).iqr > 0.4);
});
