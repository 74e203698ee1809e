// Native containers: their forward runs in C++, children after children.
import { Module } from './module';
import { NativeModule, createNative } from './native-module';

/** Children as a list (named '0', '1', ...), an object (its keys in order), or [name, module] pairs. */
export type Children = Module[] | Record<string, Module> | [string, Module][];

function named(children: Children | undefined, who: string): [string, NativeModule][] {
  if (children === undefined) return [];
  const pairs: [string, Module][] = Array.isArray(children)
    ? children.map((c, i): [string, Module] => (Array.isArray(c) ? c : [String(i), c]))
    : Object.entries(children);
  return pairs.map(([name, m]): [string, NativeModule] => {
    if (!(m instanceof NativeModule)) {
      throw new TypeError(
        `${who}: child '${name}' is ${m instanceof Module ? `a TypeScript module (${m.typeName})` : 'not a module'}; native containers take native modules (compose TypeScript modules in a TypeScript nn.Module)`,
      );
    }
    return [name, m];
  });
}

const handles = (list: [string, NativeModule][]) => list.map(([n, m]) => [n, m.handle]);

/**
 * Children in order, each fed the previous one's output: `new nn.Sequential(a, b)`,
 * `new nn.Sequential({ conv1: a, bn1: b })`, or `new nn.Sequential([['conv1', a], ['', b]])`
 * (an empty name is transparent: the child's keys join the parent's).
 */
export class Sequential extends NativeModule {
  constructor(...children: Module[] | [Children]) {
    const list = children.length === 1 && !(children[0] instanceof Module) ? (children[0] as Children) : (children as Module[]);
    super(createNative('Sequential', { children: handles(named(list, 'Sequential')) }));
  }
}

export interface ResidualOptions {
  /** Applied first, to the body and (when there is one) to the shortcut: pre-activation blocks. */
  pre?: Children;
  body: Children;
  /** A projection for the skip path ([name, module], e.g. ['downsample', ...]); identity on x when absent. */
  shortcut?: [string, Module];
  /** Applied to the sum (e.g. ReLU in ResNet's blocks). */
  post?: Children;
}

/** y = post(body(pre(x)) + shortcut(pre(x)) or x). Children keep their own names (torchvision's keys). */
export class Residual extends NativeModule {
  constructor(opts: ResidualOptions) {
    super(
      createNative('Residual', {
        pre: handles(named(opts.pre, 'Residual')),
        body: handles(named(opts.body, 'Residual')),
        shortcut: handles(named(opts.shortcut ? [opts.shortcut] : undefined, 'Residual')),
        post: handles(named(opts.post, 'Residual')),
      }),
    );
  }
}
