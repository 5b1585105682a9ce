import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { ByteTokenizer } from '../src/engine/tokenizer/bytes';

/**
 * End-to-end tests of `node bin/repo-lens.js` on the random sharded BF16 checkpoint (vocab 300,
 * no tokenizer.json → byte tokens with a warning). Each run uses one thread and a private cache.
 */
const ROOT = path.resolve(__dirname, '..', '..');
const BIN = path.join(ROOT, 'bin', 'repo-lens.js');
const MODEL = path.join(ROOT, 'test', 'fixtures', 'random-repo-bf16-sharded');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'repo-lens-cli-test-'));
const CACHE = path.join(tmp, 'cache');
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

const TEXT = 'Notes: the vault code is 4721. Keep it safe.\nFiller: 你好, café, 👋 and more filler.\r\nWhat is the vault code?\n';
const NEEDLE = { start: TEXT.indexOf('4721'), end: TEXT.indexOf('4721') + 4 };
const INPUT = path.join(tmp, 'prompt.txt');
fs.writeFileSync(INPUT, TEXT);

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

function cli(args: string[], input?: string): Run {
  const t0 = Date.now();
  const r = spawnSync(process.execPath, [BIN, ...args], {
    cwd: ROOT,
    input,
    encoding: 'utf8',
    env: { ...process.env, REPO_LENS_CACHE: CACHE },
    timeout: 240_000,
  });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, ms: Date.now() - t0 };
}

function analyzeJson(extra: string[], name: string): { run: Run; json: any } {
  const out = path.join(tmp, `${name}.json`);
  const run = cli(['analyze', INPUT, '--model', MODEL, '--threads', '1', '--json', out, ...extra]);
  assert.equal(run.status, 0, `exit 0 expected, stderr: ${run.stderr}`);
  return { run, json: JSON.parse(fs.readFileSync(out, 'utf8')) };
}

const sum = (xs: number[]) => xs.reduce((s, v) => s + v, 0);
const close = (a: number, b: number, tol: number) => Math.abs(a - b) <= tol;
const cacheEntries = () => (fs.existsSync(path.join(CACHE, 'models')) ? fs.readdirSync(path.join(CACHE, 'models')) : []);

/** Shape and invariants of the analysis contract for this fixture and TEXT. */
function checkContract(a: any): void {
  const enc = new ByteTokenizer(300).encode(TEXT);
  const T = enc.ids.length;
  assert.equal(a.schema, 'repo-lens/analysis@1');
  assert.equal(a.model.name, 'random-repo-bf16-sharded');
  assert.equal(a.model.numLayers, 4);
  assert.equal(a.model.numHeads, 4);
  assert.deepEqual(a.model.repoLayers, [2, 3]);
  assert.equal(a.text.length, TEXT.length);
  assert.deepEqual(
    a.tokens,
    enc.ids.map((id, i) => ({ id, start: enc.starts[i], end: enc.ends[i] })),
  );
  assert.equal(a.positions.length, 2);
  for (const perHead of a.positions) {
    assert.equal(perHead.length, 4);
    for (const row of perHead) {
      assert.equal(row.length, T);
      assert.ok(row.every(Number.isFinite));
    }
  }
  assert.equal(a.queryAttention.length, 4);
  const lastQ = Math.max(...a.query.tokens);
  for (const perHead of a.queryAttention) {
    assert.equal(perHead.length, 4);
    for (const row of perHead) {
      assert.equal(row.length, T);
      assert.ok(row.every((v: number) => v >= 0 && v <= 1 + 1e-6));
      assert.ok(close(sum(row), 1, 1e-4), `mean attention row sums to ${sum(row)}`);
      assert.ok(row.slice(lastQ + 1).every((v: number) => v === 0), 'causal: nothing after the last query token');
    }
  }
  // Query tokens are exactly those overlapping the query span.
  const expected = enc.ids.map((_, i) => i).filter((i) => enc.starts[i] < a.query.end && enc.ends[i] > a.query.start);
  assert.deepEqual(a.query.tokens, expected);
}

describe('repo-lens analyze', () => {
  let first: any;

  it('writes the analysis contract on a cold cache (bytes fallback with a warning)', () => {
    assert.deepEqual(cacheEntries(), []);
    const { run, json } = analyzeJson(['--needle-range', `${NEEDLE.start}:${NEEDLE.end}`], 'cold');
    first = json;
    checkContract(json);
    assert.match(run.stderr, /^repo-lens: warning: .*falling back to byte tokens/m);
    // Only our own lines on stderr (no native onnxruntime log noise).
    for (const line of run.stderr.split('\n').filter((l) => l !== '')) assert.match(line, /^repo-lens: /);
    assert.match(run.stdout, /^json    .*cold/m, 'the summary names the JSON file');
    // Default query: the last non-blank line, trimmed.
    assert.equal(json.query.defaulted, true);
    assert.equal(TEXT.slice(json.query.start, json.query.end), 'What is the vault code?');
    assert.equal(json.integerPositions, false);
    // Learned positions of a random model are real numbers, not the integer ramp.
    assert.ok(json.positions.flat(2).some((v: number) => !Number.isInteger(v)));
    // Needle: its tokens, and mass = sum of query attention over them, per layer and head.
    assert.deepEqual(json.needle, { start: NEEDLE.start, end: NEEDLE.end, tokens: [NEEDLE.start, NEEDLE.start + 1, NEEDLE.start + 2, NEEDLE.start + 3], source: 'range' });
    assert.equal(json.needleMass.length, 4);
    for (let l = 0; l < 4; l++) {
      assert.equal(json.needleMass[l].length, 4);
      for (let h = 0; h < 4; h++) {
        const s = sum(json.needle.tokens.map((t: number) => json.queryAttention[l][h][t]));
        assert.ok(close(json.needleMass[l][h], s, 1e-9), `needleMass[${l}][${h}]`);
      }
    }
    assert.equal(json.model.cache.hit, false);
    assert.ok(json.timings.convertMs > 0);
    assert.equal(cacheEntries().length, 1);
  });

  it('reuses the converted model the second time', () => {
    const entry = path.join(CACHE, 'models', cacheEntries()[0]);
    const onnx = fs.readdirSync(entry).find((f) => f.endsWith('.onnx'))!;
    const before = fs.statSync(path.join(entry, onnx)).mtimeMs;
    const { run, json } = analyzeJson(['--needle-range', `${NEEDLE.start}:${NEEDLE.end}`], 'warm');
    assert.equal(json.model.cache.hit, true);
    assert.equal(json.timings.convertMs, 0);
    assert.ok(first.timings.convertMs > json.timings.convertMs);
    assert.doesNotMatch(run.stderr, /convert/);
    assert.equal(fs.statSync(path.join(entry, onnx)).mtimeMs, before, 'cache entry untouched');
    assert.equal(cacheEntries().length, 1);
    // Same input, same model: same numbers.
    assert.deepEqual(json.queryAttention, first.queryAttention);
    assert.deepEqual(json.positions, first.positions);
  });

  it('gives causal attention rows that sum to 1 for a 1-token query', () => {
    const k = TEXT.indexOf('Keep'); // ASCII: one token, index k
    const { json } = analyzeJson(['--query-range', `${k}:${k + 1}`], 'one-token');
    checkContract(json);
    assert.deepEqual(json.query.tokens, [k]);
    assert.equal(json.query.defaulted, false);
    for (const perHead of json.queryAttention)
      for (const row of perHead) {
        assert.ok(close(sum(row.slice(0, k + 1)), 1, 1e-4));
        assert.ok(row.slice(k + 1).every((v: number) => v === 0));
      }
  });

  it('feeds integer positions under --integer-positions', () => {
    const { json } = analyzeJson(['--integer-positions'], 'integer');
    checkContract(json);
    assert.equal(json.integerPositions, true);
    for (const perHead of json.positions) for (const row of perHead) row.forEach((v: number, t: number) => assert.equal(v, t));
    // Layers before the first RePo layer do not depend on the mode; RePo layers do.
    const diff = (l: number) => Math.max(...json.queryAttention[l].flat().map((v: number, i: number) => Math.abs(v - first.queryAttention[l].flat()[i])));
    assert.ok(diff(0) < 1e-5 && diff(1) < 1e-5, `layers 0-1 unchanged (${diff(0)}, ${diff(1)})`);
    assert.ok(diff(2) > 1e-4, 'RePo layer 2 changes with integer positions');
  });

  it('reads stdin, strips a leading BOM, and can write JSON to stdout', () => {
    const run = cli(['analyze', '-', '--model', MODEL, '--threads', '1', '--json', '-'], '\ufeff' + TEXT);
    assert.equal(run.status, 0, run.stderr);
    const json = JSON.parse(run.stdout);
    assert.equal(json.text.bomStripped, true);
    checkContract(json); // offsets refer to the text without the BOM
    assert.deepEqual(json.queryAttention, first.queryAttention);
  });

  it('prints a compact summary without --json', () => {
    const run = cli(['analyze', INPUT, '--model', MODEL, '--threads', '1', '--needle-range', `${NEEDLE.start}:${NEEDLE.end}`]);
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stdout, /^model\s+random-repo-bf16-sharded .* on (cpu|cuda)$/m);
    assert.match(run.stdout, new RegExp(`→ ${new ByteTokenizer(300).encode(TEXT).ids.length} tokens`));
    assert.match(run.stdout, /needle mass .*top heads/);
    // The best head printed is the true maximum of needleMass.
    const best = Math.max(...first.needleMass.flat());
    assert.match(run.stdout, new RegExp(`head \\d+  ${best.toFixed(4)}`));
  });
});

describe('repo-lens analyze errors', () => {
  const empty = path.join(tmp, 'empty.txt');
  fs.writeFileSync(empty, '');
  const blank = path.join(tmp, 'blank.txt');
  fs.writeFileSync(blank, '  \n\t\r\n');
  const long = path.join(tmp, 'long.txt');
  fs.writeFileSync(long, 'a'.repeat(4097));
  const outDir = path.join(tmp, 'errors-out');
  fs.mkdirSync(outDir);
  const out = path.join(outDir, 'out.json');
  const base = ['--model', MODEL, '--threads', '1', '--json', out];

  const cases: [string, string[], RegExp][] = [
    ['missing file', ['analyze', path.join(tmp, 'nope.txt'), ...base], /nope\.txt does not exist/],
    ['empty text', ['analyze', empty, ...base], /empty\.txt is empty/],
    ['blank text without a query', ['analyze', blank, ...base], /no non-blank line/],
    ['unknown model', ['analyze', INPUT, ...base, '--model', 'no-such-model'], /unknown model "no-such-model"/],
    ['missing model folder', ['analyze', INPUT, ...base, '--model', './no/such/dir'], /checkpoint folder \.\/no\/such\/dir does not exist/],
    ['no --model', ['analyze', INPUT, '--json', out], /needs --model/],
    ['bad range syntax', ['analyze', INPUT, ...base, '--needle-range', '5-9'], /--needle-range must look like A:B/],
    ['empty range', ['analyze', INPUT, ...base, '--needle-range', '5:5'], /--needle-range 5:5: start must be less than end/],
    ['range past the end', ['analyze', INPUT, ...base, '--query-range', `0:${TEXT.length + 1}`], new RegExp(`end is past the end of the text \\(length ${TEXT.length}`)],
    ['text too long', ['analyze', long, ...base], /long\.txt is 4097 tokens long, but random-repo-bf16-sharded handles at most 4096 tokens/],
    ['bad device', ['analyze', INPUT, ...base, '--device', 'tpu'], /--device must be auto, cpu, cuda or webgpu, got "tpu"/],
    ['bad threads', ['analyze', INPUT, ...base, '--threads', '0'], /--threads must be a positive integer/],
    ['unknown option', ['analyze', INPUT, ...base, '--frobnicate'], /frobnicate/],
    ['unknown command', ['analyse', INPUT], /unknown command "analyse"/],
    ['output folder missing', ['analyze', INPUT, '--model', MODEL, '--json', path.join(tmp, 'no-dir', 'x.json')], /cannot write .*no-dir.* does not exist/],
  ];
  for (const [name, args, message] of cases) {
    it(`${name}: one line on stderr, non-zero exit, no output`, () => {
      const run = cli(args);
      assert.notEqual(run.status, 0);
      const lines = run.stderr.split('\n').filter((l) => l !== '');
      assert.equal(lines.length, 1, `exactly one line, got:\n${run.stderr}`);
      assert.match(lines[0], /^repo-lens: /);
      assert.match(lines[0], message);
      assert.equal(run.stdout, '');
      assert.deepEqual(fs.readdirSync(outDir), [], 'no output or temporary file left');
    });
  }

  it('--yarn 2 analyses a text past the trained context, which the plain model refuses', () => {
    const outYarn = path.join(tmp, 'yarn.json');
    const long = path.join(tmp, 'long-with-question.txt');
    fs.writeFileSync(long, 'a'.repeat(4090) + '\nWhere?'); // 4097 byte tokens, the last line the query
    const refused = cli(['analyze', long, '--model', MODEL, '--threads', '1', '--json', outYarn]);
    assert.notEqual(refused.status, 0);
    const run = cli(['analyze', long, '--model', MODEL, '--threads', '1', '--yarn', '2', '--json', outYarn]);
    assert.equal(run.status, 0, run.stderr);
    const j = JSON.parse(fs.readFileSync(outYarn, 'utf8'));
    assert.equal(j.tokens.length, 4097);
    assert.equal(j.model.maxPositions, 8192);
    assert.equal(j.model.ropeType, 'yarn');
    assert.equal(j.model.yarnFactor, 2);
    const bad = cli(['analyze', long, '--model', MODEL, '--yarn', '3', '--json', outYarn]);
    assert.match(bad.stderr, /--yarn must be 2 or 4, got "3"/);
  });

  it('a checkpoint that fails to convert leaves no cache entry', () => {
    const broken = path.join(tmp, 'broken');
    fs.cpSync(MODEL, broken, { recursive: true });
    const shard = path.join(broken, 'model-00002-of-00002.safetensors');
    fs.truncateSync(shard, Math.floor(fs.statSync(shard).size / 2));
    const cache = path.join(tmp, 'broken-cache');
    const r = spawnSync(process.execPath, [BIN, 'analyze', INPUT, '--model', broken, '--threads', '1', '--json', out], {
      cwd: ROOT,
      encoding: 'utf8',
      env: { ...process.env, REPO_LENS_CACHE: cache },
    });
    assert.notEqual(r.status, 0);
    const lines = r.stderr.split('\n').filter((l) => l !== '');
    assert.match(lines[lines.length - 1], /^repo-lens: (?!warning)/, r.stderr);
    assert.ok(!/^\s+at /m.test(r.stderr), 'no stack trace');
    const models = path.join(cache, 'models');
    assert.deepEqual(fs.existsSync(models) ? fs.readdirSync(models) : [], []);
    assert.deepEqual(fs.readdirSync(outDir), []);
  });
});

describe('repo-lens models and help', () => {
  it('lists the embedded models and the cache folder', () => {
    const run = cli(['models']);
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stdout, /repo-tiny/);
    assert.match(run.stdout, /rope-tiny/);
    assert.ok(run.stdout.includes(path.join(ROOT, 'models')));
    assert.ok(run.stdout.includes(path.join(CACHE, 'models')));
  });

  it('prints usage with --help', () => {
    const run = cli(['--help']);
    assert.equal(run.status, 0);
    assert.match(run.stdout, /repo-lens analyze <file\|-> --model/);
    assert.match(run.stdout, /--needle-range A:B/);
  });
});
