#!/usr/bin/env node
// Reads `d2c eval` reports for the study scripts, whichever feature network named the metrics
// (fid_fmnist, fid_emoji, ...).
//   node scripts/report_metrics.mjs line REPORT_DIR
//       fid, kid, precision, recall of one report (and, for an oracle report, its PSNR and the
//       bound vq_recon_psnr − 3.01 dB)
//   node scripts/report_metrics.mjs paired DIR_A DIR_B SEED...
//       one line per seed and the mean ± sd over seeds of A − B; `{seed}` in a folder is the seed
import { existsSync, readFileSync } from 'node:fs';

const KEYS = ['fid', 'kid', 'precision', 'recall'];

function readMetrics(dir) {
  const file = `${dir}/report.json`;
  if (!existsSync(file)) throw new Error(`no report at ${file}`);
  return JSON.parse(readFileSync(file, 'utf8')).metrics;
}

/** The report's own name for a metric: `fid` → `fid_fmnist`. */
function metricName(metrics, key) {
  const name = Object.keys(metrics).find((n) => n.startsWith(`${key}_`));
  if (!name) throw new Error(`the report has no ${key}_* metric (it has ${Object.keys(metrics).join(', ')})`);
  return name;
}

function line(dir) {
  const m = readMetrics(dir);
  const parts = KEYS.map((k) => `${k} ${m[metricName(m, k)].toFixed(4)}`);
  if (m.psnr !== undefined) parts.push(`psnr ${m.psnr.toFixed(2)}`);
  if (m.vq_recon_psnr !== undefined) parts.push(`bound ${(m.vq_recon_psnr - 3.01).toFixed(2)}`);
  return parts.join(' ');
}

function meanSd(values) {
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  const sd = Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / Math.max(values.length - 1, 1));
  return `${mean.toFixed(3)} ± ${sd.toFixed(3)}`;
}

function paired(dirA, dirB, seeds) {
  const at = (dir, s) => readMetrics(dir.replaceAll('{seed}', s));
  const names = KEYS.map((k) => metricName(at(dirA, seeds[0]), k));
  const deltas = names.map(() => []);
  const lines = seeds.map((s) => {
    const [a, b] = [at(dirA, s), at(dirB, s)];
    for (const [i, n] of names.entries()) deltas[i].push(a[n] - b[n]);
    return `seed ${s}: ${names.map((n) => `${n} ${a[n].toFixed(3)} vs ${b[n].toFixed(3)}`).join(', ')}`;
  });
  lines.push(`A − B, mean ± sd over seeds: ${names.map((n, i) => `${n} ${meanSd(deltas[i])}`).join(', ')}`);
  return lines.join('\n');
}

const [command, ...args] = process.argv.slice(2);
try {
  if (command === 'line' && args.length === 1) console.log(line(args[0]));
  else if (command === 'paired' && args.length >= 3) console.log(paired(args[0], args[1], args.slice(2)));
  else throw new Error('usage: report_metrics.mjs line REPORT_DIR | paired DIR_A DIR_B SEED...');
} catch (e) {
  console.error(`report_metrics: ${e.message}`);
  process.exit(1);
}
