/*
 * LTS charts, drawn from data- attributes (the CSP forbids inline scripts).
 *
 *   <canvas data-lts-chart="line" data-series='[{"t": iso, "v": number}, ...]'
 *           data-label="Equity"></canvas>
 *       a Chart.js line chart (equity curves, statistics) on a time scale (the
 *       vendored date-fns adapter), straight segments; an optional
 *       data-events='[{"t": iso, "v": number, "label"?: text}]' marks each capital
 *       change (a deposit v > 0, a withdrawal v < 0, a portfolio added) on the line
 *       at its time, labelled data-events-label: a step, not a gain
 *   <canvas data-lts-chart="doughnut" data-series='[{"label": "EUR_USD", "v": 5000}]'>
 *       a Chart.js doughnut (allocation)
 *   <div data-lts-chart="candles" data-candles='{"bars": [...], "markers": [...],
 *        "lines": [...]}'></div>
 *       a Lightweight Charts candlestick chart with entry/exit markers, SL/TP and
 *       resting-order price lines (the price scale is widened to include them), an
 *       optional "volume" histogram [{time, value, color}] and strategy "indicators"
 *       [{name, points: [{time, value}]}]; bars are {time: epoch seconds, open, high,
 *       low, close}; an
 *       optional "forecast" {close, lower, upper: [{time, value}], model, status}
 *       is drawn as a dashed line with its interval
 *
 * Charts are drawn on page load and in every fragment htmx swaps in, and freed
 * when htmx removes their element; other scripts' charts join that lifecycle through
 * window.LTSCharts.register(attribute, build) (build returns the chart, or null while
 * its library is missing). Needs chart.umd.min.js (+ the date adapter) and/or
 * lightweight-charts.standalone.production.js loaded before this file.
 */
(function () {
  'use strict';

  const instances = new Map();

  function cssVar(name, fallback) {
    const value = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
    return value || fallback;
  }

  function parse(el, attribute) {
    try {
      return JSON.parse(el.getAttribute(attribute) || 'null');
    } catch (err) {
      return null;
    }
  }

  const PALETTE = ['#0d6efd', '#198754', '#ffc107', '#dc3545', '#0dcaf0', '#6f42c1',
    '#fd7e14', '#20c997', '#d63384', '#6c757d'];

  function epoch(iso) {
    return new Date(iso).getTime();
  }

  // The series value at an event's time: the last point at or before it (a step
  // chart reading), else the first point; the marker sits on the line it explains.
  function valueAt(series, at) {
    let value = series.length ? series[0].v : 0;
    series.forEach((p) => {
      if (epoch(p.t) <= at) {
        value = p.v;
      }
    });
    return value;
  }

  // The theme's text and grid colours, read when a chart is drawn.
  function themeColors() {
    return {
      text: cssVar('--bs-body-color', '#212529'),
      grid: cssVar('--bs-border-color-translucent', 'rgba(0,0,0,.1)'),
    };
  }

  // How every LTS line chart behaves (backtests.js's too): drawn at once, sized by its
  // box, points given as {x, y}, the tooltip showing the values nearest in time.
  function lineOptions() {
    return {
      animation: false,
      maintainAspectRatio: false,
      parsing: false,
      interaction: { mode: 'nearest', axis: 'x', intersect: false },
    };
  }

  // Financial series are drawn as they are: on a time scale (points spaced by the
  // time between them, not evenly), straight segments (no smoothing that would
  // invent values between samples), and capital changes as markers, not gains.
  function lineChart(el) {
    const series = (parse(el, 'data-series') || []).filter((p) => !Number.isNaN(epoch(p.t)));
    const events = parse(el, 'data-events') || [];
    const color = el.getAttribute('data-color') || cssVar('--bs-primary', '#0d6efd');
    const { text, grid } = themeColors();
    const datasets = [{
      label: el.getAttribute('data-label') || '',
      data: series.map((p) => ({ x: epoch(p.t), y: p.v })),
      borderColor: color,
      backgroundColor: color,
      pointRadius: series.length > 60 ? 0 : 2,
      borderWidth: 2,
      tension: 0,
      cubicInterpolationMode: 'default',
    }];
    if (events.length) {
      datasets.push({
        label: el.getAttribute('data-events-label') || 'Capital change',
        data: events.map((e) => ({
          x: epoch(e.t), y: valueAt(series, epoch(e.t)), change: e.v, note: e.label || '',
        })),
        showLine: false,
        pointStyle: 'triangle',
        pointRadius: 7,
        borderColor: '#fd7e14',
        backgroundColor: '#fd7e14',
      });
    }
    return new window.Chart(el, {
      type: 'line',
      data: { datasets },
      options: {
        ...lineOptions(),
        plugins: {
          legend: { display: events.length > 0 },
          tooltip: {
            callbacks: {
              label: (ctx) => {
                const raw = ctx.raw || {};
                if (raw.change === undefined) {
                  return `${ctx.dataset.label}: ${ctx.formattedValue}`;
                }
                const kind = raw.note || (raw.change >= 0 ? 'Deposit' : 'Withdrawal');
                return `${kind} ${Math.abs(raw.change).toFixed(2)} (capital, not P&L)`;
              },
            },
          },
        },
        scales: {
          x: {
            type: 'time',
            time: { tooltipFormat: 'yyyy-MM-dd HH:mm' },
            ticks: { color: text, maxTicksLimit: 8, autoSkip: true, maxRotation: 0 },
            grid: { color: grid },
          },
          y: { ticks: { color: text }, grid: { color: grid } },
        },
      },
    });
  }

  function doughnutChart(el) {
    const series = parse(el, 'data-series') || [];
    return new window.Chart(el, {
      type: 'doughnut',
      data: {
        labels: series.map((p) => p.label),
        datasets: [{
          data: series.map((p) => p.v),
          backgroundColor: series.map((_, i) => PALETTE[i % PALETTE.length]),
        }],
      },
      options: {
        animation: false,
        maintainAspectRatio: false,
        plugins: { legend: { position: 'bottom', labels: { color: themeColors().text } } },
      },
    });
  }

  const INDICATOR_COLORS = ['#fd7e14', '#6f42c1', '#20c997', '#d63384'];

  // Candles with what a trader acts on: SL/TP, entry and resting-order lines always
  // inside the price scale (a stop far from the candles is still seen), volume in its
  // own strip at the bottom, the strategy's indicators, and room to the right so the
  // axis labels do not sit on the newest candles.
  function candleChart(el) {
    const LW = window.LightweightCharts;
    const data = parse(el, 'data-candles') || {};
    const { text, grid } = themeColors();
    const lines = data.lines || [];
    const volume = data.volume || [];
    const chart = LW.createChart(el, {
      autoSize: true,
      // attributionLogo must stay false: it injects an inline <style> the CSP blocks.
      // The attribution is printed under the chart instead.
      layout: { attributionLogo: false, background: { color: 'transparent' }, textColor: text },
      grid: { vertLines: { color: grid }, horzLines: { color: grid } },
      timeScale: { timeVisible: true, secondsVisible: false },
    });
    const prices = lines.map((line) => line.price).filter((p) => Number.isFinite(p));
    const series = chart.addSeries(LW.CandlestickSeries, {
      upColor: '#198754', downColor: '#dc3545', borderVisible: false,
      wickUpColor: '#198754', wickDownColor: '#dc3545',
      // The scale spans the candles and every line, so none is drawn off-screen.
      autoscaleInfoProvider: (original) => {
        const info = original();
        if (!info || !info.priceRange || !prices.length) {
          return info;
        }
        return {
          priceRange: {
            minValue: Math.min(info.priceRange.minValue, ...prices),
            maxValue: Math.max(info.priceRange.maxValue, ...prices),
          },
          margins: info.margins,
        };
      },
    });
    series.priceScale().applyOptions({
      scaleMargins: volume.length ? { top: 0.08, bottom: 0.25 } : { top: 0.08, bottom: 0.08 },
    });
    series.setData(data.bars || []);
    if (volume.length && LW.HistogramSeries) {
      const bars = chart.addSeries(LW.HistogramSeries, {
        priceFormat: { type: 'volume' }, priceScaleId: 'volume',
        lastValueVisible: false, priceLineVisible: false,
      });
      bars.priceScale().applyOptions({ scaleMargins: { top: 0.8, bottom: 0 } });
      bars.setData(volume);
    }
    (data.indicators || []).forEach((indicator, i) => {
      if (!LW.LineSeries || !indicator.points || !indicator.points.length) {
        return;
      }
      chart.addSeries(LW.LineSeries, {
        color: INDICATOR_COLORS[i % INDICATOR_COLORS.length], lineWidth: 1,
        priceLineVisible: false, lastValueVisible: false, crosshairMarkerVisible: false,
        title: indicator.name,
      }).setData(indicator.points);
    });
    if (data.markers && data.markers.length && LW.createSeriesMarkers) {
      LW.createSeriesMarkers(series, data.markers);
    }
    lines.forEach((line) => {
      series.createPriceLine({
        price: line.price, color: line.color || '#6c757d', lineWidth: 1,
        lineStyle: LW.LineStyle ? LW.LineStyle.Dashed : 2, axisLabelVisible: true,
        title: line.title || '',
      });
    });
    forecastLines(chart, LW, data.forecast);
    // Empty room right of the newest candle (about an eighth of the width) where the
    // price lines' titles are drawn, instead of over the candles.
    const count = (data.bars || []).length;
    const room = Math.max(8, Math.round(count * 0.12));
    if (count) {
      chart.timeScale().setVisibleLogicalRange({ from: -0.5, to: count - 0.5 + room });
    } else {
      chart.timeScale().fitContent();
    }
    // Tests read the drawn scale (e.g. an SL line's pixel row) from here.
    el.ltsChart = { chart, series };
    return { destroy: () => { delete el.ltsChart; chart.remove(); } };
  }

  // The pipeline's forecast: a dashed line from the last close, its interval as two
  // dotted lines (the band's edges).
  function forecastLines(chart, LW, forecast) {
    if (!forecast || !forecast.close || !forecast.close.length || !LW.LineSeries) {
      return;
    }
    const color = forecast.status === 'fallback' ? '#fd7e14' : '#0d6efd';
    const dashed = LW.LineStyle ? LW.LineStyle.Dashed : 2;
    const dotted = LW.LineStyle ? LW.LineStyle.Dotted : 1;
    ['lower', 'upper'].forEach((edge) => {
      if (forecast[edge] && forecast[edge].length) {
        chart.addSeries(LW.LineSeries, {
          color, lineWidth: 1, lineStyle: dotted, priceLineVisible: false,
          lastValueVisible: false, crosshairMarkerVisible: false,
        }).setData(forecast[edge]);
      }
    });
    chart.addSeries(LW.LineSeries, {
      color, lineWidth: 2, lineStyle: dashed, priceLineVisible: false,
      title: forecast.model || '',
    }).setData(forecast.close);
  }

  const BUILDERS = { line: lineChart, doughnut: doughnutChart, candles: candleChart };

  // The kinds of chart element: the attribute that marks them and how to build one (null
  // while the library it needs is not loaded). Other scripts add theirs through
  // window.LTSCharts.register (backtests.js), so every chart shares one lifecycle.
  const kinds = [];

  function elementsUnder(root, attribute) {
    if (!root || !root.querySelectorAll) {
      return [];
    }
    const found = Array.from(root.querySelectorAll(`[${attribute}]`));
    if (root.matches && root.matches(`[${attribute}]`)) {
      found.push(root);
    }
    return found;
  }

  function draw(root) {
    // Charts whose element htmx swapped out are freed (polling replaces sections).
    Array.from(instances.keys()).forEach((el) => {
      if (!el.isConnected) {
        instances.get(el).destroy();
        instances.delete(el);
      }
    });
    kinds.forEach(({ attribute, build }) => {
      elementsUnder(root, attribute).forEach((el) => {
        if (!instances.has(el)) {
          const chart = build(el);
          if (chart) {
            instances.set(el, chart);
          }
        }
      });
    });
  }

  function free(root) {
    kinds.forEach(({ attribute }) => {
      elementsUnder(root, attribute).forEach((el) => {
        const chart = instances.get(el);
        if (chart) {
          chart.destroy();
          instances.delete(el);
        }
      });
    });
  }

  function register(attribute, build) {
    kinds.push({ attribute, build });
    if (document.readyState !== 'loading') {
      draw(document);
    }
  }

  register('data-lts-chart', (el) => {
    const kind = el.getAttribute('data-lts-chart');
    const ready = kind === 'candles' ? window.LightweightCharts : window.Chart;
    return BUILDERS[kind] && ready ? BUILDERS[kind](el) : null;
  });
  window.LTSCharts = { register, themeColors, lineOptions };

  // Colours are read from the theme when a chart is drawn: redraw on a theme switch.
  new MutationObserver(() => {
    Array.from(instances.keys()).forEach((el) => {
      instances.get(el).destroy();
      instances.delete(el);
      if (el.isConnected) {
        draw(el);
      }
    });
  }).observe(document.documentElement, { attributes: true, attributeFilter: ['data-bs-theme'] });

  document.addEventListener('DOMContentLoaded', () => draw(document));
  document.addEventListener('htmx:load', (evt) => draw(evt.detail.elt));
  document.addEventListener('htmx:beforeCleanupElement', (evt) => free(evt.detail.elt));
})();
