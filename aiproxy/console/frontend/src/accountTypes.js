// The account types come from the gateway (GET /admin/api/account-types,
// docs/admin-api.md): which platforms and types there are, each type's
// credential modes and fields, base URL, options and OAuth flow. The console
// knows none of them itself, so a type added to the gateway's registry shows
// in the account form without a console change. Fetched once per page load.
import { get } from './api'

let loading = null

export function loadAccountTypes() {
  if (!loading) {
    loading = get('account-types').catch((e) => {
      loading = null // a failed fetch is tried again next time
      throw e
    })
  }
  return loading
}

// A text the console translates where it knows the key, else the gateway's
// English one (a type the console was built without still gets a label).
export function translated(t, te, key, fallback) {
  return te(key) ? t(key) : fallback
}
