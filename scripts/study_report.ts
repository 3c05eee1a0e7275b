// Writes docs/study/README.md's measured part from scripts/study.sh's outputs: one table row per
// arm and setting (FID-FMNIST, IS, precision, recall, oracle PSNR, parameters, training time,
// seconds per image), PNG plots of FID against AR steps and against seconds per image (one line
// per arm), and each arm's sample grid copied beside it.
//   npx tsx scripts/study_report.ts runs/study docs/study
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';

interface Row {
  arm: string;
  setting: string;
  ar: number | null;
  diffusion: number | null;
  fid: number;
  is: number;
  precision: number;
  recall: number;
  agreement: number;
  secPerImage: number;
  oracle?: { psnr: number; vq: number; kl: number };
}

const [studyDir = 'runs/study', outDir = 'docs/study'] = process.argv.slice(2);
const ARMS = ['stage1-only', 'mar-only', 'qformer', 'crossattn', 'add', 'prefix', 'add-mix'];

function readJson<T>(p: string): T {
  return JSON.parse(readFileSync(p, 'utf8')) as T;
}

/** scripts/study_timing.ts's seconds per image, measured on an idle machine (preferred when present). */
const timing: Record<string, Record<string, number>> = existsSync(join(studyDir, 'timing.json'))
  ? readJson<{ secondsPerImage: Record<string, Record<string, number>> }>(join(studyDir, 'timing.json')).secondsPerImage
  : {};

function rows(): Row[] {
  const out: Row[] = [];
  for (const arm of ARMS.slice(1)) {
    const evalDir = join(studyDir, arm, 'eval');
    if (!existsSync(evalDir)) continue;
    for (const name of readdirSync(evalDir).sort()) {
      const rp = join(evalDir, name, 'report.json');
      if (!existsSync(rp)) continue;
      const r = readJson<{ n: number; metrics: Record<string, number>; seconds: { sampling: number } }>(rp);
      const m = r.metrics;
      const ar = /ar(\d+)/.exec(name);
      const d = /d(\d+)$/.exec(name);
      const armName = name === 'stage1-only' ? 'stage1-only' : arm;
      out.push({
        arm: armName,
        setting: name,
        ar: ar ? Number(ar[1]) : null,
        diffusion: d ? Number(d[1]) : null,
        fid: m.fid_fmnist,
        is: m.is_fmnist,
        precision: m.precision_fmnist,
        recall: m.recall_fmnist,
        agreement: m.class_agreement_fmnist,
        secPerImage: timing[arm]?.[name.replace(/^oracle-/, '')] ?? r.seconds.sampling / r.n,
        oracle: m.psnr !== undefined ? { psnr: m.psnr, vq: m.vq_recon_psnr, kl: m.kl_recon_psnr } : undefined,
      });
    }
  }
  return out;
}

function trainInfo(arm: string): { params: string; minutes: string } {
  const cfg = join(studyDir, arm, 'model', 'README.md');
  if (!existsSync(cfg)) return { params: '', minutes: '' };
  const card = readFileSync(cfg, 'utf8');
  const line = card.split('\n').find((l) => l.startsWith('| stage2 |'));
  const s1 = card.split('\n').find((l) => l.startsWith('| stage1 |'));
  const cells = (l?: string) => (l ? l.split('|').map((c) => c.trim()) : []);
  const [s2c, s1c] = [cells(line), cells(s1)];
  const p = (s2c[4] ? Number.parseFloat(s2c[4]) : 0) + (s1c[4] ? Number.parseFloat(s1c[4]) : 0);
  return { params: s1c.length ? `${s1c[4]} + ${s2c[4]} = ${p.toFixed(2)}M` : `${s2c[4] ?? ''}`, minutes: s2c[6] ?? '' };
}

const fmt = (x: number | undefined, d = 2) => (x === undefined || Number.isNaN(x) ? '' : x.toFixed(d));

function table(rs: Row[]): string {
  const head =
    '| arm | setting | FID-FMNIST | IS-FMNIST | precision | recall | class agreement | oracle PSNR (VQ recon / KL recon) | parameters (stage 1 + stage 2) | stage-2 training | s / image |\n' +
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |';
  const body = rs.map((r) => {
    const t = r.arm === 'stage1-only' ? { params: 'stage 1 only', minutes: '' } : trainInfo(r.arm);
    const oracle = r.oracle ? `${fmt(r.oracle.psnr)} dB (${fmt(r.oracle.vq)} / ${fmt(r.oracle.kl)})` : '';
    return `| ${r.arm} | ${r.setting} | ${fmt(r.fid)} | ${fmt(r.is)} | ${fmt(r.precision, 3)} | ${fmt(r.recall, 3)} | ${fmt(r.agreement, 3)} | ${oracle} | ${t.params} | ${t.minutes} | ${fmt(r.secPerImage, 4)} |`;
  });
  return [head, ...body].join('\n');
}

const COLORS = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2'];

/** A small line plot as SVG: one polyline per series, log-x when asked. */
function plot(series: { name: string; pts: [number, number][] }[], xLabel: string, logX: boolean, title: string): string {
  const W = 640;
  const H = 400;
  const [l, r, t, b] = [60, 150, 30, 50];
  const all = series.flatMap((s) => s.pts);
  const fx = (x: number) => (logX ? Math.log2(x) : x);
  const xs = all.map((p) => fx(p[0]));
  const ys = all.map((p) => p[1]);
  const [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  const [y0, y1] = [Math.min(...ys) * 0.95, Math.max(...ys) * 1.05];
  const px = (x: number) => l + ((fx(x) - x0) / (x1 - x0 || 1)) * (W - l - r);
  const py = (y: number) => H - b - ((y - y0) / (y1 - y0 || 1)) * (H - t - b);
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2 - 60}" y="18" font-size="14">${title}</text>`,
    `<line x1="${l}" y1="${H - b}" x2="${W - r}" y2="${H - b}" stroke="black"/>`,
    `<line x1="${l}" y1="${t}" x2="${l}" y2="${H - b}" stroke="black"/>`,
    `<text x="${(W - r + l) / 2 - 40}" y="${H - 12}">${xLabel}</text>`,
    `<text x="10" y="${t + 10}">FID</text>`,
  ];
  for (let i = 0; i <= 4; i++) {
    const y = y0 + ((y1 - y0) * i) / 4;
    parts.push(`<text x="${l - 45}" y="${py(y) + 4}">${y.toFixed(1)}</text>`);
  }
  const ticks = [...new Set(all.map((p) => p[0]))].sort((a, c) => a - c);
  for (const x of ticks.length <= 8 ? ticks : [ticks[0], ticks[ticks.length - 1]])
    parts.push(`<text x="${px(x) - 10}" y="${H - b + 16}">${Number(x.toPrecision(2))}</text>`);
  series.forEach((s, i) => {
    const c = COLORS[i % COLORS.length];
    const pts = [...s.pts].sort((a, d) => a[0] - d[0]);
    parts.push(
      `<polyline fill="none" stroke="${c}" stroke-width="2" points="${pts.map(([x, y]) => `${px(x)},${py(y)}`).join(' ')}"/>`,
    );
    for (const [x, y] of pts) parts.push(`<circle cx="${px(x)}" cy="${py(y)}" r="3" fill="${c}"/>`);
    parts.push(`<text x="${W - r + 10}" y="${t + 16 * i + 10}" fill="${c}">${s.name}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n');
}

async function main(): Promise<void> {
  mkdirSync(outDir, { recursive: true });
  const rs = rows();
  if (rs.length === 0) throw new Error(`no evaluation reports under ${studyDir}/*/eval`);
  const generated = rs.filter((r) => !r.setting.startsWith('oracle') && !r.setting.endsWith('clip0') && r.arm !== 'stage1-only');
  const arms = [...new Set(generated.map((r) => r.arm))];
  const byAr = arms.map((a) => ({
    name: a,
    pts: generated
      .filter((r) => r.arm === a && r.diffusion === 25 && r.ar)
      .map((r) => [r.ar as number, r.fid] as [number, number]),
  }));
  const bySpeed = arms.map((a) => ({
    name: a,
    pts: generated.filter((r) => r.arm === a).map((r) => [r.secPerImage, r.fid] as [number, number]),
  }));
  const s1 = rs.find((r) => r.arm === 'stage1-only');
  if (s1) bySpeed.push({ name: 'stage1-only', pts: [[s1.secPerImage, s1.fid]] });
  await sharp(Buffer.from(plot(byAr, 'stage-2 AR steps (25 diffusion steps)', true, 'FID-FMNIST vs AR steps')))
    .png()
    .toFile(join(outDir, 'fid_vs_ar_steps.png'));
  await sharp(Buffer.from(plot(bySpeed, 'seconds per image (log)', true, 'FID-FMNIST vs sampling time')))
    .png()
    .toFile(join(outDir, 'fid_vs_seconds.png'));
  for (const a of ARMS) {
    // ar8-d25, else the most AR steps evaluated
    const settings =
      a === 'stage1-only'
        ? [join('qformer', 'eval', 'stage1-only')]
        : ['ar8-d25', 'ar4-d25', 'ar2-d25', 'ar1-d25'].map((n) => join(a, 'eval', n));
    const grid = settings.map((d) => join(studyDir, d, 'samples.png')).find((g) => existsSync(g));
    if (grid) copyFileSync(grid, join(outDir, `samples_${a}.png`));
  }
  writeFileSync(join(outDir, 'results.md'), `${table(rs)}\n`);
  process.stdout.write(`${table(rs)}\n\nwrote ${outDir}/results.md, fid_vs_ar_steps.png, fid_vs_seconds.png\n`);
}

await main();
