// A module implemented in C++ (csrc/nn): its forward, parameters, buffers, children and modes
// live natively; this class is its typed face.
import { native, type ModuleHandle, type TensorHandle } from '../native';
import { Tensor, expectTensor } from '../tensor/core';
import { keep } from '../tensor/memory';
import type { DType, Device } from '../types';
import { Module, splitTarget } from './module';

export class NativeModule extends Module {
  /** @internal */
  readonly handle: ModuleHandle;
  #params?: [string, Tensor][];
  #buffers?: [string, Tensor][];
  #children?: [string, Module][];

  /** @internal use the typed constructors (nn.Linear, ...) or models.* */
  constructor(handle: ModuleHandle) {
    super();
    this.handle = handle;
  }

  override get typeName(): string {
    return native.moduleType(this.handle);
  }

  /** Runs the forward pass in C++; extra inputs (an attention mask) follow the first. */
  forward(...inputs: Tensor[]): Tensor {
    const handles = inputs.map((t, i) => expectTensor(t, `${this.typeName}.forward: input ${i}`).handle);
    return new Tensor(native.moduleForward(this.handle, handles));
  }

  // The native tensors are stable (moves keep their identity), so their wrappers are made once and
  // kept out of any tidy() scope.
  override namedParameters(): [string, Tensor][] {
    this.#params ??= wrapAll(native.moduleNamedParameters(this.handle));
    return [...this.#params];
  }
  override namedBuffers(): [string, Tensor][] {
    this.#buffers ??= wrapAll(native.moduleNamedBuffers(this.handle));
    return [...this.#buffers];
  }
  override namedChildren(): [string, Module][] {
    this.#children ??= native.moduleChildren(this.handle).map(([name, h]): [string, Module] => [name, new NativeModule(h)]);
    return [...this.#children];
  }
  override registerModule<M extends Module>(): M {
    throw new TypeError(`${this.typeName}: a native module's children are fixed; compose modules with nn.Sequential or a TypeScript nn.Module`);
  }

  override get training(): boolean {
    return native.moduleIsTraining(this.handle);
  }
  override train(mode = true): this {
    native.moduleTrain(this.handle, mode);
    return this;
  }
  override to(target: Device | DType): this {
    const [device, dtype] = splitTarget(target, this.typeName);
    native.moduleTo(this.handle, device, dtype);
    return this;
  }

  override toString(): string {
    return native.moduleRepr(this.handle);
  }
}

function wrapAll(list: [string, TensorHandle][]): [string, Tensor][] {
  return list.map(([name, h]): [string, Tensor] => [name, keep(new Tensor(h))]);
}

/** Creates a native module of `type` with `options` (validated natively, errors name the option). */
export function createNative(type: string, options: object): ModuleHandle {
  return native.moduleCreate(type, options);
}
