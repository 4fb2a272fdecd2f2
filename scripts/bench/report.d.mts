// Types of report.mjs (the benchmark scripts are plain JavaScript run by node without a build).

export interface Summary {
  median: number;
  min: number;
  max: number;
  /** How many runs had the figure. */
  n: number;
}

/** One run of one workload on one system. */
export interface Run {
  /** Metric name to value (e.g. msgsPerSec, mbPerSec, peakRssMB, callsPerSec, p50Us). */
  metrics: Record<string, number>;
  /** False when not every member got every message, or not every call completed. */
  complete?: boolean;
  /** Why the run failed, if it did. */
  error?: string;
  [detail: string]: unknown;
}

export interface SystemResult {
  runs: Run[];
  summary: Record<string, Summary>;
}

/** A figure a workload shows: the metric and how the table labels it. */
export interface Figure {
  metric: string;
  label: string;
  unit?: string;
}

export interface Workload {
  id: string;
  label: string;
  figures: Figure[];
  results: Record<string, SystemResult>;
  /** tsgroups / baseline per metric (compare only). */
  ratios?: Record<string, number | null>;
  [detail: string]: unknown;
}

export interface Results {
  systems: string[];
  systemLabels?: Record<string, string>;
  workloads: Workload[];
  [detail: string]: unknown;
}

export function median(values: number[]): number;
export function summarize(values: unknown[]): Summary | null;
export function summarizeRuns(runs: Pick<Run, 'metrics'>[]): Record<string, Summary>;
export function ratio(a: Summary | null | undefined, b: Summary | null | undefined): number | null;
export function formatNumber(x: number | null | undefined): string;
export function formatSummary(s: Summary | null | undefined, unit?: string): string;
export function formatRatio(r: number | null | undefined): string;
export function markdownTable(header: string[], rows: unknown[][]): string;
export function resultsTable(results: Results, baseline?: string): string;
export function summarizeResults<R extends Results>(results: R, baseline?: string): R;
