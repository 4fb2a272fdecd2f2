// The arithmetic and the tables of the benchmarks (scripts/bench/run.mjs, compare.mjs): plain
// functions, no I/O and no timing, so that jest can check them (test/bench/report.test.ts).
// Types: report.d.mts. The JSON shape they build is described in scripts/bench/README.md.

/** The median of `values` (the mean of the middle two for an even count); NaN for none. */
export function median(values) {
  const s = [...values].sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** Median, min and max of the finite numbers of `values`; null when there are none. */
export function summarize(values) {
  const v = values.filter((x) => typeof x === 'number' && Number.isFinite(x));
  if (v.length === 0) return null;
  return { median: median(v), min: Math.min(...v), max: Math.max(...v), n: v.length };
}

/**
 * Every metric of `runs` (objects of metric name to number; other fields are ignored) summarized
 * over the runs that have it: `{ metric: { median, min, max, n } }`.
 */
export function summarizeRuns(runs) {
  const names = new Set();
  for (const r of runs) for (const [k, v] of Object.entries(r.metrics ?? {})) if (typeof v === 'number') names.add(k);
  const out = {};
  for (const k of names) {
    const s = summarize(runs.map((r) => r.metrics?.[k]));
    if (s) out[k] = s;
  }
  return out;
}

/** a / b of two summaries' medians, rounded to 2 decimals; null when either is missing or b is 0. */
export function ratio(a, b) {
  if (!a || !b || !Number.isFinite(a.median) || !Number.isFinite(b.median) || b.median === 0) return null;
  return Math.round((a.median / b.median) * 100) / 100;
}

/** A number the way the tables print it: 123456 → 123k, 12345 → 12.3k, 1234 → 1234, 12.34 → 12.3, 0.123 → 0.12. */
export function formatNumber(x) {
  if (x === null || x === undefined || !Number.isFinite(x)) return '–';
  const a = Math.abs(x);
  if (a >= 1e6) return `${trim(x / 1e6, a >= 1e8 ? 0 : a >= 1e7 ? 1 : 2)}M`;
  if (a >= 1e5) return `${Math.round(x / 1e3)}k`;
  if (a >= 1e4) return `${trim(x / 1e3, 1)}k`;
  if (a >= 100) return String(Math.round(x));
  if (a >= 10) return trim(x, 1);
  return trim(x, 2);
}

const trim = (x, digits) => String(Number(x.toFixed(digits)));

/** `median (min–max)`, or just the median for one run; `–` for no summary. */
export function formatSummary(s, unit = '') {
  if (!s) return '–';
  const m = `${formatNumber(s.median)}${unit}`;
  return s.n > 1 && s.min !== s.max ? `${m} (${formatNumber(s.min)}–${formatNumber(s.max)})` : m;
}

/** A ratio as `0.83x`, `–` when there is none. */
export function formatRatio(r) {
  return r === null || r === undefined ? '–' : `${r.toFixed(2)}x`;
}

/** A Markdown table: `header` cells, then `rows` of cells (pipes in cells escaped). */
export function markdownTable(header, rows) {
  const cell = (c) => String(c ?? '').replace(/\|/g, '\\|');
  const line = (cells) => `| ${cells.map(cell).join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

/**
 * The Markdown table of a results object (see README.md): one row per workload and metric shown,
 * one column per system (median (min–max) over the runs, `*` when a run was incomplete or
 * failed, `n/a` when the system does not run the workload), then `tsgroups / <baseline>` when a
 * baseline system is given. Figures no system has are left out.
 */
export function resultsTable(results, baseline) {
  const systems = results.systems;
  const header = ['workload', 'figure', ...systems.map((s) => results.systemLabels?.[s] ?? s)];
  const withRatio = baseline && systems.includes('tsgroups') && systems.includes(baseline);
  if (withRatio) header.push(`tsgroups / ${results.systemLabels?.[baseline] ?? baseline}`);
  const rows = [];
  for (const w of results.workloads) {
    for (const f of w.figures) {
      // A figure no system measured (e.g. the loss of raw datagrams when they did not run) has no row.
      if (!systems.some((s) => w.results[s]?.summary?.[f.metric])) continue;
      // The workload is named on its first row only.
      const row = [rows.length > 0 && rows.named === w ? '' : w.label, f.label];
      rows.named = w;
      for (const s of systems) {
        const r = w.results[s];
        if (!r) {
          row.push('n/a');
          continue;
        }
        const flag = r.runs.some((x) => x.error || x.complete === false) ? '*' : '';
        row.push(`${formatSummary(r.summary[f.metric], f.unit ?? '')}${flag}`);
      }
      if (withRatio) row.push(formatRatio(ratio(w.results.tsgroups?.summary[f.metric], w.results[baseline]?.summary[f.metric])));
      rows.push(row);
    }
  }
  return markdownTable(header, rows);
}

/** Fills each workload's per-system `summary` from its runs, and `ratios` of tsgroups to `baseline`. */
export function summarizeResults(results, baseline) {
  for (const w of results.workloads) {
    for (const r of Object.values(w.results)) r.summary = summarizeRuns(r.runs);
    if (baseline && w.results.tsgroups && w.results[baseline]) {
      w.ratios = {};
      for (const f of w.figures) w.ratios[f.metric] = ratio(w.results.tsgroups.summary[f.metric], w.results[baseline].summary[f.metric]);
    }
  }
  return results;
}
