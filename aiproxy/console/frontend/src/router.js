import { createRouter, createWebHashHistory } from 'vue-router'
import { auth } from './auth'
import { get } from './api'
import Login from './views/Login.vue'
import ChangePassword from './views/ChangePassword.vue'
import Dashboard from './views/Dashboard.vue'
import Accounts from './views/Accounts.vue'
import Keys from './views/Keys.vue'
import Users from './views/Users.vue'
import Records from './views/Records.vue'

// Hash history: the server serves only index.html and files; every console
// route lives after the '#', so reloads and deep links work under any prefix.
export const router = createRouter({
  history: createWebHashHistory(),
  routes: [
    { path: '/login', component: Login, meta: { bare: true, public: true } },
    { path: '/password', component: ChangePassword, meta: { bare: true } },
    { path: '/', redirect: '/dashboard' },
    { path: '/dashboard', component: Dashboard, meta: { title: 'nav.dashboard' } },
    { path: '/accounts', component: Accounts, meta: { title: 'nav.accounts', admin: true } },
    { path: '/keys', component: Keys, meta: { title: 'nav.keys' } },
    { path: '/users', component: Users, meta: { title: 'nav.users', admin: true } },
    { path: '/records', component: Records, meta: { title: 'nav.records' } },
    { path: '/:pathMatch(.*)*', redirect: '/dashboard' },
  ],
})

router.beforeEach(async (to) => {
  if (to.meta.public) return auth.token && auth.user && !auth.user.must_change_password ? '/dashboard' : true
  if (!auth.token) return { path: '/login', query: to.fullPath !== '/dashboard' ? { next: to.fullPath } : {} }
  if (!auth.user) {
    try {
      auth.user = await get('me', undefined, { silent: true })
    } catch {
      // 401 has already cleared the token; any other failure: log in again.
      return '/login'
    }
  }
  if (auth.user.must_change_password) return to.path === '/password' ? true : '/password'
  if (to.meta.admin && !auth.isAdmin) return '/dashboard'
  return true
})
