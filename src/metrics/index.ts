/**
 * Metrics (Prometheus text exposition 0.0.4) and the node status snapshot type (issue 7).
 */
export { Registry, Counter, Gauge, Histogram, MetricError, createRegistry } from './registry.ts'
export type { Labels, Sample, MetricType, MetricInit, CollectedMetricInit, HistogramInit } from './registry.ts'
export { EXPOSITION_CONTENT_TYPE, escapeHelp, escapeLabelValue, formatSample, formatValue } from './exposition.ts'
export type { StatusSnapshot, SubstitutionSource } from './status.ts'
