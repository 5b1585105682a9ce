/**
 * Small checkpoints generated deterministically in TypeScript (nothing committed but their golden
 * outputs). They cover what the committed fixtures do not: `nope` RePo layers and plain OLMo-2
 * (no RePo layers, positions output [0,H,T]).
 *
 * Golden data: test/data/generated-golden/<name>.json, made once with the PyTorch reference:
 *   node out/test/helpers/generated-fixtures.js /tmp/gen        # writes the checkpoints
 *   /work/venv/bin/python test/data/make-generated-golden.py /tmp/gen
 */
import * as path from 'path';
import { makeRandomCheckpoint, TinyConfig } from './checkpoints';

export const GENERATED: Record<string, TinyConfig> = {
  'gen-nope': {
    vocab: 64, hidden: 32, intermediate: 48, layers: 3, heads: 2, seed: 11,
    // Mode given only under the misspelled key, as the official code also accepts.
    peConfig: { dynmaic_pe_mode: 'nope', dynmaic_pe_start_layer: 1, dynmaic_pe_layer_ids: '' },
    repoLayers: [],
  },
  'gen-plain': {
    vocab: 64, hidden: 32, intermediate: 48, layers: 2, heads: 4, seed: 12, dtype: 'BF16',
    peConfig: null,
    repoLayers: [],
  },
};

export function writeGenerated(name: string, dir: string): void {
  makeRandomCheckpoint(dir, GENERATED[name]);
}

if (require.main === module && process.argv[2]) {
  for (const name of Object.keys(GENERATED)) writeGenerated(name, path.join(process.argv[2], name));
}
