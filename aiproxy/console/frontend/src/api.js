// The JSON admin API, reached relative to the page (the page is at /admin/,
// so `api/login` is /admin/api/login) whatever the mount prefix is.
import { ElMessage } from './element'
import { auth, clearAuth } from './auth'
import { i18n } from './i18n'

export class ApiError extends Error {
  constructor(status, type, message) {
    super(message)
    this.status = status
    this.type = type
  }
}

// Set by main.js: where to go on 401 / a pending password change. Kept as
// hooks so this module does not import the router (which imports the views).
export const hooks = { unauthorized: () => {}, passwordChange: () => {} }

function query(params) {
  const q = new URLSearchParams()
  for (const [k, v] of Object.entries(params || {})) {
    if (v !== undefined && v !== null && v !== '') q.append(k, String(v))
  }
  const s = q.toString()
  return s ? '?' + s : ''
}

/**
 * Call the API. Errors are shown to the user (ElMessage with the API's own
 * message) and then thrown, so callers only stop their loading state.
 * options.silent: do not show the error (the caller shows it itself).
 */
export async function api(method, path, { body, params, silent } = {}) {
  const headers = { Accept: 'application/json' }
  if (auth.token) headers.Authorization = 'Bearer ' + auth.token
  if (body !== undefined) headers['Content-Type'] = 'application/json'
  let response
  try {
    response = await fetch('api/' + path + query(params), {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    })
  } catch (e) {
    const err = new ApiError(0, 'network_error', i18n.global.t('error.network', { detail: String(e.message || e) }))
    if (!silent) ElMessage.error(err.message)
    throw err
  }
  let data = null
  const text = await response.text()
  if (text) {
    try {
      data = JSON.parse(text)
    } catch {
      data = null
    }
  }
  if (response.ok) return data
  const type = data?.error?.type || 'http_error'
  const message = data?.error?.message || i18n.global.t('error.http', { status: response.status, text: text.slice(0, 200) })
  const err = new ApiError(response.status, type, message)
  if (response.status === 401 && path !== 'login') {
    // The token expired, or the user was disabled or deleted: back to login.
    const had = !!auth.token
    clearAuth()
    hooks.unauthorized()
    if (had && !silent) ElMessage.warning(i18n.global.t('error.sessionExpired'))
    throw err
  }
  if (type === 'password_change_required') {
    hooks.passwordChange()
  }
  if (!silent) ElMessage.error({ message, duration: 6000, showClose: true })
  throw err
}

// Log out on the server too: that ends every session of this user (the
// token is refused from then on), then forget it here whatever the answer.
export async function logout() {
  if (auth.token) {
    try {
      await api('POST', 'logout', { silent: true })
    } catch {
      // already expired or refused: nothing more to end
    }
  }
  clearAuth()
}

export const get = (path, params, opts) => api('GET', path, { params, ...opts })
export const post = (path, body, opts) => api('POST', path, { body, ...opts })
export const patch = (path, body, opts) => api('PATCH', path, { body, ...opts })
export const del = (path, opts) => api('DELETE', path, opts)
