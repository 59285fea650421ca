// Names for the ids usage answers carry (key_id, account_id, user_id), from
// the lists the caller may read: keys for everyone, accounts and users for
// admins only (a normal user sees "#id" for accounts).
import { reactive } from 'vue'
import { get } from './api'
import { auth } from './auth'

export const names = reactive({ keys: {}, keyPrefixes: {}, accounts: {}, users: {}, keyList: [], accountList: [], userList: [] })

export async function loadNames() {
  const jobs = [
    get('keys', undefined, { silent: true }).then((r) => {
      names.keyList = r.keys
      names.keys = Object.fromEntries(r.keys.map((k) => [k.id, k.name]))
      names.keyPrefixes = Object.fromEntries(r.keys.map((k) => [k.id, k.key_prefix]))
    }),
  ]
  if (auth.isAdmin) {
    jobs.push(
      get('accounts', undefined, { silent: true }).then((r) => {
        names.accountList = r.accounts
        names.accounts = Object.fromEntries(r.accounts.map((a) => [a.id, a.name]))
      }),
      get('users', undefined, { silent: true }).then((r) => {
        names.userList = r.users
        names.users = Object.fromEntries(r.users.map((u) => [u.id, u.username]))
      }),
    )
  }
  // A list that fails only costs names; the page still shows ids.
  await Promise.allSettled(jobs)
}

function label(map, id) {
  if (id === null || id === undefined) return '—'
  return map[id] ? map[id] : '#' + id
}
export const keyName = (id) => label(names.keys, id)
export const accountName = (id) => label(names.accounts, id)
export const userName = (id) => label(names.users, id)
export const keyPrefix = (id) => (id !== null && id !== undefined && names.keyPrefixes[id] ? names.keyPrefixes[id] + '…' : '')
