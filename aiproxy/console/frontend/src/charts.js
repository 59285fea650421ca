// ECharts options built from a `usage/series` answer.
import { fmtCompact, fmtCost, totalTokens } from './utils'

function bucketLabel(b, interval) {
  // Days as MM-DD, hours as HH:00 (in UTC, as the API buckets them).
  if (interval === 'hour') return b.slice(11, 16)
  return b.slice(5, 10)
}

// One value per bucket (summing every group), so gaps show as 0.
function perBucket(series, pick) {
  const idx = Object.fromEntries(series.buckets.map((b, i) => [b, i]))
  const out = series.buckets.map(() => 0)
  for (const r of series.rows) {
    if (r.bucket in idx) out[idx[r.bucket]] += pick(r)
  }
  return out
}

export function trafficOption(series, t) {
  const x = series.buckets.map((b) => bucketLabel(b, series.interval))
  return {
    tooltip: { trigger: 'axis' },
    legend: { data: [t('dash.requests'), t('dash.tokens')], top: 0 },
    grid: { left: 50, right: 60, top: 36, bottom: 28 },
    xAxis: { type: 'category', data: x },
    yAxis: [
      { type: 'value', name: t('dash.requests'), minInterval: 1, axisLabel: { formatter: fmtCompact } },
      { type: 'value', name: t('dash.tokens'), axisLabel: { formatter: fmtCompact }, splitLine: { show: false } },
    ],
    series: [
      { name: t('dash.requests'), type: 'bar', data: perBucket(series, (r) => r.requests), itemStyle: { color: '#409eff' } },
      { name: t('dash.tokens'), type: 'line', yAxisIndex: 1, data: perBucket(series, totalTokens), itemStyle: { color: '#e6a23c' } },
    ],
  }
}

export function costOption(series, t) {
  const x = series.buckets.map((b) => bucketLabel(b, series.interval))
  return {
    tooltip: { trigger: 'axis', valueFormatter: fmtCost },
    grid: { left: 60, right: 20, top: 20, bottom: 28 },
    xAxis: { type: 'category', data: x },
    yAxis: { type: 'value', axisLabel: { formatter: (v) => '$' + v } },
    series: [
      {
        name: t('dash.cost'),
        type: 'line',
        areaStyle: { opacity: 0.15 },
        data: perBucket(series, (r) => Math.round((r.cost_usd || 0) * 1e6) / 1e6),
        itemStyle: { color: '#67c23a' },
      },
    ],
  }
}

export function pieOption(rows, labelOf, t) {
  return {
    tooltip: { trigger: 'item', formatter: (p) => `${p.name}<br/>${t('dash.requests')}: ${p.value} (${p.percent}%)` },
    legend: { type: 'scroll', orient: 'vertical', right: 0, top: 'middle' },
    series: [
      {
        type: 'pie',
        radius: ['40%', '70%'],
        center: ['35%', '50%'],
        label: { show: false },
        data: rows.map((r) => ({ name: labelOf(r.group), value: r.requests })),
      },
    ],
  }
}
