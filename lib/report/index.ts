// Reports of experiments: statistics, Markdown tables and charts (SVG and PNG).
export { mean, std, summarize, formatMeanStd, interval95, type Summary } from './stats';
export { markdownTable, type Table, type Align } from './table';
export { barChartSpec, lineChartSpec, renderSvg, svgToPng, writeChart, type Point, type ChartOptions } from './chart';
