/**
 * The extension's pure helpers (no `vscode` module here: these files must load in plain Node):
 * settings and their change classes, hover text, decoration ranges, marks across edits, CSV
 * exports, the webview protocol and state codec, the webview's HTML/CSP, and the VSIX ignore file.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { ignoreFileFor } from '../src/build/package';
import { classifyConfigChange, DEFAULT_CONFIG, hostOptionsOf, readConfig } from '../src/extension/core/config';
import { csvField, needleCsv, positionsCsv } from '../src/extension/core/csv';
import { boundaryOffsets, buildDecorationPlan, levelsOf, LEVELS, tokenValues } from '../src/extension/core/decorations';
import { buildHoverMarkdown, fenceFor, positionStats, REVEAL_COMMAND } from '../src/extension/core/hover';
import { explorerCsp, explorerHtml, makeNonce } from '../src/extension/core/html';
import { relativeSpan, shiftMarks, shiftSpan } from '../src/extension/core/marks';
import { joinCooperatively, jsonPieces } from '../src/extension/core/serialize';
import { AnalysisStore, MAX_FILES, stillMatches } from '../src/extension/core/analysisStore';
import * as os from 'node:os';
import { decodePayload, encodePayload } from '../src/shared/codec';
import { isWebviewMessage, tokenAtOffset } from '../src/shared/protocol';
import { SYNTH_TEXT, syntheticAnalysis } from './helpers/synthetic-analysis';

const ROOT = path.resolve(__dirname, '..', '..');

describe('extension helpers stay free of vscode', () => {
  it('no engine, shared or core helper file imports vscode', () => {
    const offenders: string[] = [];
    const walk = (dir: string) => {
      for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
        const p = path.join(dir, e.name);
        if (e.isDirectory()) walk(p);
        else if (p.endsWith('.ts') && /from ['"]vscode['"]|require\(['"]vscode['"]\)/.test(fs.readFileSync(p, 'utf8'))) offenders.push(path.relative(ROOT, p));
      }
    };
    for (const d of ['src/engine', 'src/shared', 'src/extension/core', 'webview']) walk(path.join(ROOT, d));
    assert.deepEqual(offenders, []);
  });
});

describe('settings', () => {
  it('reads valid values and falls back, naming each bad one', () => {
    const good = readConfig((k) => ({ model: ' rope-tiny ', executionProvider: 'cpu', threads: 2, maxTokens: 100, decorationMetric: 'position', yarnFactor: 4, weightStorage: 'fp16' })[k]);
    assert.deepEqual(good, {
      config: { model: 'rope-tiny', executionProvider: 'cpu', threads: 2, maxTokens: 100, decorationMetric: 'position', yarnFactor: 4, weightStorage: 'fp16' },
      problems: [],
    });
    const bad = readConfig((k) => ({ model: '', executionProvider: 'tpu', threads: -1, maxTokens: 1.5, decorationMetric: 'rainbow', yarnFactor: 3, weightStorage: 'int4' })[k]);
    assert.deepEqual(bad.config, DEFAULT_CONFIG);
    assert.equal(bad.problems.length, 7);
    assert.match(bad.problems[1], /repoLens\.executionProvider: "tpu" is not valid; using "auto"/);
    assert.deepEqual(readConfig(() => undefined), { config: DEFAULT_CONFIG, problems: [] });
  });

  it('knows which changes need a new session, a re-run or only new colours', () => {
    const c = DEFAULT_CONFIG;
    assert.deepEqual(classifyConfigChange(c, { ...c }), { newSession: false, rerun: false, redecorate: false, reasons: [] });
    const ep = classifyConfigChange(c, { ...c, executionProvider: 'cpu' });
    assert.equal(ep.newSession, true);
    assert.equal(ep.rerun, false);
    assert.equal(classifyConfigChange(c, { ...c, threads: 1 }).newSession, true);
    const model = classifyConfigChange(c, { ...c, model: 'rope-tiny' });
    assert.deepEqual([model.newSession, model.rerun, model.redecorate], [false, true, false]);
    assert.match(model.reasons[0], /model changed to rope-tiny: analyses shown were made with repo-tiny/);
    assert.equal(classifyConfigChange(c, { ...c, maxTokens: 10 }).rerun, true);
    const yarn = classifyConfigChange(c, { ...c, yarnFactor: 2 });
    assert.deepEqual([yarn.newSession, yarn.rerun], [false, true]);
    assert.match(yarn.reasons[0], /YaRN × 2/);
    assert.equal(classifyConfigChange(c, { ...c, weightStorage: 'fp16' }).rerun, true);
    assert.deepEqual(classifyConfigChange(c, { ...c, decorationMetric: 'off' }), { newSession: false, rerun: false, redecorate: true, reasons: [] });
    assert.deepEqual(hostOptionsOf(c), { executionProvider: 'auto' });
    assert.deepEqual(hostOptionsOf({ ...c, threads: 1 }), { executionProvider: 'auto', threads: 1 });
  });
});

describe('hover text', () => {
  const { payload: p, analysis } = syntheticAnalysis();
  const needleToken = p.needle!.firstToken;

  it('shows the token as text, its id, positions per RePo layer, attention, and the allow-listed link', () => {
    const md = buildHoverMarkdown(p, needleToken);
    assert.match(md, new RegExp(`token ${needleToken} of ${p.T} · id ${p.ids[needleToken]} · needle`));
    assert.ok(md.includes('```text\n' + JSON.stringify(SYNTH_TEXT.slice(p.starts[needleToken], p.ends[needleToken])) + '\n```'));
    for (const l of p.model.repoLayers) assert.match(md, new RegExp(`^\\| ${l} \\| `, 'm'));
    assert.match(md, /\| layer \| attention from query, learned \| integer \|/);
    const link = /\[Show in head explorer\]\(command:([\w.]+)\?([^ )]+) /.exec(md);
    assert.ok(link);
    assert.equal(link[1], REVEAL_COMMAND);
    assert.deepEqual(JSON.parse(decodeURIComponent(link[2])), [{ id: p.id, token: needleToken }]);
    // The stats agree with the analysis JSON.
    const s = positionStats(p, 1, needleToken);
    const heads = analysis.positions[1].map((row) => row[needleToken]);
    assert.ok(Math.abs(s.mean - heads.reduce((a, b) => a + b) / heads.length) < 1e-4);
    assert.equal(s.max, Math.max(...heads.map(Math.fround)));
  });

  it('cannot be escaped by backticks, markdown or HTML in the prompt', () => {
    assert.equal(fenceFor('a ``` b'), '````');
    assert.equal(fenceFor('plain'), '```');
    const text = '<img src=x onerror=alert(1)> ````[x](command:evil)\nQ?';
    const { payload } = syntheticAnalysis(text, 2, 2, [1]);
    const md = buildHoverMarkdown(payload, 0);
    // The token sits inside a fence longer than any backtick run of its (JSON-quoted) text.
    assert.match(md, /\n`{3,}text\n"<"\n`{3,}\n/);
    const hostile = { ...payload, starts: Int32Array.from([0]), ends: Int32Array.from([text.length]) };
    const all = buildHoverMarkdown(hostile, 0);
    assert.ok(all.includes('\n`````text\n'), 'a five-backtick fence around four backticks');
    assert.equal((all.match(/command:/g) ?? []).length, 2, 'the prompt text plus our own link, the first inside the code block');
  });
});

describe('decorations', () => {
  const { payload: p } = syntheticAnalysis();

  it('builds merged ranges in document offsets, one level per character, plus query and needle spans', () => {
    const plan = buildDecorationPlan(p, { metric: 'attention-learned', layer: -1, head: -1 });
    assert.equal(plan.levels.length, LEVELS);
    const all = plan.levels.flat().sort((a, b) => a[0] - b[0]);
    assert.ok(all.length > 0);
    for (let i = 1; i < all.length; i++) assert.ok(all[i][0] >= all[i - 1][1], 'ranges never overlap');
    for (const [s, e] of all) {
      assert.ok(s >= p.baseOffset && e <= p.baseOffset + SYNTH_TEXT.length && e > s);
    }
    // "é" and "☕" are several byte tokens with one range: never split across levels.
    for (const ch of ['é', '☕']) {
      const at = p.baseOffset + SYNTH_TEXT.indexOf(ch);
      const covering = all.filter(([s, e]) => s <= at && e > at);
      assert.ok(covering.length <= 1);
      for (const [s, e] of covering) assert.ok(s <= at && e >= at + ch.length);
    }
    assert.deepEqual(plan.query, [[p.baseOffset + p.query.start, p.baseOffset + p.query.end]]);
    assert.deepEqual(plan.needle, [[p.baseOffset + p.needle!.start, p.baseOffset + p.needle!.end]]);
    // The needle got the most attention in the synthetic run: it is at the top level.
    const top = plan.levels[LEVELS - 1];
    assert.ok(top.some(([s, e]) => s < p.baseOffset + p.needle!.end && e > p.baseOffset + p.needle!.start));
  });

  it('colours by integer attention or by position in a layer/head, or not at all', () => {
    const integer = tokenValues(p, { metric: 'attention-integer', layer: 0, head: 1 })!;
    assert.equal(integer.length, p.T);
    const pos = tokenValues(p, { metric: 'position', layer: 1, head: 2 })!;
    assert.equal(pos[5], p.positions[(1 * 4 + 2) * p.T + 5]);
    const att = Float64Array.from([1, 0.5, 0.06, 0.04, 0, 0.25]);
    assert.deepEqual([...levelsOf(att, 'attention-learned')], [5, 4, 2, 0, 0, 3], 'sqrt scale, nothing below 5% of the top token');
    const levels = levelsOf(pos, 'position');
    assert.ok(levels.every((l) => l >= 1 && l <= LEVELS), 'every token shown by position');
    assert.equal(tokenValues(p, { metric: 'off', layer: -1, head: -1 }), undefined);
    assert.deepEqual(buildDecorationPlan(p, { metric: 'off', layer: -1, head: -1 }).levels.flat(), []);
    assert.equal(tokenValues({ ...p, attentionInteger: undefined }, { metric: 'attention-integer', layer: -1, head: -1 }), undefined);
  });

  it('marks segment and table-cell starts', () => {
    const b = boundaryOffsets(p, [40, 12]);
    assert.deepEqual(b, [...b].sort((x, y) => x - y));
    assert.ok(b.includes(12) && b.includes(40));
    const plan = buildDecorationPlan(p, { metric: 'off', layer: -1, head: -1 }, [12]);
    assert.deepEqual(plan.boundaries, [[p.baseOffset + 12, p.baseOffset + 12]]);
  });
});

describe('needle and query marks across edits', () => {
  it('shift, grow, shrink and vanish with the text', () => {
    const m = { start: 10, end: 20 };
    assert.deepEqual(shiftSpan(m, { offset: 0, length: 0, inserted: 5 }), { start: 15, end: 25 });
    assert.deepEqual(shiftSpan(m, { offset: 25, length: 3, inserted: 0 }), m);
    assert.deepEqual(shiftSpan(m, { offset: 12, length: 2, inserted: 6 }), { start: 10, end: 24 });
    assert.deepEqual(shiftSpan(m, { offset: 5, length: 10, inserted: 0 }), { start: 5, end: 10 });
    assert.equal(shiftSpan(m, { offset: 5, length: 20, inserted: 1 }), undefined);
    assert.deepEqual(
      shiftMarks({ needle: { start: 10, end: 20 }, query: { start: 30, end: 40 } }, [
        { offset: 0, length: 0, inserted: 2 },
        { offset: 25, length: 1, inserted: 0 },
      ]),
      { needle: { start: 12, end: 22 }, query: { start: 31, end: 41 } },
    );
    assert.deepEqual(relativeSpan({ start: 12, end: 15 }, 10, 10), { start: 2, end: 5 });
    assert.equal(relativeSpan({ start: 5, end: 15 }, 10, 10), undefined);
  });
});

describe('CSV export', () => {
  const { analysis } = syntheticAnalysis();

  it('quotes fields and defuses spreadsheet formulas', () => {
    assert.equal(csvField('a,b'), '"a,b"');
    assert.equal(csvField('say "hi"'), '"say ""hi"""');
    assert.equal(csvField('=SUM(A1)'), "'=SUM(A1)");
    assert.equal(csvField('\n'), '"\n"');
    assert.equal(csvField(1.5), '1.5');
    assert.equal(csvField(NaN), '');
    assert.equal(csvField(undefined), '');
  });

  it('writes one row per token with a column per RePo layer and head, and one row per layer and head of needle mass', () => {
    const csv = positionsCsv(analysis, SYNTH_TEXT);
    const lines = csv.trimEnd().split('\r\n');
    assert.equal(lines[0], 'token,id,start,end,text,L1H0,L1H1,L1H2,L1H3,L2H0,L2H1,L2H2,L2H3');
    // Rows whose text holds a line break are quoted, so count records, not lines.
    assert.equal(csv.split(/\r\n(?=\d+,)/).length, analysis.tokens.length + 1);
    assert.ok(lines[1].startsWith(`0,${analysis.tokens[0].id},0,1,#,${analysis.positions[0][0][0]},`));
    const n = needleCsv(analysis).trimEnd().split('\r\n');
    assert.equal(n.length, 1 + 3 * 4);
    const [l, h, mass, needle, recent, rest] = n[1].split(',').map(Number);
    assert.deepEqual([l, h], [0, 0]);
    assert.equal(mass, analysis.needleMass![0][0]);
    assert.ok(Math.abs(needle + recent + rest - 1) < 1e-6);
  });
});

describe('webview protocol, state codec and HTML', () => {
  const { payload } = syntheticAnalysis();

  it('recognises webview messages and finds the token at an offset', () => {
    assert.equal(isWebviewMessage({ type: 'ready', protocol: 1 }), true);
    assert.equal(isWebviewMessage({ type: 'analysis' }), false, 'a host message is not a webview message');
    assert.equal(isWebviewMessage(null), false);
    const starts = [0, 1, 1, 3];
    const ends = [1, 3, 3, 4];
    assert.equal(tokenAtOffset(starts, ends, 0), 0);
    assert.equal(tokenAtOffset(starts, ends, 2), 1, 'the first byte token of a character');
    assert.equal(tokenAtOffset(starts, ends, 3), 3);
    assert.equal(tokenAtOffset(starts, ends, 4), -1);
    assert.equal(tokenAtOffset(starts, ends, -1), -1);
  });

  it('round-trips a payload through JSON (webview state) with typed arrays intact', () => {
    const back = decodePayload(JSON.parse(JSON.stringify(encodePayload(payload))));
    assert.ok(back.positions instanceof Float32Array && back.starts instanceof Int32Array);
    assert.deepEqual(back, payload);
  });

  it('serves a page with a strict CSP: nonce scripts, no unsafe-inline, nothing to connect to', () => {
    const nonce = makeNonce();
    assert.match(nonce, /^[A-Za-z0-9_-]{24}$/);
    assert.notEqual(nonce, makeNonce());
    const csp = explorerCsp('vscode-resource:', nonce);
    assert.equal(csp, `default-src 'none'; script-src 'nonce-${nonce}'; style-src vscode-resource: 'nonce-${nonce}'; img-src vscode-resource: data:; font-src vscode-resource:; connect-src 'none'`);
    const html = explorerHtml({ cspSource: 'https://x.vscode-cdn.net', nonce, scriptUri: 'https://x/explorer.js?a=1&b="2"', styleUri: 'https://x/explorer.css' });
    assert.doesNotMatch(html, /unsafe-inline|unsafe-eval/);
    assert.match(html, new RegExp(`<script nonce="${nonce}" src="https://x/explorer.js\\?a=1&amp;b=&quot;2&quot;"></script>`));
    assert.equal((html.match(/<script/g) ?? []).length, 1);
    assert.doesNotMatch(html, /<style/);
  });
});

describe('VSIX contents per target', () => {
  it('lets only the target platform’s onnxruntime binary back in', () => {
    const common = fs.readFileSync(path.join(ROOT, '.vscodeignore'), 'utf8');
    assert.match(common, /^node_modules\/\*\*$/m);
    assert.doesNotMatch(common, /^!node_modules\/onnxruntime-node\/bin/m);
    for (const line of ['src/**', 'test/**', 'tools/**', 'bench/**', 'out/**']) assert.ok(common.split('\n').includes(line), line);
    const linux = ignoreFileFor('linux-x64', common);
    assert.ok(linux.endsWith('!node_modules/onnxruntime-node/bin/napi-v6/linux/x64/**\n'));
    assert.ok(ignoreFileFor('win32-arm64', common).includes('napi-v6/win32/arm64/**'));
    assert.throws(() => ignoreFileFor('darwin-x64', common), /no onnxruntime-node binary for target darwin-x64/);
  });

  it('package.json points main at the bundle and declares the extension contributions', () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
    assert.equal(pkg.main, './dist/extension.js');
    assert.deepEqual(pkg.extensionKind, ['workspace']);
    assert.deepEqual(pkg.capabilities.untrustedWorkspaces, {
      supported: 'limited',
      description: pkg.capabilities.untrustedWorkspaces.description,
      restrictedConfigurations: ['repoLens.model'],
    });
    assert.equal(pkg.contributes.configuration.properties['repoLens.model'].scope, 'machine');
    const commands = pkg.contributes.commands.map((c: { command: string }) => c.command);
    for (const c of ['repoLens.analyze', 'repoLens.markNeedle', 'repoLens.markQuery', REVEAL_COMMAND]) assert.ok(commands.includes(c), c);
    const colors = pkg.contributes.colors.map((c: { id: string }) => c.id);
    for (let k = 1; k <= LEVELS; k++) assert.ok(colors.includes(`repoLens.level${k}`));
    for (const c of ['repoLens.queryBorder', 'repoLens.needleBorder', 'repoLens.boundary']) assert.ok(colors.includes(c));
    assert.equal(pkg.devDependencies['@types/vscode'], '1.90.0');
    assert.equal(pkg.engines.vscode, '^1.90.0');
  });
});

describe('cooperative serialisation (big exports)', () => {
  it('jsonPieces joins to exactly what JSON.stringify writes', () => {
    const { analysis } = syntheticAnalysis();
    const big = Array.from({ length: 20000 }, (_, i) => (i % 7 === 0 ? i / 3 : i % 11 === 0 ? NaN : -i));
    const values: unknown[] = [
      analysis,
      big,
      [[big, { a: big }], []],
      { a: undefined, b: [undefined, () => 1, null, 'x\u2028"y'], c: { d: Infinity }, e: new Date(0), f: new Float32Array([1.5, 2]) },
      Array.from({ length: 9000 }, (_, i) => ({ i, s: String(i) })),
      'text',
      42,
      null,
      [],
      {},
    ];
    for (const v of values) assert.equal([...jsonPieces(v)].join(''), JSON.stringify(v));
  });

  it('joinCooperatively lets the event loop run while it joins', async () => {
    let ticks = 0;
    const timer = setInterval(() => ticks++, 0);
    const pieces = function* () {
      for (let i = 0; i < 200; i++) {
        const until = Date.now() + 2; // 200 slow pieces: ≈ 0.4 s of work in total
        while (Date.now() < until);
        yield 'x'.repeat(1000);
      }
    };
    const s = await joinCooperatively(pieces(), 10_000);
    clearInterval(timer);
    assert.equal(s.length, 200_000);
    assert.ok(ticks >= 5, `the event loop ran ${ticks} times during the join`);
  });
});

describe('analyses saved across window reloads', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'repo-lens-store-'));

  it('round-trips payload and analysis, and only restores onto unchanged text', async () => {
    const { payload, analysis } = syntheticAnalysis();
    const store = new AnalysisStore(dir);
    const ranAt = new Date('2026-11-26T01:02:03Z');
    assert.equal(await store.save({ documentUri: 'file:///a.txt', payload, analysis, ranAt }), true);
    const back = (await store.load('file:///a.txt'))!;
    assert.deepEqual(back.payload, payload);
    assert.deepEqual(back.analysis, JSON.parse(JSON.stringify(analysis)));
    assert.equal(back.ranAt.toISOString(), ranAt.toISOString());
    assert.equal(await store.load('file:///other.txt'), undefined);
    // Whole-document analyses need the same text; a selection's analysis the same characters in its range.
    assert.equal(stillMatches(payload.text, { payload, range: undefined }), payload.baseOffset === 0);
    const sel = { ...payload, baseOffset: 4 };
    assert.equal(stillMatches('abcd' + payload.text + 'tail', { payload: sel, range: { start: 4, end: 4 + payload.text.length } }), true);
    assert.equal(stillMatches('abcd' + payload.text.replace(/./, 'Z') + 'tail', { payload: sel, range: { start: 4, end: 4 + payload.text.length } }), false);
  });

  it('ignores torn files, refuses oversized analyses and keeps only the newest files', async () => {
    const { payload, analysis } = syntheticAnalysis();
    const store = new AnalysisStore(dir);
    await store.save({ documentUri: 'file:///torn.txt', payload, analysis, ranAt: new Date() });
    const torn = fs.readdirSync(dir).map((f) => path.join(dir, f)).sort((a, b) => fs.statSync(b).mtimeMs - fs.statSync(a).mtimeMs)[0];
    fs.truncateSync(torn, 100);
    assert.equal(await store.load('file:///torn.txt'), undefined);
    const huge = { ...payload, positions: new Float32Array(5 * 2 ** 20) };
    assert.equal(await store.save({ documentUri: 'file:///torn.txt', payload: huge, analysis, ranAt: new Date() }), false);
    assert.ok(!fs.existsSync(torn), 'an oversized run also drops the older saved analysis of that document');
    for (let i = 0; i < MAX_FILES + 3; i++) await store.save({ documentUri: `file:///n${i}.txt`, payload, analysis, ranAt: new Date() });
    assert.equal(fs.readdirSync(dir).filter((f) => f.endsWith('.json')).length, MAX_FILES);
    assert.ok(await store.load(`file:///n${MAX_FILES + 2}.txt`), 'the newest is kept');
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
