// Operator ids, resolved once per qualified name ("aten::add.Tensor") and cached natively.
import { native } from './native.ts';

const cache = new Map<string, number>();

/** The id of an ATen operator; `qualified` is "ns::name" or "ns::name.overload". */
export function op(qualified: string): number {
  let id = cache.get(qualified);
  if (id === undefined) {
    const sep = qualified.indexOf('::');
    const dot = qualified.indexOf('.', sep);
    const name = dot < 0 ? qualified : qualified.slice(0, dot);
    const overload = dot < 0 ? '' : qualified.slice(dot + 1);
    id = native.op(name, overload);
    cache.set(qualified, id);
  }
  return id;
}

/** The operator's schema, for error messages and exploration. */
export function schemaOf(qualified: string): string {
  return native.schema(op(qualified));
}
