import test from 'node:test';
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import {
  SafetensorsCheckpoint, SafetensorsError, bytesToFloat32, float32ToHalfBits, readSafetensorsHeader,
} from '../src/engine/safetensors';
import { FIXTURES, copyFixture, readRawSafetensors, tmpDir, writeRawSafetensors, writeSafetensors } from './helpers/checkpoints';

const SHARDED = path.join(FIXTURES, 'random-repo-bf16-sharded');
const SINGLE = path.join(FIXTURES, 'random-repo-f16-yarn');

/** Expects a SafetensorsError whose message contains every fragment. */
async function refuses(p: Promise<unknown>, ...fragments: (string | RegExp)[]) {
  await assert.rejects(p, (e: Error) => {
    assert.ok(e instanceof SafetensorsError, `expected SafetensorsError, got ${e.name}: ${e.message}`);
    for (const f of fragments) {
      if (typeof f === 'string') assert.ok(e.message.includes(f), `message "${e.message}" lacks "${f}"`);
      else assert.match(e.message, f);
    }
    return true;
  });
}

test('half ↔ float: every finite half round-trips exactly; rounding is to nearest even', () => {
  const raw = new Uint16Array(65536).map((_, i) => i);
  const f = bytesToFloat32('F16', new Uint8Array(raw.buffer));
  for (let h = 0; h < 65536; h++) {
    if (Number.isNaN(f[h])) continue;
    assert.strictEqual(float32ToHalfBits(f[h]), h, `half 0x${h.toString(16)}`);
  }
  assert.strictEqual(f[0x3c00], 1);
  assert.strictEqual(f[0xc000], -2);
  assert.strictEqual(f[0x0001], 2 ** -24);
  assert.strictEqual(f[0x7c00], Infinity);
  assert.strictEqual(float32ToHalfBits(1 + 2 ** -11), 0x3c00); // tie → even (down)
  assert.strictEqual(float32ToHalfBits(1 + 3 * 2 ** -11), 0x3c02); // tie → even (up)
  assert.strictEqual(float32ToHalfBits(65519), 0x7bff);
  assert.strictEqual(float32ToHalfBits(65520), 0x7c00); // overflows to Inf
  assert.strictEqual(float32ToHalfBits(2 ** -25), 0); // tie between 0 and the smallest subnormal → 0
  assert.strictEqual(float32ToHalfBits(1.5 * 2 ** -25), 1);
});

test('bf16 is the top half of a float32', () => {
  const out = bytesToFloat32('BF16', Uint8Array.of(0x80, 0x3f, 0x40, 0xc0, 0x49, 0x40));
  assert.deepStrictEqual(Array.from(out), [1, -3, 3.140625]);
});

test('reads a single file: shapes, dtypes and values', async () => {
  const ck = await SafetensorsCheckpoint.open(SINGLE);
  assert.deepStrictEqual(ck.files.map((f) => path.basename(f)), ['model.safetensors']);
  const t = ck.get('model.layers.1.self_attn.final_map.weight');
  assert.strictEqual(t.dtype, 'F16');
  assert.deepStrictEqual(t.shape, [2, 8]);
  const raw = await ck.readRaw(t.name);
  const f32 = await ck.readFloat32(t.name);
  assert.strictEqual(f32.length, 16);
  // Independent decode of element 5 from the raw bytes.
  const bits = raw[10] | (raw[11] << 8);
  const sign = bits & 0x8000 ? -1 : 1;
  const exp = (bits >> 10) & 31;
  const manual = sign * (exp ? (1 + (bits & 1023) / 1024) * 2 ** (exp - 15) : (bits & 1023) * 2 ** -24);
  assert.strictEqual(f32[5], manual);
  // F16 → fp16 bytes is the identity.
  assert.deepStrictEqual(Buffer.from(await ck.readFloat16Bytes(t.name)), Buffer.from(raw));
});

test('reads sharded checkpoints through the index, converting BF16', async () => {
  const ck = await SafetensorsCheckpoint.open(SHARDED);
  const index = JSON.parse(fs.readFileSync(path.join(SHARDED, 'model.safetensors.index.json'), 'utf8'));
  assert.strictEqual(ck.tensors.size, Object.keys(index.weight_map).length);
  assert.strictEqual(ck.files.length, 2);
  const name = 'lm_head.weight';
  assert.strictEqual(path.basename(ck.get(name).file), index.weight_map[name]);
  const raw = await ck.readRaw(name);
  const f = await ck.readFloat32(name);
  const u16 = new Uint16Array(raw.buffer, raw.byteOffset, raw.byteLength / 2);
  const u32 = new Uint32Array(f.buffer);
  for (let i = 0; i < u16.length; i++) assert.strictEqual(u32[i], (u16[i] << 16) >>> 0);
});

test('chunked conversion equals whole-tensor conversion (f32 and f16)', async () => {
  const ck = await SafetensorsCheckpoint.open(SHARDED);
  const name = 'model.embed_tokens.weight';
  const whole = new Uint8Array((await ck.readFloat32(name)).buffer);
  const parts: Uint8Array[] = [];
  for await (const c of ck.convertedChunks(name, 'f32', 1000)) parts.push(Buffer.from(c));
  assert.ok(parts.length > 10, 'small chunk size should give many chunks');
  assert.deepStrictEqual(Buffer.concat(parts), Buffer.from(whole));
  const half: Uint8Array[] = [];
  for await (const c of ck.convertedChunks(name, 'f16', 998)) half.push(Buffer.from(c));
  assert.deepStrictEqual(Buffer.concat(half), Buffer.from(await ck.readFloat16Bytes(name)));
});

test('refuses values that overflow float16 when fp16 bytes are asked for', async () => {
  const dir = tmpDir('st-overflow');
  writeSafetensors(path.join(dir, 'model.safetensors'), [
    { name: 'w', dtype: 'F32', shape: [3], data: Float32Array.of(1, 70000, 2) },
  ]);
  const ck = await SafetensorsCheckpoint.open(dir);
  await refuses(ck.readFloat16Bytes('w'), 'model.safetensors', '"w"', 'element 1', 'float16');
});

// ---- damaged files -----------------------------------------------------------------------------

function editedSingle(edit: (header: Record<string, any>, data: Buffer) => { header: unknown; data: Buffer; len?: number }) {
  const dir = copyFixture('random-repo-f16-yarn');
  const file = path.join(dir, 'model.safetensors');
  const { header, data } = readRawSafetensors(file);
  const out = edit(header, data);
  writeRawSafetensors(file, out.header, out.data, out.len);
  return dir;
}

test('refuses a header length larger than the file', async () => {
  const dir = editedSingle((header, data) => ({ header, data, len: 10_000_000 }));
  await refuses(SafetensorsCheckpoint.open(dir), 'model.safetensors', 'header length 10000000 is larger than the file');
});

test('refuses a header that is not valid JSON', async () => {
  const dir = tmpDir('st-json');
  const file = path.join(dir, 'model.safetensors');
  const body = Buffer.from('{"w": {"dtype": "F32", ', 'utf8');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(body.length));
  fs.writeFileSync(file, Buffer.concat([len, body]));
  await refuses(readSafetensorsHeader(file), 'model.safetensors', 'not valid JSON');
});

test('refuses offsets that do not match shape × dtype', async () => {
  const dir = editedSingle((header, data) => {
    header['model.norm.weight'].shape = [65]; // 64 F16 values are stored
    return { header, data };
  });
  await refuses(SafetensorsCheckpoint.open(dir), 'model.safetensors', '"model.norm.weight"', 'needs 130');
});

test('refuses overlapping tensors', async () => {
  const dir = editedSingle((header, data) => {
    const a = header['lm_head.weight'].data_offsets;
    const b = header['model.embed_tokens.weight'];
    b.data_offsets = [a[0] + 2, a[0] + 2 + (b.data_offsets[1] - b.data_offsets[0])];
    return { header, data };
  });
  await refuses(SafetensorsCheckpoint.open(dir), 'model.safetensors', 'overlaps', 'model.embed_tokens.weight');
});

test('refuses out-of-range and malformed offsets', async () => {
  const dir = editedSingle((header, data) => {
    header['model.norm.weight'].data_offsets = [10, 4];
    return { header, data };
  });
  await refuses(SafetensorsCheckpoint.open(dir), '"model.norm.weight"', 'invalid data_offsets');
  const dir2 = editedSingle((header, data) => {
    const t = header['model.norm.weight'];
    const n = t.data_offsets[1] - t.data_offsets[0];
    t.data_offsets = [data.length, data.length + n]; // past the end of the data
    return { header, data };
  });
  await refuses(SafetensorsCheckpoint.open(dir2), 'model.safetensors', 'truncated', '"model.norm.weight"');
});

test('refuses an unknown dtype, naming the tensor', async () => {
  const dir = editedSingle((header, data) => {
    header['model.norm.weight'].dtype = 'F4';
    return { header, data };
  });
  await refuses(SafetensorsCheckpoint.open(dir), 'model.safetensors', '"model.norm.weight"', 'unknown dtype "F4"');
});

test('refuses a truncated shard, naming the shard and the tensor cut off', async () => {
  const dir = copyFixture('random-repo-bf16-sharded');
  const shard = path.join(dir, 'model-00002-of-00002.safetensors');
  const { header } = readRawSafetensors(shard);
  const last = Object.entries(header)
    .filter(([k]) => k !== '__metadata__')
    .sort((a: any, b: any) => b[1].data_offsets[1] - a[1].data_offsets[1])[0][0];
  fs.truncateSync(shard, fs.statSync(shard).size - 100);
  await refuses(SafetensorsCheckpoint.open(dir), 'model-00002-of-00002.safetensors', 'truncated', `"${last}"`);
});

test('refuses an index naming a missing shard', async () => {
  const dir = copyFixture('random-repo-bf16-sharded');
  fs.unlinkSync(path.join(dir, 'model-00002-of-00002.safetensors'));
  await refuses(SafetensorsCheckpoint.open(dir), 'model-00002-of-00002.safetensors', 'missing');
});

test('refuses an index placing a tensor in a shard that lacks it, or outside the folder', async () => {
  const dir = copyFixture('random-repo-bf16-sharded');
  const indexPath = path.join(dir, 'model.safetensors.index.json');
  const index = JSON.parse(fs.readFileSync(indexPath, 'utf8'));
  index.weight_map['model.extra.weight'] = 'model-00001-of-00002.safetensors';
  fs.writeFileSync(indexPath, JSON.stringify(index));
  await refuses(SafetensorsCheckpoint.open(dir), 'model-00001-of-00002.safetensors', '"model.extra.weight"');
  index.weight_map['model.extra.weight'] = '../elsewhere.safetensors';
  fs.writeFileSync(indexPath, JSON.stringify(index));
  await refuses(SafetensorsCheckpoint.open(dir), '"model.extra.weight"', 'invalid shard');
});

test('a file that shrinks after opening is reported when read', async () => {
  const dir = copyFixture('random-repo-f16-yarn');
  const ck = await SafetensorsCheckpoint.open(dir);
  const file = path.join(dir, 'model.safetensors');
  const last = [...ck.tensors.values()].sort((a, b) => b.offset - a.offset)[0];
  fs.truncateSync(file, last.offset + 2);
  await refuses(ck.readFloat32(last.name), 'model.safetensors', 'changed while the model was being read');
});

test('a shard moved away or rewritten after opening gives a clear message, not ENOENT or wrong numbers', async () => {
  const drain = async (ck: SafetensorsCheckpoint) => {
    for (const name of ck.tensors.keys()) for await (const _ of ck.convertedChunks(name, 'f32'));
  };
  const moved = copyFixture('random-repo-bf16-sharded');
  const ck = await SafetensorsCheckpoint.open(moved);
  const shards = fs.readdirSync(moved).filter((f) => f.endsWith('.safetensors')).sort();
  fs.renameSync(moved, moved + '-elsewhere');
  await refuses(drain(ck), shards[0], /disappeared while the model was being read \(was the folder moved or deleted\?\)/);

  const rewritten = copyFixture('random-repo-bf16-sharded');
  const ck2 = await SafetensorsCheckpoint.open(rewritten);
  const last = path.join(rewritten, shards[shards.length - 1]);
  fs.appendFileSync(last, Buffer.alloc(16));
  await refuses(drain(ck2), shards[shards.length - 1], /changed while the model was being read/);
});
