// A one-line progress bar on stderr when it is a terminal (quiet otherwise: logs stay clean).
export interface ProgressBar {
  update(done: number, total: number, note?: string): void;
  done(): void;
}

export function progressBar(label: string, stream: NodeJS.WriteStream = process.stderr): ProgressBar {
  const t0 = performance.now();
  const tty = stream.isTTY;
  let shown = false;
  return {
    update(done, total, note = '') {
      if (!tty) return;
      const frac = total > 0 ? done / total : 0;
      const width = 24;
      const filled = Math.round(frac * width);
      const elapsed = (performance.now() - t0) / 1000;
      const eta = frac > 0 ? (elapsed * (1 - frac)) / frac : 0;
      stream.write(
        `\r${label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total} ${elapsed.toFixed(1)}s ETA ${eta.toFixed(0)}s ${note}  `,
      );
      shown = true;
    },
    done() {
      if (tty && shown) stream.write('\n');
    },
  };
}
