import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ByteTokenizer } from '../src/engine/tokenizer/bytes';
import { buildReportBundle } from '../src/report/build';
import { jsonForScript, renderReportHtml } from '../src/report/page';

/**
 * `repo-lens analyze` with the needle split (second, integer-position run), query/needle by text
 * or found automatically, the terminal summary and the --html report, on the random sharded BF16
 * checkpoint (RePo layers 2 and 3 of 4). One thread, private cache.
 */
const ROOT = path.resolve(__dirname, '..', '..');
const BIN = path.join(ROOT, 'bin', 'repo-lens.js');
const MODEL = path.join(ROOT, 'test', 'fixtures', 'random-repo-bf16-sharded');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'repo-lens-report-test-'));
const CACHE = path.join(tmp, 'cache');
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

const TEXT = 'Notes: the vault code is 4721. Keep it safe.\nFiller: 你好, café, and more filler. The vault is old.\nWhat is the vault code?\n';
const INPUT = path.join(tmp, 'prompt.txt');
fs.writeFileSync(INPUT, TEXT);
const ATTACK = '</script><img src=x onerror=alert(1)>';
const HOSTILE = `Note ${ATTACK} <!-- the code is 77. &amp; \u2028\nWhat is the code?\n`;
const HOSTILE_INPUT = path.join(tmp, 'hostile.txt');
fs.writeFileSync(HOSTILE_INPUT, HOSTILE);

function cli(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, REPO_LENS_CACHE: CACHE, ...env },
    timeout: 240_000,
  });
  if (r.error) throw r.error;
  return r;
}

function analyzeJson(extra: string[], name: string, input = INPUT): any {
  const out = path.join(tmp, `${name}.json`);
  const r = cli(['analyze', input, '--model', MODEL, '--threads', '1', '--json', out, ...extra]);
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(fs.readFileSync(out, 'utf8'));
}

const close = (a: number, b: number, tol: number) => Math.abs(a - b) <= tol;
const sum = (xs: number[]) => xs.reduce((s, v) => s + v, 0);

/** The needle / recent / rest split recomputed from the JSON's own query attention. */
function splitFromAttention(a: any): { needle: number[][]; recent: number[][]; rest: number[][] } {
  const needle = new Set<number>(a.needle.tokens);
  const { start, end } = a.needleSplit.recentTokens;
  const part = (pick: (t: number) => boolean) =>
    a.queryAttention.map((perHead: number[][]) => perHead.map((row) => sum(row.filter((_, t) => pick(t))) / sum(row)));
  return {
    needle: part((t) => needle.has(t)),
    recent: part((t) => !needle.has(t) && t >= start && t < end),
    rest: part((t) => !needle.has(t) && (t < start || t >= end)),
  };
}

describe('analyze: query and needle', () => {
  it('finds the question and the needle sentence by itself, and says so', () => {
    const a = analyzeJson([], 'auto');
    assert.equal(TEXT.slice(a.query.start, a.query.end), 'What is the vault code?');
    assert.equal(a.query.source, 'auto');
    assert.equal(a.query.defaulted, true);
    assert.equal(TEXT.slice(a.needle.start, a.needle.end), 'Notes: the vault code is 4721.');
    assert.equal(a.needle.source, 'auto');
    assert.match(a.needle.note, /vault code/);
  });

  it('takes --needle-text (first occurrence) and --query-text (last occurrence)', () => {
    const a = analyzeJson(['--needle-text', 'vault', '--query-text', 'vault'], 'text');
    const first = TEXT.indexOf('vault');
    const last = TEXT.lastIndexOf('vault');
    assert.deepEqual([a.needle.start, a.needle.end, a.needle.source], [first, first + 5, 'text']);
    assert.deepEqual([a.query.start, a.query.end, a.query.source], [last, last + 5, 'text']);
    const enc = new ByteTokenizer(300).encode(TEXT);
    const tokensOf = (at: number) => [0, 1, 2, 3, 4].map((k) => enc.starts.indexOf(at) + k);
    assert.deepEqual(a.query.tokens, tokensOf(last));
    assert.equal(a.query.defaulted, false);
    assert.deepEqual(a.needle.tokens, tokensOf(first));
  });

  it('refuses a needle or query text that is not in the prompt, and conflicting options', () => {
    const cases: [string[], RegExp, number][] = [
      [['--needle-text', 'walrus'], /--needle-text "walrus" does not occur in the text/, 1],
      [['--query-text', 'walrus'], /--query-text "walrus" does not occur/, 1],
      [['--query-text', 'vault', '--query-range', '0:3'], /either --query-range or --query-text/, 2],
      [['--needle-text', 'vault', '--needle-range', '0:3'], /either --needle-range or --needle-text/, 2],
      [['--recent-window', 'x3'], /--recent-window must be an integer/, 2],
      [['--html', '-'], /--html needs a file name/, 2],
    ];
    for (const [extra, message, status] of cases) {
      const r = cli(['analyze', INPUT, '--model', MODEL, '--threads', '1', ...extra]);
      assert.equal(r.status, status, `${extra.join(' ')}: ${r.stderr}`);
      const lines = r.stderr.split('\n').filter((l) => l !== '');
      assert.equal(lines.length, 1, r.stderr);
      assert.match(lines[0], message);
      assert.equal(r.stdout, '');
    }
  });
});

describe('analyze: needle split', () => {
  let learnedRun: any;

  it('splits the attention into needle / recent / rest for learned and integer positions', () => {
    const a = analyzeJson(['--needle-text', '4721', '--recent-window', '8'], 'split');
    learnedRun = a;
    const s = a.needleSplit;
    assert.equal(s.recentWindow, 8);
    const q0 = a.query.tokens[0];
    assert.deepEqual(s.recentTokens, { start: q0 - 8, end: a.query.tokens[a.query.tokens.length - 1] + 1 });
    assert.equal(typeof a.timings.ablationRunMs, 'number');
    for (const side of ['learned', 'integer', 'delta']) {
      for (const part of ['needle', 'recent', 'rest']) {
        assert.equal(s[side][part].length, 4, `${side}.${part} has one row per layer`);
        for (const row of s[side][part]) assert.equal(row.length, 4);
      }
    }
    for (let l = 0; l < 4; l++)
      for (let h = 0; h < 4; h++) {
        for (const side of ['learned', 'integer']) {
          assert.ok(close(s[side].needle[l][h] + s[side].recent[l][h] + s[side].rest[l][h], 1, 1e-12), `${side} sums to 1`);
        }
        for (const part of ['needle', 'recent', 'rest']) assert.equal(s.delta[part][l][h], s.learned[part][l][h] - s.integer[part][l][h]);
      }
    // The learned side is this run's own attention, split as documented.
    const mine = splitFromAttention(a);
    for (const part of ['needle', 'recent', 'rest'] as const)
      for (let l = 0; l < 4; l++) for (let h = 0; h < 4; h++) assert.ok(close(s.learned[part][l][h], mine[part][l][h], 1e-9), part);
    // Layers 0-1 come before the first RePo layer: positions cannot change them. Layers 2-3 do change.
    const maxAbs = (l: number) => Math.max(...['needle', 'recent', 'rest'].flatMap((p) => s.delta[p][l].map(Math.abs)));
    assert.ok(maxAbs(0) < 1e-5 && maxAbs(1) < 1e-5, `${maxAbs(0)} ${maxAbs(1)}`);
    assert.ok(maxAbs(2) > 1e-4 || maxAbs(3) > 1e-4, 'the integer run differs in the RePo layers');
    // Totals: means over heads per layer, and over everything.
    assert.ok(close(s.totals.learned.perLayer.needle[2], sum(s.learned.needle[2]) / 4, 1e-12));
    assert.ok(close(s.totals.delta.overall.rest, sum(s.delta.rest.flat()) / 16, 1e-12));
  });

  it('gets the same split the other way round under --integer-positions', () => {
    const b = analyzeJson(['--needle-text', '4721', '--recent-window', '8', '--integer-positions'], 'split-int');
    assert.equal(b.integerPositions, true);
    // Its own attention is the integer side now.
    const mine = splitFromAttention(b);
    for (let l = 0; l < 4; l++) for (let h = 0; h < 4; h++) assert.ok(close(b.needleSplit.integer.needle[l][h], mine.needle[l][h], 1e-9));
    for (const side of ['learned', 'integer'])
      for (const part of ['needle', 'recent', 'rest'])
        for (let l = 0; l < 4; l++)
          for (let h = 0; h < 4; h++) assert.ok(close(b.needleSplit[side][part][l][h], learnedRun.needleSplit[side][part][l][h], 1e-6), `${side}.${part}`);
  });

  it('skips the second run with --no-ablation', () => {
    const a = analyzeJson(['--needle-text', '4721', '--recent-window', '8', '--no-ablation'], 'no-ablation');
    assert.equal(a.needleSplit.integer, undefined);
    assert.equal(a.needleSplit.delta, undefined);
    assert.equal(a.needleSplit.totals.integer, undefined);
    assert.equal(a.timings.ablationRunMs, undefined);
    // The learned side does not depend on whether the second run happened.
    for (const part of ['needle', 'recent', 'rest'])
      for (let l = 0; l < 4; l++) for (let h = 0; h < 4; h++) assert.ok(close(a.needleSplit.learned[part][l][h], learnedRun.needleSplit.learned[part][l][h], 1e-9));
    // Under --integer-positions there is then no learned side at all.
    assert.equal(analyzeJson(['--needle-text', '4721', '--no-ablation', '--integer-positions'], 'no-ablation-int').needleSplit, undefined);
  });

  it('adds curve and structure summaries per RePo layer and head', () => {
    const a = learnedRun;
    assert.equal(a.curves.heads.length, 2);
    for (const [r, perHead] of a.curves.heads.entries()) {
      assert.equal(perHead.length, 4);
      for (const [h, c] of perHead.entries()) {
        const z: number[] = a.positions[r][h];
        assert.equal(c.range, Math.max(...z) - Math.min(...z));
        assert.equal(c.chunks.labels.length, Math.ceil(z.length / 16) - (c.chunks.unlabelledTail ? 1 : 0));
        assert.match(c.chunks.labels, /^[CUDH]*$/);
      }
    }
    assert.equal(a.structure.tokens.segment.length, a.tokens.length);
    assert.ok(a.structure.segments.length >= 1);
  });
});

describe('analyze: terminal summary', () => {
  it('prints model, tokens, time, the split learned vs integer, heads and structure in ≤ 25 lines', () => {
    const a = analyzeJson(['--needle-text', '4721', '--recent-window', '8'], 'summary');
    const r = cli(['analyze', INPUT, '--model', MODEL, '--threads', '1', '--needle-text', '4721', '--recent-window', '8']);
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stdout.trimEnd().split('\n');
    assert.ok(lines.length <= 25, `${lines.length} lines:\n${r.stdout}`);
    assert.match(r.stdout, /^model\s+random-repo-bf16-sharded .* on (cpu|cuda)$/m);
    assert.match(r.stdout, new RegExp(`^text .*→ ${a.tokens.length} tokens$`, 'm'));
    assert.match(r.stdout, /^time .*run \d+ ms \+ \d+ ms integer-position run/m);
    const tot = (side: string) => {
      const o = a.needleSplit.totals[side].overall;
      return [o.needle, o.recent, o.rest].map((v: number) => v.toFixed(3)).join(' / ');
    };
    assert.match(r.stdout, new RegExp(`^  learned  ${tot('learned')}$`, 'm'));
    assert.match(r.stdout, new RegExp(`^  integer  ${tot('integer')}$`, 'm'));
    // The largest range printed first is the true largest over RePo heads.
    const best = Math.max(...a.curves.heads.flat().map((c: any) => c.range));
    assert.match(r.stdout, new RegExp(`^  largest d +L[23]h\\d ${best.toFixed(1)} · `, 'm'));
    assert.match(r.stdout, /^  most Constant +L[23]h\d \d+% · /m);
    assert.match(r.stdout, new RegExp(`^structure ${a.structure.segments.length} segments`, 'm'));
    // Quiet on short runs: only warnings and cache notes on stderr.
    for (const l of r.stderr.split('\n').filter(Boolean)) assert.match(l, /^repo-lens: (warning|convert)/);
  });

  it('says what it is doing on stderr during long runs', () => {
    const long = path.join(tmp, 'long.txt');
    fs.writeFileSync(long, 'river stone cloud field. '.repeat(90) + 'The vault code is 4721.\nWhat is the vault code?\n');
    const out = path.join(tmp, 'long.json');
    const r = cli(['analyze', long, '--model', MODEL, '--threads', '1', '--json', out]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /^repo-lens: running random-repo-bf16-sharded on \d{4} tokens \(learned positions\)$/m);
    assert.match(r.stderr, /^repo-lens: second pass with integer positions/m);
    assert.match(r.stderr, /^repo-lens: summarising/m);
    assert.match(r.stdout, /^model\s+random-repo-bf16-sharded /m, 'the summary still goes to stdout');
    assert.match(r.stdout, new RegExp(`^json    ${out.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, 'm'));
  });
});

describe('analyze --html', () => {
  before(async () => {
    await buildReportBundle(ROOT);
  });

  const scriptBlock = (html: string, id: string) => {
    const m = new RegExp(`<script type="application/json" id="${id}">([^<]*)</script>`).exec(html);
    assert.ok(m, `no #${id} block`);
    return JSON.parse(m[1]);
  };

  it('writes a self-contained page whose JSON is the analysis', () => {
    const html = path.join(tmp, 'report.html');
    const json = path.join(tmp, 'report.json');
    const r = cli(['analyze', INPUT, '--model', MODEL, '--threads', '1', '--json', json, '--html', html]);
    assert.equal(r.status, 0, r.stderr);
    const page = fs.readFileSync(html, 'utf8');
    assert.deepEqual(scriptBlock(page, 'repo-lens-analysis'), JSON.parse(fs.readFileSync(json, 'utf8')));
    assert.equal(scriptBlock(page, 'repo-lens-text'), TEXT);
    // Nothing is loaded from anywhere: no src/href to http(s), no link/iframe/object elements.
    assert.doesNotMatch(page, /\b(?:src|href|action)\s*=\s*["']?\s*(?:https?:)?\/\//i);
    assert.doesNotMatch(page, /<(?:link|iframe|object|embed|base)\b/i);
    // Strict CSP: nothing but the nonce'd script and style.
    const csp = /<meta http-equiv="Content-Security-Policy" content="([^"]+)">/.exec(page);
    assert.ok(csp, 'CSP meta tag');
    const nonce = /script-src 'nonce-([A-Za-z0-9+/=]+)'/.exec(csp[1])![1];
    assert.match(csp[1], /default-src 'none'/);
    assert.match(csp[1], new RegExp(`style-src 'nonce-${nonce.replace(/[+/=]/g, '\\$&')}'`));
    assert.match(csp[1], /img-src data:/);
    assert.doesNotMatch(page, /unsafe-inline|unsafe-eval/);
    const scripts = [...page.matchAll(/<script\b([^>]*)>/g)].map((m) => m[1]);
    assert.equal(scripts.length, 3);
    for (const attrs of scripts) assert.ok(attrs.includes('type="application/json"') || attrs.includes(`nonce="${nonce}"`), attrs);
    assert.equal([...page.matchAll(/<style\b([^>]*)>/g)].length, 1);
    assert.ok(page.includes(`<style nonce="${nonce}">`));
    assert.doesNotMatch(page, /\sstyle\s*=/i, 'no inline style attributes');
  });

  it('escapes a prompt that tries to close the script block', () => {
    const html = path.join(tmp, 'hostile.html');
    const r = cli(['analyze', HOSTILE_INPUT, '--model', MODEL, '--threads', '1', '--html', html, '--no-ablation']);
    assert.equal(r.status, 0, r.stderr);
    const page = fs.readFileSync(html, 'utf8');
    assert.ok(!page.includes(ATTACK), 'the raw attack string is not in the page');
    assert.doesNotMatch(page, /<img/i);
    assert.doesNotMatch(page, /<!--/);
    assert.equal([...page.matchAll(/<\/script>/g)].length, 3, 'only our three script elements close');
    assert.equal(scriptBlock(page, 'repo-lens-text'), HOSTILE);
    assert.match(r.stdout, /^report  /m);
  });

  it('escapes <, >, & and line separators in embedded JSON', () => {
    const s = jsonForScript({ t: `${ATTACK} & \u2028\u2029` });
    assert.doesNotMatch(s, /[<>&\u2028\u2029]/);
    assert.deepEqual(JSON.parse(s), { t: `${ATTACK} & \u2028\u2029` });
    const page = renderReportHtml({ analysis: { x: ATTACK } as any, text: ATTACK, bundle: 'void 0;', nonce: 'abc123' });
    assert.ok(!page.includes(ATTACK));
    assert.throws(() => renderReportHtml({ analysis: {} as any, text: '', bundle: 'x="</script>"' }), /cannot be inlined/);
  });

  it('says clearly when the report bundle has not been built, before running anything', () => {
    const html = path.join(tmp, 'never.html');
    const r = cli(['analyze', INPUT, '--model', MODEL, '--threads', '1', '--html', html], { REPO_LENS_REPORT_BUNDLE: path.join(tmp, 'no-bundle.js') });
    assert.equal(r.status, 1);
    const lines = r.stderr.split('\n').filter(Boolean);
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0], /--html needs the report bundle .*no-bundle\.js.*node out\/src\/report\/build\.js/);
    assert.equal(fs.existsSync(html), false);
  });
});
