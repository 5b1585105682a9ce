/**
 * The CLI's use of the inference runtime: --max-tokens / --truncate, a tokenizer.json that does not
 * fit the model, and Ctrl-C. Same fixture and conventions as cli.test.ts (one thread, private cache).
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { DOLMA2, DOLMA2_SKIP } from './helpers/checkpoints';

const ROOT = path.resolve(__dirname, '..', '..');
const BIN = path.join(ROOT, 'bin', 'repo-lens.js');
const MODEL = path.join(ROOT, 'test', 'fixtures', 'random-repo-bf16-sharded');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'repo-lens-cli-runtime-test-'));
const CACHE = path.join(tmp, 'cache');
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

const TEXT = 'Notes: the vault code is 4721.\nWhat is the vault code?\n';
const INPUT = path.join(tmp, 'prompt.txt');
fs.writeFileSync(INPUT, TEXT);
const OUT_DIR = path.join(tmp, 'out');
fs.mkdirSync(OUT_DIR);

function cli(args: string[], cache = CACHE) {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, REPO_LENS_CACHE: cache }, timeout: 240_000 });
  if (r.error) throw r.error;
  return r;
}
const errorLines = (stderr: string) => stderr.split('\n').filter((l) => l !== '');

describe('repo-lens analyze: long texts', () => {
  it('refuses a text over --max-tokens and says how to analyse its first tokens', () => {
    const r = cli(['analyze', INPUT, '--model', MODEL, '--threads', '1', '--max-tokens', '10', '--json', path.join(OUT_DIR, 'x.json')]);
    assert.equal(r.status, 1);
    assert.deepEqual(errorLines(r.stderr), [`repo-lens: ${INPUT} is ${TEXT.length} tokens long, more than the limit of 10 tokens; use --truncate to analyse the first 10`]);
    assert.deepEqual(fs.readdirSync(OUT_DIR), []);
  });

  it('says the same for the model’s own context', () => {
    const long = path.join(tmp, 'long.txt');
    fs.writeFileSync(long, 'a'.repeat(4097));
    const r = cli(['analyze', long, '--model', MODEL, '--threads', '1']);
    assert.equal(r.status, 1);
    assert.match(errorLines(r.stderr)[0], /long\.txt is 4097 tokens long, but random-repo-bf16-sharded handles at most 4096 tokens; use --truncate to analyse the first 4096$/);
  });

  it('analyses the first tokens under --truncate and records it in the JSON', () => {
    const out = path.join(OUT_DIR, 'truncated.json');
    const r = cli(['analyze', INPUT, '--model', MODEL, '--threads', '1', '--max-tokens', '20', '--truncate', '--json', out]);
    assert.equal(r.status, 0, r.stderr);
    const a = JSON.parse(fs.readFileSync(out, 'utf8'));
    fs.rmSync(out);
    assert.equal(a.schema, 'repo-lens/analysis@1');
    assert.deepEqual(a.truncated, { tokens: 20, originalTokens: TEXT.length, endOffset: 20 });
    assert.equal(a.tokens.length, 20);
    assert.equal(a.text.length, TEXT.length, 'text describes the whole input');
    assert.deepEqual([a.query.start, a.query.end, a.query.defaulted], [0, 20, true]);
    assert.ok(a.warnings.some((w: string) => /analysing the first 20 of \d+ tokens/.test(w)));
    assert.match(r.stderr, /^repo-lens: warning: analysing the first 20 of \d+ tokens \(the text up to offset 20\)$/m);
    const summary = cli(['analyze', INPUT, '--model', MODEL, '--threads', '1', '--max-tokens', '20', '--truncate']);
    assert.match(summary.stdout, /truncated: first 20 of \d+ tokens \(text up to offset 20\)/);
  });

  it('checks --max-tokens', () => {
    const r = cli(['analyze', INPUT, '--model', MODEL, '--max-tokens', '0']);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /--max-tokens must be a positive integer, got "0"/);
  });
});

describe('repo-lens analyze: tokenizer.json', () => {
  it('refuses a tokenizer whose ids the model does not have, before converting', { skip: DOLMA2_SKIP }, () => {
    const dir = path.join(tmp, 'with-dolma2');
    fs.cpSync(MODEL, dir, { recursive: true });
    fs.copyFileSync(DOLMA2, path.join(dir, 'tokenizer.json'));
    const cache = path.join(tmp, 'dolma2-cache');
    const r = cli(['analyze', INPUT, '--model', dir, '--threads', '1'], cache);
    assert.equal(r.status, 1);
    const lines = errorLines(r.stderr);
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0], /^repo-lens: token id \d+ ≥ model vocab 300: the hf-bpe tokenizer gave it for "Notes" \(offsets 0:5\), so this tokenizer does not belong to with-dolma2$/);
    assert.ok(!fs.existsSync(path.join(cache, 'models')), 'nothing converted');
  });
});

describe('repo-lens analyze: Ctrl-C', () => {
  it('cancels cleanly: exit 130, no output file, no half-converted model', async () => {
    const cache = path.join(tmp, 'sigint-cache');
    const out = path.join(OUT_DIR, 'sigint.json');
    const long = path.join(tmp, 'sigint.txt');
    fs.writeFileSync(long, ('x'.repeat(60) + '\n').repeat(65) + 'What?\n');
    const child = spawn(process.execPath, [BIN, 'analyze', long, '--model', MODEL, '--threads', '1', '--json', out], {
      cwd: ROOT,
      env: { ...process.env, REPO_LENS_CACHE: cache },
    });
    let stderr = '';
    let sent = false;
    child.stderr.on('data', (d) => {
      stderr += d;
      // Interrupt as soon as the conversion starts (non-TTY progress prints this line once).
      if (!sent && /converting/.test(stderr)) {
        sent = true;
        child.kill('SIGINT');
      }
    });
    const [code, signal] = await new Promise<[number | null, string | null]>((resolve) => child.on('exit', (c, s) => resolve([c, s])));
    assert.ok(sent, 'the conversion started');
    assert.equal(signal, null);
    assert.equal(code, 130, stderr);
    assert.match(stderr, /^repo-lens: cancelled$/m);
    assert.ok(!/^\s+at /m.test(stderr), 'no stack trace');
    assert.deepEqual(fs.readdirSync(OUT_DIR), [], 'no output or temporary file');
    const models = path.join(cache, 'models');
    for (const e of fs.existsSync(models) ? fs.readdirSync(models) : []) {
      assert.ok(!e.startsWith('.tmp-'), `temporary conversion folder left: ${e}`);
      assert.ok(fs.existsSync(path.join(models, e, 'entry.json')), `incomplete cache entry ${e}`);
    }
  });
});

describe('repo-lens analyze: a reader that stops early', () => {
  it('finishes its files and exits 0 when stdout is closed (`… | head -1`)', async () => {
    const out = path.join(tmp, 'epipe.json');
    const child = spawn(process.execPath, [BIN, 'analyze', INPUT, '--model', MODEL, '--threads', '1', '--json', out], {
      cwd: ROOT,
      env: { ...process.env, REPO_LENS_CACHE: CACHE },
    });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    // Like `| head -1` that has already exited: every write to stdout meets a closed pipe (EPIPE).
    child.stdout.destroy();
    const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    assert.equal(code, 0, stderr);
    assert.ok(!/EPIPE|Unhandled|^\s+at /m.test(stderr), stderr);
    assert.equal(JSON.parse(fs.readFileSync(out, 'utf8')).schema, 'repo-lens/analysis@1');
  });
});
