// msam.nn: modules. Native ones run their forward in C++; nn.Module subclasses run theirs in JS.
export { Module, type StateDict } from './module';
export { NativeModule } from './native-module';
export * from './layers';
export * from './containers';
export * from './transformer';
