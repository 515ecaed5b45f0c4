// The install step for the optional native addon (netlink sock_diag + fd walk). The package
// ships it prebuilt (native/prebuilds, see prebuild.mjs): when one of those loads here, nothing is
// compiled. Otherwise node-gyp builds it from source (a git checkout always does: it has no
// prebuilds). A failed build never fails `npm install`: portwarden then uses its pure TypeScript
// /proc backend, and this says so in one line.
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
if (process.platform !== 'linux' || process.env.PORTWARDEN_NO_NATIVE === '1') process.exit(0)

const fromSource = ['true', 'portwarden'].includes(process.env.npm_config_build_from_source ?? '')
if (!fromSource && prebuildLoads()) process.exit(0)

// npm names its bundled node-gyp for scripts; outside npm, the one beside this Node's npm.
const prefix = dirname(dirname(process.execPath))
const bundledGyp = join(prefix, 'lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js')
const gyp = process.env.npm_config_node_gyp ?? (existsSync(bundledGyp) ? bundledGyp : undefined)
const [command, args] = gyp ? [process.execPath, [gyp, 'rebuild']] : ['node-gyp', ['rebuild']]
const env = { ...process.env }
// The running Node's own headers, where it has them: node-gyp would download them otherwise.
if (!env.npm_config_nodedir && existsSync(join(prefix, 'include/node/node_api.h'))) {
  env.npm_config_nodedir = prefix
}
const result = spawnSync(command, args, {
  cwd: here,
  env,
  encoding: 'utf8',
  stdio: ['ignore', 'ignore', 'pipe'],
})
if (result.status !== 0) {
  // node-gyp's own first error says what is missing ("Could not find any Python installation to
  // use", "not found: make"); its many other lines stay out of the one line said here.
  const said = /^gyp ERR! stack Error: (.+)$/m.exec(result.stderr ?? '')?.[1]?.trim()
  const reason = result.error?.message ?? said ?? `node-gyp exited with ${result.status}`
  process.stderr.write(
    `portwarden: the native addon did not build (${reason}); the /proc backend will be used.\n`,
  )
}

/**
 * Whether a shipped prebuild fits this machine: node-gyp-build picks it by platform, arch and C
 * library (musl only where it sees Alpine), and loading it proves the pick (a glibc build on
 * another musl distribution fails here, and then it is built from source).
 */
function prebuildLoads() {
  try {
    process.env.PREBUILDS_ONLY = '1' // native/build is what a rebuild replaces, not a prebuild
    const file = createRequire(import.meta.url)('node-gyp-build').resolve(here)
    const module = { exports: {} }
    process.dlopen(module, file)
    return typeof module.exports.dumpSockets === 'function'
  } catch {
    return false
  } finally {
    delete process.env.PREBUILDS_ONLY
  }
}
