import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

/**
 * The package's root directory (with a trailing slash). Every module sits two levels below it:
 * src/core/ under the tests, dist/core/ in the library, dist/bin/ in the CLI bundle (whose
 * chunks share one directory), so files outside the code (package.json, the native addon, the
 * dashboard, the worker script) are found from here in every layout.
 */
export const PACKAGE_ROOT = fileURLToPath(new URL('../../', import.meta.url))

/** The package's version, from its package.json (the CLI's --version, the MCP server's name). */
export function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(`${PACKAGE_ROOT}package.json`, 'utf8')) as { version: string }
  return pkg.version
}
