// `d2c pack`: its defaults are the one source of sampling defaults (those the shipped model's card
// recommends), and a re-pack rewrites only pack's block of the model card, keeping the rest.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { SAMPLING_DEFAULTS } from '../src/cli/commands/pack.ts';
import { blockMarkers, readGeneratedBlock } from '../src/cli/generated_block.ts';
import { buildProgram } from '../src/cli/main.ts';
import { CARD_TOOL, type PartSummary, packBlock, samplingSection } from '../src/cli/model_card.ts';
import type { D2CModelInfo } from '../src/pipeline/d2c.ts';
import { readPartConfig } from '../src/pipeline/parts.ts';
import { ROOT, tinyCache, writeTinyPart } from './helpers/tiny_pipeline.ts';

const SHIPPED = join(ROOT, 'models', 'd2c-fmnist');
const shippedInfo = JSON.parse(readFileSync(join(SHIPPED, 'd2c.json'), 'utf8')) as D2CModelInfo;

let root: string;
let parts: string[];
before(async () => {
  root = mkdtempSync(join(tmpdir(), 'd2c-pack-'));
  const { vq, kl, cache } = await tinyCache(join(root, 'parts'), 16);
  const s1 = writeTinyPart(join(root, 'parts', 's1'), 'gpt', 3);
  const s2 = writeTinyPart(join(root, 'parts', 's2'), 'mar', 4, { fusion: 'add' });
  parts = ['--vq', vq, '--kl', kl, '--stage1', s1, '--stage2', s2, '--cache', cache];
});
after(() => rmSync(root, { recursive: true, force: true }));

/** `d2c pack …` run in this process, as the CLI parses it. */
async function pack(out: string, ...flags: string[]): Promise<void> {
  await buildProgram().parseAsync(['node', 'd2c', 'pack', ...parts, '--out', out, ...flags]);
}

test("pack's defaults are the shipped model's d2c.json settings, and pack without flags writes them", async () => {
  assert.deepEqual(SAMPLING_DEFAULTS.stage1, shippedInfo.stage1);
  // the head's guidance is the one default pack takes from the stage 2: its distilled head where it has one
  const distilled = readPartConfig(join(SHIPPED, 'stage2')).config.guidedHead === true;
  assert.deepEqual(
    { ...SAMPLING_DEFAULTS.stage2, headGuidance: distilled ? 'distilled' : 'cfg' },
    { headGuidance: 'cfg', ...shippedInfo.stage2 },
  );
  const out = join(root, 'plain');
  await pack(out);
  const info = JSON.parse(readFileSync(join(out, 'd2c.json'), 'utf8')) as D2CModelInfo;
  assert.deepEqual(info.stage1, SAMPLING_DEFAULTS.stage1);
  assert.deepEqual(info.stage2, SAMPLING_DEFAULTS.stage2);
  // The card shows the settings d2c.json holds.
  const card = readFileSync(join(out, 'README.md'), 'utf8');
  assert.ok(card.includes(samplingSection(info)), card);
});

test('a re-pack rewrites only its own block of the model card: hand-written sections survive', async () => {
  const out = join(root, 'carded');
  await pack(out, '--name', 'carded');
  const first = readFileSync(join(out, 'README.md'), 'utf8');
  const { begin, end } = blockMarkers(CARD_TOOL);
  assert.ok(first.startsWith('# carded\n') && first.includes(begin) && first.includes(end));
  const intro = 'Written by hand: what this model is for.\n\n';
  const metrics = '\n\n## Metrics\n\n| output | FID |\n| --- | --- |\n| final | measured by hand |\n';
  writeFileSync(join(out, 'README.md'), first.replace(begin, `${intro}${begin}`) + metrics);
  await pack(out, '--steps', '2', '--stage2-cfg', '5');
  const second = readFileSync(join(out, 'README.md'), 'utf8');
  assert.ok(second.includes(intro) && second.endsWith(metrics), second);
  const block = readGeneratedBlock(second, CARD_TOOL) ?? '';
  assert.match(block, /"cfg":5,.*"steps":2,/, 'the block shows the new settings');
  assert.equal(second.split(begin).length, 2, 'one block, not two');
});

test('a card without pack’s block is kept whole, with the block appended', async () => {
  const out = join(root, 'legacy');
  await pack(out);
  const legacy = '# legacy\n\nAn older card, all of it by hand.\n';
  writeFileSync(join(out, 'README.md'), legacy);
  await pack(out);
  const card = readFileSync(join(out, 'README.md'), 'utf8');
  assert.ok(card.startsWith(legacy), card);
  assert.ok(readGeneratedBlock(card, CARD_TOOL)?.includes('## Sampling defaults'));
});

test('a broken block (one marker missing) is an error naming it, and the card is left as it was', async () => {
  const out = join(root, 'broken');
  await pack(out);
  const { end } = blockMarkers(CARD_TOOL);
  const broken = readFileSync(join(out, 'README.md'), 'utf8').replace(end, '');
  writeFileSync(join(out, 'README.md'), broken);
  await assert.rejects(pack(out), /the block written by d2c pack is broken/);
  assert.equal(readFileSync(join(out, 'README.md'), 'utf8'), broken);
});

test("the shipped model card's pack block agrees with its folder: parts, parameters, defaults, commands", () => {
  const card = readFileSync(join(SHIPPED, 'README.md'), 'utf8');
  const block = readGeneratedBlock(card, CARD_TOOL);
  assert.ok(block, 'models/d2c-fmnist/README.md has no block written by d2c pack');
  const summaries: Record<string, PartSummary> = {};
  for (const k of ['vq', 'kl', 'stage1', 'stage2']) summaries[k] = { dir: k, config: readPartConfig(join(SHIPPED, k)) };
  // Re-rendered without the training logs (not in the folder): the table's log columns come out
  // empty, so compare those rows on their first four cells and every other line exactly.
  const fresh = packBlock(shippedInfo, summaries, true).split('\n');
  const shipped = block.split('\n');
  assert.equal(shipped.length, fresh.length, block);
  const cells = (row: string) => row.split('|').slice(1, 5).join('|');
  for (let i = 0; i < fresh.length; i++) {
    if (/^\| (vq|kl|stage1|stage2) \|/.test(fresh[i])) assert.equal(cells(shipped[i]), cells(fresh[i]));
    else assert.equal(shipped[i], fresh[i]);
  }
});
