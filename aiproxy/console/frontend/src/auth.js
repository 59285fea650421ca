// Who is logged in. The bearer token is kept in localStorage so a reload keeps
// the session; the user object is read again from `api/me` on start.
import { reactive } from 'vue'

const TOKEN_KEY = 'aiproxy.token'

export const auth = reactive({
  token: localStorage.getItem(TOKEN_KEY) || '',
  user: null, // {id, username, role, must_change_password, ...}
  get isAdmin() {
    return this.user?.role === 'admin'
  },
})

export function setToken(token) {
  auth.token = token
  localStorage.setItem(TOKEN_KEY, token)
}

export function clearAuth() {
  auth.token = ''
  auth.user = null
  localStorage.removeItem(TOKEN_KEY)
}
