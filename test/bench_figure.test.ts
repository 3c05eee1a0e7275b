// The benchmark harness's figure lines (bench/load_case.ts): a plain number, or a JSON figure with
// figures beside it (ddp_scaling's images/s), as both a d2c case and its PyTorch twin print them.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatFigure, parseFigure } from '../bench/load_case.ts';

test('a number and a JSON figure round-trip through formatFigure/parseFigure', () => {
  assert.deepEqual(parseFigure(formatFigure(389.4)), { value: 389.4 });
  const f = { value: 1.16, detail: { images_s_1proc: 20, images_s_2proc: 23.1 } };
  assert.deepEqual(parseFigure(formatFigure(f)), f);
  // the PyTorch twin's json.dumps spacing
  assert.deepEqual(parseFigure('{"value": 0.98, "detail": {"images_s_1proc": 19.3}}'), {
    value: 0.98,
    detail: { images_s_1proc: 19.3 },
  });
});

test('lines that are no figure are refused', () => {
  for (const line of ['', 'NaN', 'ok', '{"value": "1"}', '{"value": 1, "detail": {"a": null}}', '{broken'])
    assert.equal(parseFigure(line), null, line);
});
