// The install step for the optional native addon (netlink sock_diag + fd walk). A failed build
// never fails `npm install`: portwarden then uses its pure TypeScript /proc backend.
import { spawnSync } from 'node:child_process'
import { dirname } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
if (process.platform !== 'linux' || process.env.PORTWARDEN_NO_NATIVE === '1') process.exit(0)
// npm puts its bundled node-gyp on PATH for scripts; npm_config_node_gyp names it directly.
const gyp = process.env.npm_config_node_gyp
const [command, args] = gyp ? [process.execPath, [gyp, 'rebuild']] : ['node-gyp', ['rebuild']]
const result = spawnSync(command, args, { cwd: here, stdio: ['ignore', 'ignore', 'pipe'] })
if (result.status !== 0) {
  const reason = result.error?.message ?? `node-gyp exited with ${result.status}`
  process.stderr.write(
    `portwarden: the native addon did not build (${reason}); the /proc backend will be used.\n`,
  )
}
