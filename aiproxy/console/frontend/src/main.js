import { createApp } from 'vue'
import 'element-plus/dist/index.css'
import App from './App.vue'
import { elementPlus } from './element'
import { i18n } from './i18n'
import { router } from './router'
import { hooks } from './api'
import './style.css'

hooks.unauthorized = () => {
  if (router.currentRoute.value.path !== '/login') router.push('/login')
}
hooks.passwordChange = () => {
  if (router.currentRoute.value.path !== '/password') router.push('/password')
}

createApp(App).use(i18n).use(router).use(elementPlus).mount('#app')
