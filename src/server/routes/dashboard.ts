import { readFile, realpath } from 'node:fs/promises'
import { extname, sep } from 'node:path'
import type { Hono } from 'hono'
import { PACKAGE_ROOT } from '../../core/package-root.js'
import { ApiError } from '../errors.js'

/** Where Vite puts the dashboard. */
export const DEFAULT_WEB_ROOT = `${PACKAGE_ROOT}dist/web/`

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
}

const NOT_BUILT = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>portwarden</title></head>
<body><h1>portwarden</h1>
<p>The dashboard was not built. Run <code>npm run build</code> in portwarden's directory, then reload.</p>
<p>The API answers at <code>/api/system/ports</code>; metrics at <code>/metrics</code>.</p>
</body></html>
`

/**
 * GET / (index.html) and GET /assets/* from the built dashboard. Names are resolved inside the
 * web root only (no `..`, no symlink out of it); anything else is a 404.
 */
export function dashboardRoutes(app: Hono, webRoot: string = DEFAULT_WEB_ROOT): void {
  const root = webRoot.endsWith(sep) ? webRoot : `${webRoot}${sep}`

  app.get('/', async (c) => {
    const file = await readInside(root, 'index.html')
    if (file === null) return c.html(NOT_BUILT, 200)
    return c.body(new Uint8Array(file), 200, { 'Content-Type': CONTENT_TYPES['.html'] as string })
  })

  app.get('/assets/*', async (c) => {
    const name = c.req.path.slice('/'.length)
    const type = CONTENT_TYPES[extname(name).toLowerCase()]
    const file =
      type !== undefined && /^assets\/[A-Za-z0-9._/-]+$/.test(name) && !name.includes('..')
        ? await readInside(root, name)
        : null
    if (file === null) throw new ApiError('not_found', `No such file: /${name.slice(0, 200)}.`)
    // Vite names assets by content hash: they never change under the same name.
    return c.body(new Uint8Array(file), 200, {
      'Content-Type': type as string,
      'Cache-Control': 'public, max-age=31536000, immutable',
    })
  })
}

async function readInside(root: string, name: string): Promise<Buffer | null> {
  try {
    const realRoot = await realpath(root)
    const real = await realpath(`${root}${name}`)
    if (!real.startsWith(`${realRoot}${sep}`)) return null
    return await readFile(real)
  } catch {
    return null
  }
}
