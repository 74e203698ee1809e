// The experiment commands' runners: each trains a grid of msam.train runs and writes a report.
export { runCompare, type CompareOptions } from './compare';
export { runSweepM, type SweepMOptions } from './sweep-m';
export { runSwitch, type SwitchOptions, type Position } from './switch';
export { runBench, type BenchOptions } from './bench';
export { parseList, parseChoices, type ExperimentOptions, type ExperimentReport, type RunRecord } from './runner';
