// Console texts in English and Chinese. The choice is kept in localStorage;
// the first visit follows the browser (zh for zh-*, else en).
import { createI18n } from 'vue-i18n'

const LANG_KEY = 'aiproxy.lang'

const en = {
  app: { console: 'Console', logout: 'Log out' },
  nav: { dashboard: 'Dashboard', accounts: 'Accounts', keys: 'My API keys', users: 'Users', records: 'Usage records' },
  role: { admin: 'admin', user: 'user' },
  common: {
    refresh: 'Refresh', save: 'Save', cancel: 'Cancel', delete: 'Delete', edit: 'Edit', confirm: 'Please confirm',
    usage: 'Usage', actions: 'Actions', enabled: 'Enabled', disabled: 'disabled', saved: 'Saved', deleted: 'Deleted',
    copy: 'Copy', copied: 'Copied to the clipboard', copyFailed: 'Could not copy: select the text and copy it by hand',
    noData: 'No data', none: '(none)', all: 'all', optional: 'optional', unlimited: 'no limit',
    search: 'Search', clear: 'Clear',
  },
  error: {
    network: 'Cannot reach the gateway: {detail}',
    http: 'HTTP {status}: {text}',
    sessionExpired: 'Your session has ended: please log in again',
    badJson: '{field}: not valid JSON ({detail})',
    notObject: '{field}: must be a JSON object',
  },
  login: { username: 'Username', password: 'Password', submit: 'Log in' },
  password: {
    title: 'Change password', required: 'You must change your password before using the console.',
    old: 'Current password', new: 'New password', confirm: 'Repeat new password', submit: 'Change password',
    tooShort: 'At least {n} characters', sameAsOld: 'The new password must differ from the current one',
    mismatch: 'The two new passwords differ', changed: 'Password changed',
  },
  dash: {
    today: 'Today', days7: '7 days', days30: '30 days', requests: 'Requests', tokens: 'Tokens', cost: 'Cost (USD)',
    errors: 'Errors', errorRate: '{p}% of requests', unpriced: '{n} requests without a price',
    tokenSplit: 'in {i} · out {o} · cache {c}', trafficChart: 'Requests and tokens', costChart: 'Cost',
    byModel: 'By model', byAccount: 'By account', health: 'Account health',
  },
  col: {
    name: 'Name', platform: 'Platform', type: 'Type', state: 'State', priority: 'Priority', schedulable: 'Schedulable',
    group: 'Group', models: 'Models', model: 'Model', account: 'Account', key: 'Key', status: 'Status', created: 'Created',
    platforms: 'Platforms',
  },
  state: { ok: 'OK', rate_limited: 'Rate limited', overloaded: 'Overloaded', error: 'Error', unknown: 'Unknown' },
  accounts: {
    new: 'New account', none: 'No accounts yet', paused: 'paused', until: 'Until', untilShort: 'until {time}',
    todayRequests: 'Today', lastError: 'Last error', noCreds: 'no credentials', today: 'Today', req: 'req',
    test: 'Test', reset: 'Reset', testOk: '{name}: test passed', testFailed: '{name}: test failed',
    resetDone: '{name}: state cleared', confirmDelete: 'Delete the account "{name}"? This cannot be undone.',
  },
  acctType: {
    'claude-console': 'Anthropic API key', 'claude-official': 'Claude subscription (OAuth)', ccr: 'Claude Code Router relay',
    bedrock: 'AWS Bedrock', openai: 'OpenAI / compatible API key', 'azure-openai': 'Azure OpenAI',
    'openai-responses': 'ChatGPT login (Codex) or Responses key', 'gemini-api': 'Gemini API key',
    'gemini-oauth': 'Gemini CLI Google login (OAuth)',
  },
  credMode: { apikey: 'API key', aws: 'AWS access keys', oauth: 'OAuth login', json: 'Paste tokens JSON', keep: 'Keep current' },
  acct: {
    newTitle: 'New account', editTitle: 'Edit account: {name}', credentials: 'Credentials', credMode: 'Sign-in method',
    leaveBlank: 'leave blank to keep the stored one',
    tokensJson: 'Tokens JSON',
    tokensJsonHint: {
      'claude-official': 'or the content of ~/.claude/.credentials.json',
      'gemini-oauth': 'or the content of ~/.gemini/oauth_creds.json',
      'openai-responses': 'or the content of ~/.codex/auth.json',
    },
    oauthHelp: {
      'claude-official': 'Open the authorize URL, log in to Claude, then paste the code the page shows (code#state) below.',
      'gemini-oauth': 'Open the authorize URL, log in with Google, then paste the code Google shows below.',
      'openai-responses': 'Open the authorize URL and sign in to ChatGPT. The browser ends on http://localhost:1455/auth/callback?code=… (the page need not load): paste that whole URL below.',
    },
    oauthStep1: '1. Authorize', oauthStep2: '2. Code or callback URL', oauthOpen: 'Open authorize URL',
    oauthManual: 'If no tab opened, open this URL:', oauthCodeHint: 'Paste the code or the whole callback URL here',
    oauthFinish: 'Finish login and save', oauthDone: 'Login finished', oauthStartFirst: 'Open the authorize URL first',
    oauthCodeRequired: 'Paste the code or callback URL', keepCreds: 'The stored credentials are kept.',
    connection: 'Connection', baseUrl: 'Base URL', proxy: 'Outbound proxy',
    routing: 'Routing', modelsHint: 'empty: every model (type and Enter to add)', mapping: 'Model mapping',
    mapFrom: 'requested model', mapTo: 'upstream model', addMapping: 'Add mapping',
    priorityHint: 'lower is tried first', weight: 'Weight', maxConcurrency: 'Max concurrency',
    groupHint: 'empty: shared pool', schedulableHint: 'off: parked, never picked',
    otherOptions: 'Other options (JSON)', nameRequired: 'Name is required', baseUrlRequired: 'This type needs a base URL',
    fieldRequired: '{field} is required', credentialsRequired: 'Enter the credentials',
    oauthHelpAny: 'Open the authorize URL, log in, then paste the code (or the callback URL) below.',
  },
  // Credential and option inputs, by their name in the account's credentials
  // or options (GET /admin/api/account-types); a name not here shows the
  // gateway's English label.
  field: {
    api_key: 'API key', organization: 'Organization', project: 'Project', access_key_id: 'Access key ID',
    secret_access_key: 'Secret access key', session_token: 'Session token', region: 'AWS region',
    cross_region_prefix: 'Cross-region prefix', model_ids: 'Bedrock model ids', api_version: 'API version',
    responses_api_version: 'Responses API version', deployments: 'Deployments', v1: 'Use Azure v1 API',
    project_id: 'Project id',
  },
  keys: {
    new: 'New key', none: 'No keys yet', allTitle: 'API keys', allOwners: 'All owners', owner: 'Owner', prefix: 'Prefix',
    limits: 'Limits', expiry: 'Expiry', never: 'never', expired: 'expired', afterFirstUse: '{n} days after first use',
    firstUsed: 'first used', clientsShort: 'clients', enabledMsg: '{name} enabled', disabledMsg: '{name} disabled',
    confirmDelete: 'Delete the key "{name}" ({prefix}…)? Clients using it stop working at once.',
    limConc: '{n} concurrent', limDayTok: '{n} tokens/day', limDay: '{n}/day', limWeek: '{n}/week', limTotal: '{n} total',
    newTitle: 'New API key', editTitle: 'Edit key: {name}', nameRequired: 'Name is required',
    expiresAt: 'Expires at', expiresAfterDays: 'Expires after (days)', expiresAfterHint: 'counted from its first use',
    emptyAll: 'none checked: all', emptyAny: 'none checked: any client', modelsHint: 'empty: every model; wildcards like claude-sonnet-*',
    allowedClients: 'Allowed clients', binding: 'Binding', sharedPool: 'shared pool', sharedFallback: 'Fall back to shared pool',
    quotas: 'Quotas',
    createdTitle: 'Key "{name}" created', shownOnce: 'Copy the key now: it is shown only this once and cannot be recovered.',
    clientSettings: 'Client settings', gatewayUrl: 'Gateway URL', snipShell: 'In your shell:',
    snipCodexToml: 'In ~/.codex/config.toml:', snipGeminiSettings: 'In ~/.gemini/settings.json:', savedIt: 'I have saved the key',
  },
  quota: {
    rpm_limit: 'Requests per minute', max_concurrency: 'Max concurrency', daily_token_limit: 'Tokens per day',
    daily_cost_limit: 'Cost per day', weekly_cost_limit: 'Cost per week', total_cost_limit: 'Total cost',
  },
  users: {
    new: 'New user', you: 'you', mustChange: 'Must change password', role: 'Role', updated: 'Updated',
    resetPassword: 'Reset password', resetPasswordFor: 'Reset password: {name}', usernameRequired: 'Username is required',
    created: 'User {name} created', passwordReset: 'Password of {name} reset',
    confirmDelete: 'Delete the user "{name}"? All of their API keys are deleted too.',
    deleted: 'User {name} deleted ({n} keys deleted)',
  },
  usage: { title: 'Usage: {name}', last30: 'Last 30 days' },
  rec: {
    time: 'Time', tokens: 'Tokens in / out', in: 'Input', out: 'Output', cache: 'Cache', cacheShort: 'cache read {r} · write {w}',
    unpriced: 'unpriced', stream: 'stream', duration: 'Duration', error: 'Error', from: 'From', to: 'To',
    bridging: 'Translation', bridged: 'Translated', native: 'Not translated',
    bridgedHint: "Translated: the client's API format → the one sent to the account",
  },
}

const zh = {
  app: { console: '管理控制台', logout: '退出登录' },
  nav: { dashboard: '仪表盘', accounts: '上游账号', keys: '我的 API 密钥', users: '用户', records: '使用记录' },
  role: { admin: '管理员', user: '普通用户' },
  common: {
    refresh: '刷新', save: '保存', cancel: '取消', delete: '删除', edit: '编辑', confirm: '请确认',
    usage: '用量', actions: '操作', enabled: '启用', disabled: '已停用', saved: '已保存', deleted: '已删除',
    copy: '复制', copied: '已复制到剪贴板', copyFailed: '无法复制：请手动选中文本复制',
    noData: '暂无数据', none: '（无）', all: '全部', optional: '可选', unlimited: '不限',
    search: '查询', clear: '重置',
  },
  error: {
    network: '无法连接网关：{detail}',
    http: 'HTTP {status}：{text}',
    sessionExpired: '登录已失效，请重新登录',
    badJson: '{field}：不是有效的 JSON（{detail}）',
    notObject: '{field}：必须是 JSON 对象',
  },
  login: { username: '用户名', password: '密码', submit: '登录' },
  password: {
    title: '修改密码', required: '使用控制台前必须先修改密码。',
    old: '当前密码', new: '新密码', confirm: '再次输入新密码', submit: '修改密码',
    tooShort: '至少 {n} 个字符', sameAsOld: '新密码不能与当前密码相同',
    mismatch: '两次输入的新密码不一致', changed: '密码已修改',
  },
  dash: {
    today: '今天', days7: '7 天', days30: '30 天', requests: '请求数', tokens: 'Token 数', cost: '费用（美元）',
    errors: '错误', errorRate: '占请求的 {p}%', unpriced: '{n} 个请求无价格',
    tokenSplit: '输入 {i} · 输出 {o} · 缓存 {c}', trafficChart: '请求数与 Token', costChart: '费用',
    byModel: '按模型', byAccount: '按账号', health: '账号健康状况',
  },
  col: {
    name: '名称', platform: '平台', type: '类型', state: '状态', priority: '优先级', schedulable: '可调度',
    group: '分组', models: '模型', model: '模型', account: '账号', key: '密钥', status: '状态码', created: '创建时间',
    platforms: '平台',
  },
  state: { ok: '正常', rate_limited: '限流中', overloaded: '过载', error: '错误', unknown: '未知' },
  accounts: {
    new: '新建账号', none: '还没有账号', paused: '已暂停', until: '持续到', untilShort: '至 {time}',
    todayRequests: '今日请求', lastError: '最近错误', noCreds: '无凭据', today: '今日', req: '次',
    test: '测试', reset: '重置', testOk: '{name}：测试通过', testFailed: '{name}：测试失败',
    resetDone: '{name}：状态已清除', confirmDelete: '删除账号「{name}」？此操作不可撤销。',
  },
  acctType: {
    'claude-console': 'Anthropic API 密钥', 'claude-official': 'Claude 订阅（OAuth）', ccr: 'Claude Code Router 中转',
    bedrock: 'AWS Bedrock', openai: 'OpenAI / 兼容接口密钥', 'azure-openai': 'Azure OpenAI',
    'openai-responses': 'ChatGPT 登录（Codex）或 Responses 密钥', 'gemini-api': 'Gemini API 密钥',
    'gemini-oauth': 'Gemini CLI 谷歌登录（OAuth）',
  },
  credMode: { apikey: 'API 密钥', aws: 'AWS 访问密钥', oauth: 'OAuth 登录', json: '粘贴令牌 JSON', keep: '保持不变' },
  acct: {
    newTitle: '新建账号', editTitle: '编辑账号：{name}', credentials: '凭据', credMode: '登录方式',
    leaveBlank: '留空则保持原值',
    tokensJson: '令牌 JSON',
    tokensJsonHint: {
      'claude-official': '或 ~/.claude/.credentials.json 的内容',
      'gemini-oauth': '或 ~/.gemini/oauth_creds.json 的内容',
      'openai-responses': '或 ~/.codex/auth.json 的内容',
    },
    oauthHelp: {
      'claude-official': '打开授权链接并登录 Claude，然后把页面显示的授权码（code#state）粘贴到下方。',
      'gemini-oauth': '打开授权链接并用谷歌账号登录，然后把谷歌显示的授权码粘贴到下方。',
      'openai-responses': '打开授权链接并登录 ChatGPT。浏览器最后会跳到 http://localhost:1455/auth/callback?code=…（页面打不开没关系）：把地址栏中的完整 URL 粘贴到下方。',
    },
    oauthStep1: '1. 授权', oauthStep2: '2. 授权码或回调 URL', oauthOpen: '打开授权链接',
    oauthManual: '如果没有打开新标签页，请手动打开：', oauthCodeHint: '在此粘贴授权码或完整的回调 URL',
    oauthFinish: '完成登录并保存', oauthDone: '登录完成', oauthStartFirst: '请先打开授权链接',
    oauthCodeRequired: '请粘贴授权码或回调 URL', keepCreds: '保留已保存的凭据。',
    connection: '连接', baseUrl: 'Base URL', proxy: '出站代理',
    routing: '路由', modelsHint: '留空：全部模型（输入后回车添加）', mapping: '模型映射',
    mapFrom: '请求的模型', mapTo: '上游模型', addMapping: '添加映射',
    priorityHint: '数值越小越优先', weight: '权重', maxConcurrency: '最大并发',
    groupHint: '留空：共享池', schedulableHint: '关闭：暂停，不参与调度',
    otherOptions: '其他选项（JSON）', nameRequired: '名称必填', baseUrlRequired: '此类型需要 Base URL',
    fieldRequired: '请填写{field}', credentialsRequired: '请填写凭据',
    oauthHelpAny: '打开授权链接并登录，然后把授权码（或回调 URL）粘贴到下方。',
  },
  field: {
    api_key: 'API 密钥', organization: '组织', project: '项目', access_key_id: 'Access key ID',
    secret_access_key: 'Secret access key', session_token: 'Session token', region: 'AWS 区域',
    cross_region_prefix: '跨区域前缀', model_ids: 'Bedrock 模型 ID', api_version: 'API 版本',
    responses_api_version: 'Responses API 版本', deployments: '部署映射', v1: '使用 Azure v1 API',
    project_id: '项目 ID',
  },
  keys: {
    new: '新建密钥', none: '还没有密钥', allTitle: 'API 密钥', allOwners: '全部所有者', owner: '所有者', prefix: '前缀',
    limits: '限额', expiry: '过期', never: '永不过期', expired: '已过期', afterFirstUse: '首次使用后 {n} 天',
    firstUsed: '首次使用', clientsShort: '客户端', enabledMsg: '已启用 {name}', disabledMsg: '已停用 {name}',
    confirmDelete: '删除密钥「{name}」（{prefix}…）？使用它的客户端将立即失效。',
    limConc: '并发 {n}', limDayTok: '每天 {n} Token', limDay: '每天 {n}', limWeek: '每周 {n}', limTotal: '总计 {n}',
    newTitle: '新建 API 密钥', editTitle: '编辑密钥：{name}', nameRequired: '名称必填',
    expiresAt: '过期时间', expiresAfterDays: '有效天数', expiresAfterHint: '从首次使用起计算',
    emptyAll: '都不勾选：全部', emptyAny: '都不勾选：任意客户端', modelsHint: '留空：全部模型；可用通配符如 claude-sonnet-*',
    allowedClients: '允许的客户端', binding: '绑定', sharedPool: '共享池', sharedFallback: '可回退到共享池',
    quotas: '配额',
    createdTitle: '密钥「{name}」已创建', shownOnce: '请立即复制密钥：它只显示这一次，之后无法找回。',
    clientSettings: '客户端配置', gatewayUrl: '网关地址', snipShell: '在终端中：',
    snipCodexToml: '写入 ~/.codex/config.toml：', snipGeminiSettings: '写入 ~/.gemini/settings.json：', savedIt: '我已保存密钥',
  },
  quota: {
    rpm_limit: '每分钟请求数', max_concurrency: '最大并发', daily_token_limit: '每日 Token',
    daily_cost_limit: '每日费用', weekly_cost_limit: '每周费用', total_cost_limit: '总费用',
  },
  users: {
    new: '新建用户', you: '你', mustChange: '须修改密码', role: '角色', updated: '更新时间',
    resetPassword: '重置密码', resetPasswordFor: '重置密码：{name}', usernameRequired: '用户名必填',
    created: '已创建用户 {name}', passwordReset: '已重置 {name} 的密码',
    confirmDelete: '删除用户「{name}」？其全部 API 密钥也会被删除。',
    deleted: '已删除用户 {name}（删除了 {n} 个密钥）',
  },
  usage: { title: '用量：{name}', last30: '最近 30 天' },
  rec: {
    time: '时间', tokens: 'Token 输入 / 输出', in: '输入', out: '输出', cache: '缓存', cacheShort: '缓存读 {r} · 写 {w}',
    unpriced: '无价格', stream: '流式', duration: '耗时', error: '错误', from: '开始时间', to: '结束时间',
    bridging: '格式转换', bridged: '已转换', native: '未转换',
    bridgedHint: '已转换：客户端的 API 格式 → 发给上游账号的格式',
  },
}

function initialLocale() {
  const saved = localStorage.getItem(LANG_KEY)
  if (saved === 'zh' || saved === 'en') return saved
  return (navigator.language || '').toLowerCase().startsWith('zh') ? 'zh' : 'en'
}

export const i18n = createI18n({
  legacy: false,
  locale: initialLocale(),
  fallbackLocale: 'en',
  messages: { en, zh },
})

document.documentElement.lang = i18n.global.locale.value === 'zh' ? 'zh-CN' : 'en'

export function setLocale(lang) {
  i18n.global.locale.value = lang
  localStorage.setItem(LANG_KEY, lang)
  document.documentElement.lang = lang === 'zh' ? 'zh-CN' : 'en'
}
