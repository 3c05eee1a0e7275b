// src/io: the one atomic file writer and the one guarded JSON / JSONL reader.
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { writeFileAtomic } from '../src/io/atomic_file.ts';
import { readJsonFile, readJsonLines, trimTornLine } from '../src/io/json_file.ts';

const dir = () => mkdtempSync(join(tmpdir(), 'd2c-io-'));

test('writeFileAtomic: text, bytes and pieces, a new folder, an overwrite; no temp file left', () => {
  const d = dir();
  const p = join(d, 'sub', 'a.txt');
  writeFileAtomic(p, 'hello');
  assert.equal(readFileSync(p, 'utf8'), 'hello');
  writeFileAtomic(p, new Uint8Array([104, 105]));
  assert.equal(readFileSync(p, 'utf8'), 'hi');
  writeFileAtomic(p, (write) => {
    write(Buffer.from('ab'));
    write(Buffer.from('cd'));
  });
  assert.equal(readFileSync(p, 'utf8'), 'abcd');
  assert.deepEqual(readdirSync(join(d, 'sub')), ['a.txt']);
});

test('writeFileAtomic: a writer that fails leaves the old file whole and no temp file', () => {
  const d = dir();
  const p = join(d, 'a.json');
  writeFileAtomic(p, '{"old":true}');
  assert.throws(
    () =>
      writeFileAtomic(p, (write) => {
        write(Buffer.from('{"new":'));
        throw new Error('disk on fire');
      }),
    /disk on fire/,
  );
  assert.equal(readFileSync(p, 'utf8'), '{"old":true}');
  assert.deepEqual(readdirSync(d), ['a.json']);
});

test('readJsonFile: errors name the file', () => {
  const d = dir();
  assert.throws(() => readJsonFile(join(d, 'nope.json')), /nope\.json: cannot read it \(no such file\)/);
  writeFileSync(join(d, 'bad.json'), '{"a": 1,');
  assert.throws(() => readJsonFile(join(d, 'bad.json')), /bad\.json: not valid JSON \(/);
  writeFileSync(join(d, 'ok.json'), '{"a": 1}');
  assert.deepEqual(readJsonFile(join(d, 'ok.json')), { a: 1 });
});

test('readJsonLines: a bad line is an error naming file and line; a torn last line of an append-only log is skipped with a warning', () => {
  const d = dir();
  const p = join(d, 'log.jsonl');
  writeFileSync(p, '{"step":1}\n\n{"step":2}\n');
  assert.deepEqual(readJsonLines(p), [{ step: 1 }, { step: 2 }]);
  writeFileSync(p, '{"step":1}\n{"st\n{"step":3}\n');
  assert.throws(() => readJsonLines(p, { appendOnly: true }), /log\.jsonl:2: not valid JSON/);
  writeFileSync(p, '{"step":1}\n{"step":2}\n{"step":3,"lo');
  assert.throws(() => readJsonLines(p), /log\.jsonl:3: not valid JSON/);
  const warnings: string[] = [];
  assert.deepEqual(readJsonLines(p, { appendOnly: true, warn: (m) => warnings.push(m) }), [{ step: 1 }, { step: 2 }]);
  assert.equal(warnings.length, 1);
  assert.match(warnings[0], /log\.jsonl:3: skipped a torn last line/);
});

test('trimTornLine: cuts a torn tail so the next append starts a line of its own', () => {
  const d = dir();
  const p = join(d, 'log.jsonl');
  const warnings: string[] = [];
  assert.equal(
    trimTornLine(p, (m) => warnings.push(m)),
    false,
    'no file: nothing to do',
  );
  writeFileSync(p, '{"step":1}\n{"step":2}\n');
  assert.equal(
    trimTornLine(p, (m) => warnings.push(m)),
    false,
  );
  writeFileSync(p, '{"step":1}\n{"step":2,"loss":0.');
  assert.equal(
    trimTornLine(p, (m) => warnings.push(m)),
    true,
  );
  assert.equal(readFileSync(p, 'utf8'), '{"step":1}\n');
  assert.match(warnings[0], /cut a torn last line of 19 bytes/);
  writeFileSync(p, '{"no newline at all');
  assert.equal(
    trimTornLine(p, () => {}),
    true,
  );
  assert.equal(readFileSync(p, 'utf8'), '');
});
