import { defineConfig } from 'vite'
import vue from '@vitejs/plugin-vue'

// The console is served by the gateway from aiproxy/console/dist (see
// aiproxy/console/static.py). base './' makes every asset URL relative, so the
// same build works under /admin/ or any other mount prefix.
export default defineConfig({
  base: './',
  plugins: [vue()],
  build: {
    outDir: '../dist',
    emptyOutDir: true,
    chunkSizeWarningLimit: 1200,
    rollupOptions: {
      output: {
        // Split the big, rarely changing libraries into their own files so a
        // console change does not invalidate them in browser caches.
        manualChunks(id) {
          if (id.includes('node_modules/echarts') || id.includes('node_modules/zrender')) return 'echarts'
          if (id.includes('node_modules/element-plus') || id.includes('node_modules/@element-plus')) return 'element-plus'
          if (id.includes('node_modules/')) return 'vendor'
        },
      },
    },
  },
  server: {
    // `npm run dev` proxies the API to a gateway on :8000 (see README.md).
    proxy: {
      '/api': { target: process.env.AIPROXY_URL || 'http://127.0.0.1:8000', rewrite: (p) => '/admin' + p },
    },
  },
})
