// The image sets the FID commands read: a flat folder of images (as pytorch-fid reads one) or an
// ImageFolder root, decoded a batch at a time, so memory stays flat over any number of files, and an
// ADM-style `.npz` of images (`arr_0`, [N, H, W, 3] uint8). Images keep their own size: the feature network resizes them.

import { readdirSync, statSync } from 'node:fs';
import { extname, join } from 'node:path';
import sharp from 'sharp';
import { decodeImage, IMAGE_EXTENSIONS } from '../data/image_folder.ts';
import type { Tensor } from '../torch/index.ts';
import * as torch from '../torch/index.ts';
import { INCEPTION_SIZE } from './inception.ts';

/**
 * Image files directly inside `dir`, sorted; when it holds none, those of its class folders (an
 * ImageFolder root). Hidden files and Markdown notes are ignored; any other file that is not an
 * image is an error (it would silently change the statistics if skipped).
 */
export function listImageFiles(dir: string): string[] {
  const st = statSync(dir, { throwIfNoEntry: false });
  if (!st) throw new Error(`${dir}: no such folder`);
  if (!st.isDirectory()) throw new Error(`${dir}: not a folder of images`);
  const { files, folders } = imagesIn(dir);
  // An ImageFolder root (root/<class>/<image>, as `d2c data emoji` writes): the images of every class.
  if (files.length === 0) for (const f of folders) files.push(...imagesIn(f).files);
  if (files.length === 0)
    throw new Error(`${dir}: the folder has no images (${IMAGE_EXTENSIONS.join(', ')}), neither itself nor in class folders`);
  if (files.length < 2) throw new Error(`${dir}: found 1 image; need at least 2 for a covariance`);
  return files;
}

/** The images of one folder (sorted) and its sub-folders; any other file is an error naming it. */
function imagesIn(dir: string): { files: string[]; folders: string[] } {
  const files: string[] = [];
  const folders: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    if (name.startsWith('.')) continue;
    const path = join(dir, name);
    if (statSync(path).isDirectory()) {
      folders.push(path);
      continue;
    }
    if (extname(name).toLowerCase() === '.md') continue; // a dataset's README
    if (!(IMAGE_EXTENSIONS as readonly string[]).includes(extname(name).toLowerCase()))
      throw new Error(`${path} is not an image (expected ${IMAGE_EXTENSIONS.join(', ')}); move it out of ${dir}`);
    files.push(path);
  }
  return { files, folders };
}

/** Decodes a file to 8-bit RGB at its own size (gray repeated, alpha dropped: PIL's convert('RGB')). */
async function decodeRgb(path: string): Promise<{ data: Buffer; width: number; height: number }> {
  try {
    const { data, info } = await sharp(path).toColourspace('srgb').removeAlpha().raw({ depth: 'uchar' }).toBuffer({
      resolveWithObject: true,
    });
    if (info.channels !== 3) throw new Error(`decoded to ${info.channels} channels`);
    return { data, width: info.width, height: info.height };
  } catch (e) {
    throw new Error(`${path} is not a readable image (${(e as Error).message.split('\n')[0]})`);
  }
}

/** uint8 HWC (one image) or NHWC pixels → [N, 3, 299, 299] float32 in [−1, 1], each image resized on its own. */
function toInceptionBatch(images: Tensor[]): Tensor {
  return torch.tidy(() =>
    torch.cat(
      images.map((hwc) => {
        const x = hwc.permute(2, 0, 1).unsqueeze(0).to('float32').div(127.5).sub(1); // [1, 3, H, W]
        const [, , h, w] = x.shape;
        return h === INCEPTION_SIZE && w === INCEPTION_SIZE
          ? x
          : torch.F.interpolateBilinear(x, [INCEPTION_SIZE, INCEPTION_SIZE], false);
      }),
      0,
    ),
  );
}

/**
 * Files [start, end) as the Inception's input [b, 3, 299, 299] in [−1, 1]. Each image is resized to
 * 299 by itself (bilinear, align_corners false): the same values as pytorch-fid's batched resize,
 * and folders of mixed sizes work.
 */
export async function inceptionBatchFromFiles(files: readonly string[], start: number, end: number): Promise<Tensor> {
  const decoded = await Promise.all(files.slice(start, end).map(decodeRgb));
  return torch.tidy(() =>
    toInceptionBatch(decoded.map((d) => torch.fromBuffer(new Uint8Array(d.data), [d.height, d.width, 3], 'uint8'))),
  );
}

/** Files [start, end) decoded to [b, C, size, size] (centre crop, d2c's data pipeline) in [−1, 1]. */
export async function fixedSizeBatchFromFiles(
  files: readonly string[],
  start: number,
  end: number,
  size: number,
  channels: 1 | 3,
): Promise<Tensor> {
  const per = channels * size * size;
  const pixels = new Uint8Array((end - start) * per);
  for (let i = start; i < end; i++) {
    try {
      pixels.set(await decodeImage(files[i], size, channels), (i - start) * per);
    } catch (e) {
      throw new Error(`${files[i]} is not a readable image (${(e as Error).message.split('\n')[0]})`);
    }
  }
  return torch.tidy(() =>
    torch
      .fromBuffer(pixels, [end - start, channels, size, size], 'uint8')
      .to('float32')
      .div(127.5)
      .sub(1),
  );
}

/** Images [start, end) of an ADM-style array [N, H, W, 3] (or [N, H, W] gray) uint8 as the Inception's input. */
export function inceptionBatchFromArray(arr: Tensor, start: number, end: number): Tensor {
  return torch.tidy(() => {
    const part = arr.narrow(0, start, end - start);
    const nhwc = part.ndim === 3 ? part.unsqueeze(3).expand(end - start, part.shape[1], part.shape[2], 3) : part;
    return toInceptionBatch(nhwc.unbind(0));
  });
}
