import { defineConfig } from 'vite'

// The dashboard: web/ is built into dist/web/ (index.html + assets/), which `portwarden serve`
// serves at / and /assets/*. The server's CSP is `default-src 'self'`, so nothing may be inlined:
// no data: URIs for assets, no inline module-preload polyfill.
export default defineConfig({
  root: 'web',
  base: '/',
  build: {
    outDir: '../dist/web',
    emptyOutDir: true,
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    target: 'es2022',
  },
  server: {
    // `npx vite` against a running `portwarden serve` (PORTWARDEN_URL, default its default port);
    // changeOrigin makes the Host header the server's own, which its rebinding check accepts.
    proxy: {
      '/api': {
        target: process.env.PORTWARDEN_URL ?? 'http://127.0.0.1:7878',
        changeOrigin: true,
      },
    },
  },
})
