import { ElMessage } from './element'
import { i18n } from './i18n'

const t = (...a) => i18n.global.t(...a)

function pad(n) {
  return String(n).padStart(2, '0')
}

// API timestamps are UTC ISO strings; show them in the browser's local time.
export function fmtTime(iso) {
  if (!iso) return '—'
  const d = new Date(iso)
  if (isNaN(d)) return iso
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`
}

export function fmtInt(n) {
  if (n === null || n === undefined) return '—'
  return Number(n).toLocaleString(i18n.global.locale.value === 'zh' ? 'zh-CN' : 'en-US')
}

// 1234567 -> 1.23M: for stat cards and chart axes.
export function fmtCompact(n) {
  if (n === null || n === undefined) return '—'
  const abs = Math.abs(n)
  if (abs >= 1e9) return (n / 1e9).toFixed(2).replace(/\.?0+$/, '') + 'B'
  if (abs >= 1e6) return (n / 1e6).toFixed(2).replace(/\.?0+$/, '') + 'M'
  if (abs >= 1e4) return (n / 1e3).toFixed(1).replace(/\.?0+$/, '') + 'K'
  return String(n)
}

export function fmtCost(n) {
  if (n === null || n === undefined) return '—'
  const v = Number(n)
  if (v === 0) return '$0'
  if (Math.abs(v) < 0.01) return '$' + v.toFixed(6).replace(/0+$/, '')
  return '$' + v.toFixed(v >= 100 ? 2 : 4).replace(/\.?0+$/, '')
}

export function totalTokens(r) {
  return (r.input_tokens || 0) + (r.output_tokens || 0) + (r.cache_creation_tokens || 0) + (r.cache_read_tokens || 0)
}

export function sumRows(rows) {
  const s = { requests: 0, input_tokens: 0, output_tokens: 0, cache_creation_tokens: 0, cache_read_tokens: 0, cost_usd: 0, unpriced: 0, errors: 0 }
  for (const r of rows || []) for (const k of Object.keys(s)) s[k] += r[k] || 0
  return s
}

// Copy with the Clipboard API, or a hidden textarea where it is unavailable
// (plain http on a non-localhost host is not a secure context).
export async function copyText(text) {
  let ok = false
  try {
    if (navigator.clipboard && window.isSecureContext) {
      await navigator.clipboard.writeText(text)
      ok = true
    }
  } catch {
    ok = false
  }
  if (!ok) {
    const ta = document.createElement('textarea')
    ta.value = text
    ta.setAttribute('readonly', '')
    ta.style.position = 'fixed'
    ta.style.top = '-1000px'
    document.body.appendChild(ta)
    ta.select()
    try {
      ok = document.execCommand('copy')
    } catch {
      ok = false
    }
    document.body.removeChild(ta)
  }
  if (ok) ElMessage.success(t('common.copied'))
  else ElMessage.error(t('common.copyFailed'))
  return ok
}

// UTC date YYYY-MM-DD, `daysAgo` days before today.
export function utcDay(daysAgo = 0) {
  const d = new Date(Date.now() - daysAgo * 86400000)
  return d.toISOString().slice(0, 10)
}

// The gateway's root URL: the console is mounted one path segment below it
// (/admin/), so drop that segment from the page's path.
export function gatewayBase() {
  let p = window.location.pathname.replace(/index\.html$/, '').replace(/\/+$/, '')
  p = p.replace(/\/[^/]*$/, '')
  return window.location.origin + p
}

// Parse a JSON object typed in a textarea; '' -> {}. Throws with a message.
export function parseJsonObject(text, field) {
  const s = (text || '').trim()
  if (!s) return {}
  let v
  try {
    v = JSON.parse(s)
  } catch (e) {
    throw new Error(t('error.badJson', { field, detail: e.message }))
  }
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new Error(t('error.notObject', { field }))
  return v
}

export function jsonText(obj) {
  if (!obj || Object.keys(obj).length === 0) return ''
  return JSON.stringify(obj, null, 2)
}

// '' / null -> null, else a number (for optional numeric inputs).
export function numOrNull(v) {
  if (v === '' || v === null || v === undefined) return null
  const n = Number(v)
  return isNaN(n) ? null : n
}
