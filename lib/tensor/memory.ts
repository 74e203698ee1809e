// Explicit memory management: scopes for tidy(), keep(), and the live-tensor report.
import { AsyncLocalStorage } from 'node:async_hooks';
import { native } from '../native';
import type { Tensor } from './core';

class Scope {
  readonly tensors = new Set<Tensor>();
  closed = false;
  constructor(readonly parent: Scope | undefined) {}
}

const syncScopes: Scope[] = [];
const asyncScopes = new AsyncLocalStorage<Scope>();
let openScopes = 0; // tidy() scopes not yet closed: only then can an async scope be current
const kept = new WeakSet<Tensor>();

function currentScope(): Scope | undefined {
  return syncScopes[syncScopes.length - 1] ?? (openScopes > 0 ? asyncScopes.getStore() : undefined);
}

/** Called by every Tensor on creation: the innermost tidy() scope owns it. */
export function trackTensor(t: Tensor): void {
  const scope = currentScope();
  // A closed scope can still be current in a stray async continuation of its function.
  if (scope !== undefined && !scope.closed) scope.tensors.add(t);
}

function collectTensors(value: unknown, into: Set<Tensor>, isTensor: (v: unknown) => v is Tensor, depth = 0): void {
  if (depth > 8 || value === null || typeof value !== 'object') return;
  if (isTensor(value)) {
    into.add(value);
  } else if (Array.isArray(value)) {
    for (const v of value) collectTensors(v, into, isTensor, depth + 1);
  } else if (Object.getPrototypeOf(value) === Object.prototype) {
    for (const v of Object.values(value as Record<string, unknown>)) collectTensors(v, into, isTensor, depth + 1);
  }
}

function closeScope(scope: Scope, result: unknown): void {
  scope.closed = true;
  openScopes--;
  const escaped = new Set<Tensor>();
  collectTensors(result, escaped, (v): v is Tensor => scope.tensors.has(v as Tensor));
  for (const t of scope.tensors) {
    if (escaped.has(t) || kept.has(t)) {
      scope.parent?.tensors.add(t); // a result belongs to the enclosing scope
    } else {
      t.dispose();
    }
  }
  scope.tensors.clear();
}

/**
 * Runs `fn` and disposes every tensor created inside it, except those it returns (in arrays or
 * plain objects too) and those passed to keep(). Works for async functions: tensors created
 * after an await still belong to the scope.
 */
export function tidy<T>(fn: () => T): T {
  const scope = new Scope(currentScope());
  openScopes++;
  syncScopes.push(scope);
  let result: T;
  try {
    result = asyncScopes.run(scope, fn);
  } catch (e) {
    syncScopes.pop();
    closeScope(scope, undefined);
    throw e;
  }
  syncScopes.pop();
  if (result instanceof Promise) {
    return result.then(
      (value: unknown) => {
        closeScope(scope, value);
        return value;
      },
      (e: unknown) => {
        closeScope(scope, undefined);
        throw e;
      },
    ) as T;
  }
  closeScope(scope, result);
  return result;
}

/** Exempts `t` from disposal by any enclosing tidy(). */
export function keep<T extends Tensor>(t: T): T {
  kept.add(t);
  return t;
}

export interface MemoryReport {
  /** Live tensor handles (not yet disposed nor collected). */
  tensors: number;
  /** Distinct storages behind them (views share one). */
  storages: number;
  /** Bytes of those storages, all devices. */
  bytes: number;
  byDevice: Record<string, number>;
  /** The CUDA caching allocator's view, per device, when CUDA is available. */
  cuda?: { device: number; allocated: number; reserved: number; peakAllocated: number }[];
}

export function memory(): MemoryReport {
  const report: MemoryReport = native.memory();
  if (native.cudaIsAvailable()) {
    report.cuda = [];
    for (let d = 0; d < native.cudaDeviceCount(); d++) {
      const stats = native.cudaMemory(d);
      if (stats) report.cuda.push({ device: d, ...stats });
    }
  }
  return report;
}
