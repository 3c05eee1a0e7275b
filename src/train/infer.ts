// Defaults that come from the data rather than the preset: a generator's class count from its token
// cache, a tokenizer's image channels and size from its preset (or the checkpoint that trained it).
// Only what the user did not give is filled in; a given or preset value that conflicts with the data
// stays an error of the task naming both (stage1_task.ts, stage2_task.ts, tokenizer_task.ts).
import type { CacheMeta } from '../pipeline/cache.ts';
import type { PartConfig } from '../pipeline/parts.ts';
import { presetImageSize } from '../tokenizers/presets.ts';

/** The class-count field of a generator kind's config. */
export const CLASS_FIELD = { gpt: 'numClasses', mar: 'classNum' } as const;

/** `{numClasses | classNum: the cache's class count}` unless the user's overrides name the field. */
export function classCountFromCache(
  kind: 'gpt' | 'mar',
  meta: Pick<CacheMeta, 'classes'>,
  given: Record<string, unknown>,
): Record<string, unknown> {
  const field = CLASS_FIELD[kind];
  return field in given ? {} : { [field]: meta.classes.length };
}

/** The channels a tokenizer's config takes. */
export function tokenizerChannels(pc: PartConfig): 1 | 3 {
  const c = (pc.config as { inChannels?: number }).inChannels;
  if (c !== 1 && c !== 3) throw new Error(`${pc.preset}: inChannels must be 1 or 3, got ${c}`);
  return c;
}

/**
 * The image side a tokenizer was trained on (saved in its recipe by `train tokenizer`), else the
 * side its preset is made for; undefined when neither says.
 */
export function tokenizerImageSize(pc: PartConfig): number | undefined {
  const saved = pc.recipe?.imageSize;
  return typeof saved === 'number' ? saved : presetImageSize(pc.preset);
}
