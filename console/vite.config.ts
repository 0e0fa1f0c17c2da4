import { defineConfig } from 'vite';
import solid from 'vite-plugin-solid';

// The api-server serves the built console at / (api-server/src/routes/console.ts), so every
// asset URL is absolute from the root, and the dev server proxies the API to a running server.
export default defineConfig({
  root: import.meta.dirname,
  base: '/',
  plugins: [solid()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: true,
    // CodeMirror and the chart library are most of the weight: keep them in their own chunks so
    // the fleet overview loads without them.
    chunkSizeWarningLimit: 1024,
  },
  server: {
    proxy: {
      '/api': { target: process.env.HQ_SERVER ?? 'https://127.0.0.1:8080', secure: false },
      '/apis': { target: process.env.HQ_SERVER ?? 'https://127.0.0.1:8080', secure: false, ws: false },
      '/version': { target: process.env.HQ_SERVER ?? 'https://127.0.0.1:8080', secure: false },
      // Sign-in: the Host header stays the dev server's, so the API's same-origin check holds.
      '^/(login|logout|session)$': { target: process.env.HQ_SERVER ?? 'https://127.0.0.1:8080', secure: false },
    },
  },
});
