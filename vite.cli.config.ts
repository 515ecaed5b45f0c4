import { defineConfig } from 'vite'

// The CLI as one CommonJS bundle in dist/bin/ (entry portwarden.cjs, a chunk per command): Node 20
// starts a CommonJS file ~10 ms sooner than an ES module graph of ~30 files, and start-up is most
// of a `who` (bench/RESULTS.md). Built from tsc's output, so the code is exactly what dist/ has;
// the library (dist/core/index.js) stays unbundled ES modules. Every chunk sits in dist/bin/, two
// levels below the package root, as src/core/package-root.ts expects.
export default defineConfig({
  logLevel: 'warn',
  build: {
    ssr: 'dist/cli/bin.js',
    outDir: 'dist/bin',
    emptyOutDir: true,
    target: 'node20',
    minify: false,
    sourcemap: false,
    rollupOptions: {
      // Native code and optional drivers stay in node_modules.
      external: ['better-sqlite3', 'pg'],
      output: {
        format: 'cjs',
        entryFileNames: 'portwarden.cjs',
        chunkFileNames: '[name]-[hash].cjs',
      },
    },
  },
  ssr: { noExternal: true, target: 'node' },
})
