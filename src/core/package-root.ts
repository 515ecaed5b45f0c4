import { fileURLToPath } from 'node:url'

/**
 * The package's root directory (with a trailing slash). Every module sits two levels below it:
 * src/core/ under the tests, dist/core/ in the library, dist/bin/ in the CLI bundle (whose
 * chunks share one directory), so files outside the code (package.json, the native addon, the
 * dashboard, the worker script) are found from here in every layout.
 */
export const PACKAGE_ROOT = fileURLToPath(new URL('../../', import.meta.url))
