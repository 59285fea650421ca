// The Element Plus parts the console uses, imported from their own modules:
// importing from './element' itself pulls in the whole library (its index
// registers every component), about twice the JavaScript. Every <el-…> tag in
// src/ must be registered here: a missing one renders as an unknown element,
// with no error in a production build.
import { ElAlert } from 'element-plus/es/components/alert/index.mjs'
import { ElAside, ElContainer, ElHeader, ElMain } from 'element-plus/es/components/container/index.mjs'
import { ElButton } from 'element-plus/es/components/button/index.mjs'
import { ElCard } from 'element-plus/es/components/card/index.mjs'
import { ElCheckbox, ElCheckboxGroup } from 'element-plus/es/components/checkbox/index.mjs'
import { ElConfigProvider } from 'element-plus/es/components/config-provider/index.mjs'
import { ElDatePicker } from 'element-plus/es/components/date-picker/index.mjs'
import { ElDialog } from 'element-plus/es/components/dialog/index.mjs'
import { ElEmpty } from 'element-plus/es/components/empty/index.mjs'
import { ElForm, ElFormItem } from 'element-plus/es/components/form/index.mjs'
import { ElInput } from 'element-plus/es/components/input/index.mjs'
import { ElInputNumber } from 'element-plus/es/components/input-number/index.mjs'
import { ElLoading } from 'element-plus/es/components/loading/index.mjs'
import { ElMenu, ElMenuItem } from 'element-plus/es/components/menu/index.mjs'
import { ElOption, ElSelect } from 'element-plus/es/components/select/index.mjs'
import { ElPagination } from 'element-plus/es/components/pagination/index.mjs'
import { ElRadioButton, ElRadioGroup } from 'element-plus/es/components/radio/index.mjs'
import { ElSwitch } from 'element-plus/es/components/switch/index.mjs'
import { ElTabPane, ElTabs } from 'element-plus/es/components/tabs/index.mjs'
import { ElTable, ElTableColumn } from 'element-plus/es/components/table/index.mjs'
import { ElTag } from 'element-plus/es/components/tag/index.mjs'
import { ElTooltip } from 'element-plus/es/components/tooltip/index.mjs'
import { ElMessage } from 'element-plus/es/components/message/index.mjs'
import { ElMessageBox } from 'element-plus/es/components/message-box/index.mjs'
import { ElNotification } from 'element-plus/es/components/notification/index.mjs'

export { ElMessage, ElMessageBox, ElNotification }

const COMPONENTS = [
  ElAlert, ElAside, ElButton, ElCard, ElCheckbox, ElCheckboxGroup, ElConfigProvider, ElContainer, ElDatePicker,
  ElDialog, ElEmpty, ElForm, ElFormItem, ElHeader, ElInput, ElInputNumber, ElMain, ElMenu, ElMenuItem, ElOption,
  ElPagination, ElRadioButton, ElRadioGroup, ElSelect, ElSwitch, ElTabPane, ElTable, ElTableColumn, ElTabs, ElTag,
  ElTooltip,
]

export const elementPlus = {
  install(app) {
    // app.component, not app.use: sub-components (ElRadioButton, ElOption,
    // ElTableColumn, …) have a no-op install and are otherwise only
    // registered as a side effect of installing their parent.
    for (const c of COMPONENTS) app.component(c.name, c)
    app.use(ElLoading) // the v-loading directive
    // The services get the app's context (config provider settings) this way.
    for (const s of [ElMessage, ElMessageBox, ElNotification]) app.use(s)
  },
}
