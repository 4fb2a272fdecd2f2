import {
  formatNumber,
  formatRatio,
  formatSummary,
  markdownTable,
  median,
  ratio,
  type Results,
  resultsTable,
  summarize,
  summarizeResults,
  summarizeRuns,
} from '../../scripts/bench/report.mjs';

// The arithmetic and tables of pnpm bench / bench:compare (scripts/bench/report.mjs).

describe('bench report', () => {
  test('median: odd and even counts, any order; NaN for none', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([7])).toBe(7);
    expect(median([])).toBeNaN();
  });

  test('summarize: median, min, max and count of the finite numbers only', () => {
    expect(summarize([5, 1, 3])).toEqual({ median: 3, min: 1, max: 5, n: 3 });
    expect(summarize([2, undefined, Number.NaN, 'x', 4])).toEqual({ median: 3, min: 2, max: 4, n: 2 });
    expect(summarize([undefined])).toBeNull();
  });

  test('summarizeRuns: each metric over the runs that have it', () => {
    const s = summarizeRuns([{ metrics: { a: 1, b: 10 } }, { metrics: { a: 3 } }, { metrics: { a: 2, b: 30 } }]);
    expect(s.a).toEqual({ median: 2, min: 1, max: 3, n: 3 });
    expect(s.b).toEqual({ median: 20, min: 10, max: 30, n: 2 });
  });

  test('ratio: of the medians, 2 decimals; null without both or with a zero baseline', () => {
    const a = { median: 80, min: 70, max: 90, n: 3 };
    const b = { median: 120, min: 100, max: 130, n: 3 };
    expect(ratio(a, b)).toBe(0.67);
    expect(ratio(b, a)).toBe(1.5);
    expect(ratio(a, null)).toBeNull();
    expect(ratio(a, { ...b, median: 0 })).toBeNull();
  });

  test('formatNumber: k and M with a few significant digits', () => {
    expect(formatNumber(123_456)).toBe('123k');
    expect(formatNumber(12_345)).toBe('12.3k');
    expect(formatNumber(1234.4)).toBe('1234');
    expect(formatNumber(12.34)).toBe('12.3');
    expect(formatNumber(0.456)).toBe('0.46');
    expect(formatNumber(2_345_678)).toBe('2.35M');
    expect(formatNumber(undefined)).toBe('–');
  });

  test('formatSummary: median (min–max), the median alone for one run or no spread', () => {
    expect(formatSummary({ median: 96_000, min: 74_000, max: 117_000, n: 3 })).toBe('96k (74k–117k)');
    expect(formatSummary({ median: 150, min: 150, max: 150, n: 3 }, ' MB')).toBe('150 MB');
    expect(formatSummary({ median: 150, min: 140, max: 160, n: 1 }, ' MB')).toBe('150 MB');
    expect(formatSummary(null)).toBe('–');
    expect(formatRatio(0.8)).toBe('0.80x');
    expect(formatRatio(null)).toBe('–');
  });

  test('markdownTable: header, separator, rows; pipes escaped', () => {
    expect(markdownTable(['a', 'b'], [['1', 'x|y']])).toBe('| a | b |\n| --- | --- |\n| 1 | x\\|y |');
  });

  test('resultsTable: a column per system, n/a where a system did not run, * for a failed run, the ratio to the baseline', () => {
    const results: Results = {
      systems: ['tsgroups', 'jgroups5', 'raw'],
      systemLabels: { tsgroups: 'tsgroups', jgroups5: 'JGroups 5', raw: 'raw' },
      workloads: [
        {
          id: 'mcast-2x1000',
          label: 'multicast, 2 members',
          figures: [
            { metric: 'msgsPerSec', label: 'msgs/s' },
            { metric: 'peakRssMB', label: 'peak RSS', unit: ' MB' },
            { metric: 'lossPct', label: 'loss', unit: ' %' },
          ],
          results: {
            tsgroups: { runs: [{ metrics: { msgsPerSec: 90_000, peakRssMB: 120 } }, { metrics: { msgsPerSec: 100_000, peakRssMB: 130 } }, { metrics: { msgsPerSec: 110_000, peakRssMB: 125 } }], summary: {} },
            jgroups5: { runs: [{ metrics: { msgsPerSec: 125_000, peakRssMB: 160 } }, { metrics: {}, complete: false, error: 'timed out' }], summary: {} },
          },
        },
        {
          id: 'inproc-2',
          label: 'in-process',
          figures: [{ metric: 'ratio', label: 'reliable / minimal' }],
          results: { tsgroups: { runs: [{ metrics: { ratio: 0.5 } }], summary: {} } },
        },
      ],
    };
    summarizeResults(results, 'jgroups5');
    expect(results.workloads[0]!.ratios).toEqual({ msgsPerSec: 0.8, peakRssMB: 0.78, lossPct: null });
    expect(resultsTable(results, 'jgroups5').split('\n')).toEqual([
      '| workload | figure | tsgroups | JGroups 5 | raw | tsgroups / JGroups 5 |',
      '| --- | --- | --- | --- | --- | --- |',
      '| multicast, 2 members | msgs/s | 100k (90k–110k) | 125k* | n/a | 0.80x |',
      '|  | peak RSS | 125 MB (120–130) | 160 MB* | n/a | 0.78x |',
      '| in-process | reliable / minimal | 0.5 | n/a | n/a | – |',
    ]);
  });
});
