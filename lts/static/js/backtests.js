/*
 * Backtest charts: time-proportional line charts drawn from data- attributes (the CSP
 * forbids inline scripts).
 *
 *   <canvas data-lts-backtest-chart="money|percent"
 *           data-series='[{"label": "Equity", "points": [{"t": epoch ms, "v": n}]}]'
 *           data-fill="true"></canvas>
 *
 * x is epoch milliseconds on a *linear* scale (no date adapter is vendored), with
 * ticks printed as UTC dates: a bar's distance on screen is proportional to time, so
 * gaps in the data (weekends, outages) show as gaps, and two runs over different
 * ranges sit where they belong. No smoothing (tension 0): financial series are steps
 * between known values, not curves. Drawn and freed by charts.js (loaded before this
 * file), as every LTS chart: on load, in every htmx swap (the run page's report
 * arrives in a poll), on a theme switch.
 */
(function () {
  'use strict';

  const COLORS = ['#0d6efd', '#fd7e14', '#198754', '#dc3545', '#6f42c1'];

  const { themeColors, lineOptions } = window.LTSCharts;

  function parse(el) {
    try {
      return JSON.parse(el.getAttribute('data-series') || '[]');
    } catch (err) {
      return [];
    }
  }

  const pad = (n) => String(n).padStart(2, '0');

  // A UTC tick label; the time of day only when the axis spans less than ~10 days.
  function tickLabel(ms, span) {
    const d = new Date(ms);
    const day = `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`;
    return span < 10 * 86400000 ? `${day} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}` : day;
  }

  function valueLabel(format, v) {
    if (format === 'percent') {
      return `${(v * 100).toFixed(2)} %`;
    }
    return v.toLocaleString(undefined, { maximumFractionDigits: 2 });
  }

  function build(el) {
    const series = parse(el);
    const format = el.getAttribute('data-lts-backtest-chart');
    const fill = el.getAttribute('data-fill') === 'true';
    const { text, grid } = themeColors();
    const all = series.flatMap((s) => s.points.map((p) => p.t));
    const first = all.length ? Math.min(...all) : 0;
    const last = all.length ? Math.max(...all) : 0;
    const span = last - first;
    const datasets = series.map((s, i) => ({
      label: s.label,
      data: s.points.map((p) => ({ x: p.t, y: p.v })),
      borderColor: fill ? '#dc3545' : COLORS[i % COLORS.length],
      backgroundColor: fill ? 'rgba(220,53,69,.2)' : COLORS[i % COLORS.length],
      fill: fill ? 'origin' : false,
      pointRadius: s.points.length > 60 ? 0 : 2,
      borderWidth: 1.5,
      tension: 0,
    }));
    return new window.Chart(el, {
      type: 'line',
      data: { datasets },
      options: {
        ...lineOptions(),
        normalized: true,
        plugins: {
          legend: { display: series.length > 1, labels: { color: text } },
          tooltip: {
            callbacks: {
              title: (items) => (items.length ? `${tickLabel(items[0].parsed.x, 0)} UTC` : ''),
              label: (item) => `${item.dataset.label}: ${valueLabel(format, item.parsed.y)}`,
            },
          },
        },
        scales: {
          x: {
            type: 'linear',
            min: first,
            max: last,
            ticks: { color: text, maxTicksLimit: 8, callback: (v) => tickLabel(v, span) },
            grid: { color: grid },
          },
          y: {
            ticks: { color: text, callback: (v) => valueLabel(format, v) },
            grid: { color: grid },
          },
        },
      },
    });
  }

  window.LTSCharts.register('data-lts-backtest-chart', (el) => (window.Chart ? build(el) : null));
})();
