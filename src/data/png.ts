// Image output: tensors [B, C, H, W] in [-1, 1] → PNG files (one per image, or a grid).
// Conversion and layout follow torchvision's `save_image(x, normalize=True, value_range=(-1, 1))`
// and `make_grid(nrow, padding, pad_value)` that MAR's sampling script uses (LTH14/mar main_mar.py
// via engine_mar.evaluate), so grids look the same. PNG bytes come from sharp with fixed settings
// and no metadata: the same pixels always give the same file.
import { writeFileAtomic } from '../io/atomic_file.ts';
import * as torch from '../torch/index.ts';
import { encodePng, type GridOptions, makeGrid, type Uint8Batch } from './png_encode.ts';

export { encodePng, type GridOptions, makeGrid, type Uint8Batch } from './png_encode.ts';

/** [-1, 1] float → uint8 as save_image does: clamp, map to [0, 1], ×255 + 0.5, clamp, truncate. */
export function toUint8Batch(images: torch.Tensor): Uint8Batch {
  if (images.shape.length !== 4) throw new Error(`toUint8Batch: expected [B, C, H, W], got [${images.shape.join(', ')}]`);
  const [count, channels, height, width] = images.shape;
  if (channels !== 1 && channels !== 3) throw new Error(`toUint8Batch: expected 1 or 3 channels, got ${channels}`);
  const data = torch.tidy(() =>
    images.detach().to('cpu').to('float32').clamp(-1, 1).add(1).div(2).mul(255).add(0.5).clamp(0, 255).to('uint8'),
  );
  try {
    return { data: data.toTypedArray() as Uint8Array, count, channels, height, width };
  } finally {
    data.dispose();
  }
}

/** Saves a tensor batch in [-1, 1] as one PNG grid. */
export async function saveImageGrid(images: torch.Tensor | Uint8Batch, path: string, opts: GridOptions = {}): Promise<void> {
  const batch = images instanceof torch.Tensor ? toUint8Batch(images) : images;
  writeFileAtomic(path, await encodePng(makeGrid(batch, opts)));
}

/** Saves each image of a batch as its own PNG: `pathFor(i)` names image i. Returns the paths. */
export async function saveImages(images: torch.Tensor | Uint8Batch, pathFor: (i: number) => string): Promise<string[]> {
  const batch = images instanceof torch.Tensor ? toUint8Batch(images) : images;
  const paths: string[] = [];
  for (let i = 0; i < batch.count; i++) {
    const p = pathFor(i);
    writeFileAtomic(p, await encodePng(batch, i));
    paths.push(p);
  }
  return paths;
}
