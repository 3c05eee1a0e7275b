// What the page says while it samples (src/web/progress.ts), for the server's page and the exported
// one alike: the bar's weighting, the status lines, and the NDJSON lines of a streamed generation,
// including the queue's `{"queued":{"position":N}}` (the server's format) shown as the place in line.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { progressFraction, readStreamLine, statusText } from '../src/web/progress.ts';

test('the bar weighs stage 1 as one stage-2 step and decoding as one more', () => {
  const steps = 4; // 6 units
  assert.equal(progressFraction({ stage: 'stage1', step: 0, total: 1 }, steps), 0);
  assert.equal(progressFraction({ stage: 'stage1', step: 1, total: 1 }, steps), 1 / 6);
  assert.equal(progressFraction({ stage: 'stage2', step: 2, total: 4 }, steps), 3 / 6);
  assert.equal(progressFraction({ stage: 'stage2', step: 4, total: 4 }, steps), 5 / 6);
  assert.equal(progressFraction({ stage: 'decode', step: 1, total: 1 }, steps), 1);
});

test('status lines name the stage and step, or the place in the queue', () => {
  assert.equal(statusText({ kind: 'progress', progress: { stage: 'stage2', step: 3, total: 8 } }), 'stage 2: step 3 of 8');
  assert.equal(statusText({ kind: 'progress', progress: { stage: 'stage1', step: 0, total: 1 } }), 'stage 1: code 0 of 1');
  assert.equal(statusText({ kind: 'queued', position: 1 }), 'waiting: next in line');
  assert.equal(statusText({ kind: 'queued', position: 3 }), 'waiting: number 3 in line');
});

test('stream lines become events, the result or the error; an unknown line is an error naming it', () => {
  assert.deepEqual(readStreamLine('{"queued":{"position":3}}'), { event: { kind: 'queued', position: 3 } });
  assert.deepEqual(readStreamLine('{"progress":{"stage":"stage2","step":1,"total":4}}'), {
    event: { kind: 'progress', progress: { stage: 'stage2', step: 1, total: 4 } },
  });
  assert.deepEqual(readStreamLine('{"result":{"images":[]}}'), { result: { images: [] } });
  assert.deepEqual(readStreamLine('{"error":"out of memory"}'), { error: 'out of memory' });
  assert.throws(() => readStreamLine('{"what":1}'), /a line the page does not know: \{"what":1\}/);
});
