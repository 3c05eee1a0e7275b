// ATen operator schemas as the tracer needs them: which arguments are tensors, which are values.
// "aten::add.Tensor(Tensor self, Tensor other, *, Scalar alpha=1) -> Tensor"
import { native } from '../torch/native.ts';

export type ArgKind = 'tensor' | 'tensor?' | 'tensors' | 'tensor?s' | 'value';

export interface OpSchema {
  /** "aten::add.Tensor" */
  qualified: string;
  args: { name: string; kind: ArgKind; mutable: boolean }[];
  /** One letter per return: 't' tensor, 'l' tensor list, 'o' other. */
  returns: string;
}

const cache = new Map<number, OpSchema>();

function splitTop(s: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of s) {
    if (ch === '(' || ch === '[') depth++;
    if (ch === ')' || ch === ']') depth--;
    if (ch === ',' && depth === 0) {
      out.push(cur.trim());
      cur = '';
    } else cur += ch;
  }
  if (cur.trim()) out.push(cur.trim());
  return out;
}

export function parseSchema(text: string, returns: string): OpSchema {
  const open = text.indexOf('(');
  const qualified = text.slice(0, open);
  let depth = 0;
  let close = open;
  for (let i = open; i < text.length; i++) {
    if (text[i] === '(') depth++;
    if (text[i] === ')') depth--;
    if (depth === 0) {
      close = i;
      break;
    }
  }
  const args = splitTop(text.slice(open + 1, close))
    .filter((a) => a !== '*')
    .map((a) => {
      const decl = a.split('=')[0].trim();
      const sp = decl.lastIndexOf(' ');
      const type = decl.slice(0, sp);
      const name = decl.slice(sp + 1);
      const bare = type.replace(/\([^)]*\)/g, '');
      const kind: ArgKind =
        bare === 'Tensor'
          ? 'tensor'
          : bare === 'Tensor?'
            ? 'tensor?'
            : bare === 'Tensor[]'
              ? 'tensors'
              : bare === 'Tensor?[]'
                ? 'tensor?s'
                : 'value';
      return { name, kind, mutable: type.includes('!') };
    });
  return { qualified, args, returns };
}

/** The schema of an operator id (cached). */
export function schemaOfId(id: number): OpSchema {
  let s = cache.get(id);
  if (!s) {
    s = parseSchema(native.schema(id), native.returnKinds(id));
    cache.set(id, s);
  }
  return s;
}
