// The tensor API: the class, and every op family (each adds its methods to Tensor on import).
export { Tensor, type OpResult } from './core';
export * from './creation';
export * from './math';
export * from './shape';
export * from './functional';
import './moves';
export { tidy, keep, memory, type MemoryReport } from './memory';
