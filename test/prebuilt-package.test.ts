/**
 * Issue 15 item 3: the package ships the native addon prebuilt (native/prebuilds, made by
 * prebuildify in prepack). The tarball `npm pack` makes is installed into a clean directory with
 * no compiler on PATH (only node, npm and sh), and the fast path answers: `list --backend
 * netlink`, and the BPF holder scan where root; nothing was compiled. With the prebuilds taken
 * away, the install script falls back to the TypeScript path and says so in one line.
 *
 * The pack runs in a staging copy of the built package (dist/, native/ sources, package.json), so
 * the checkout's dist/ and native/build, which the other test files are using, are never touched.
 */
import { spawnSync } from 'node:child_process'
import { cpSync, existsSync, readFileSync, realpathSync, rmSync } from 'node:fs'
import { symlinkSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import type { AddressInfo, Server } from 'node:net'
import { homedir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { nativeAddon } from '../src/core/sockets/native-addon.js'
import { runCommand } from './helpers/cli.js'
import { ROOT } from './helpers/processes.js'
import { removeTempDirs, tempDir } from './helpers/temp-dirs.js'

afterAll(removeTempDirs)

/** npm's own script (npm-cli.js), which a PATH of symlinks can point at; null without npm. */
function npmCli(): string | null {
  const found = spawnSync('sh', ['-c', 'command -v npm'], { encoding: 'utf8' }).stdout.trim()
  return found ? realpathSync(found) : null
}

const npm = npmCli()
const built = existsSync(join(ROOT, 'dist/bin/portwarden.cjs'))
const sqliteAddon = join(ROOT, 'node_modules/better-sqlite3/build/Release/better_sqlite3.node')
const cannot =
  process.platform !== 'linux' || process.arch !== 'x64'
    ? `the package prebuilds linux-x64 only (this is ${process.platform}-${process.arch})`
    : npm === null
      ? 'npm is not on PATH, so `npm pack` cannot run'
      : !built
        ? 'dist/ is not built (run `npm run build`), so there is nothing to pack'
        : !existsSync(sqliteAddon)
          ? `${sqliteAddon} is missing (run \`npm ci\`): it stands in for better-sqlite3's download`
          : null
if (cannot) console.warn(`SKIPPED prebuilt-package.test.ts: ${cannot}`)

// Where root with a kernel that has BTF, the BPF task_file iterator is allowed (holder-scan.test.ts
// asks the same way); the installed addon must then scan with it too.
const { addon } = nativeAddon()
const bpfRefusal = addon
  ? addon.scanSocketFds(Uint32Array.of(process.pid), new Uint32Array(0), '/proc', 'auto', 1)
      .bpfRefusal
  : 'this checkout has no addon to ask'
if (!cannot && bpfRefusal) {
  console.warn(`SKIPPING the installed package's BPF scan check here: ${bpfRefusal}`)
}

/** A bin directory with node, npm and sh only: no cc, gcc, g++, make or python3. */
function compilerFreePath(): string {
  const bin = tempDir('pw-nocc-bin-')
  symlinkSync(process.execPath, join(bin, 'node'))
  symlinkSync(npm!, join(bin, 'npm'))
  symlinkSync('/bin/sh', join(bin, 'sh'))
  return bin
}

/** The staging copy's tarball (prepack's prebuilds inside) and the files npm put in it. */
async function packStagingCopy(): Promise<{ tarball: string; files: string[] }> {
  const stage = tempDir('pw-pack-')
  for (const entry of ['package.json', 'README.md', 'dist']) {
    cpSync(join(ROOT, entry), join(stage, entry), { recursive: true })
  }
  cpSync(join(ROOT, 'native'), join(stage, 'native'), {
    recursive: true,
    filter: (source) => !/\/native\/(build|prebuilds)(\/|$)/.test(source),
  })
  symlinkSync(join(ROOT, 'node_modules'), join(stage, 'node_modules'))
  // The prepack script is what `npm pack` runs first; the pack itself then skips scripts, since
  // `prepare` would rebuild dist/ from sources the staging copy does not have.
  const prepack = await runCommand(process.execPath, [npm!, 'run', 'prepack'], {
    cwd: stage,
    timeoutMs: 60_000,
  })
  expect(prepack.code, prepack.stderr).toBe(0)
  const out = tempDir('pw-tarball-')
  const pack = await runCommand(
    process.execPath,
    [npm!, 'pack', '--ignore-scripts', '--json', '--pack-destination', out],
    { cwd: stage, timeoutMs: 60_000 },
  )
  expect(pack.code, pack.stderr).toBe(0)
  const [info] = JSON.parse(pack.stdout) as { filename: string; files: { path: string }[] }[]
  return { tarball: join(out, info!.filename), files: info!.files.map((f) => f.path) }
}

/**
 * better-sqlite3's install downloads its prebuild from GitHub, which this machine cannot reach
 * (and without a compiler it cannot build it either). Its installer takes a local directory
 * instead: this one holds the very file that download would bring, from this checkout's install.
 */
function sqlitePrebuildDirectory(): string {
  const dir = tempDir('pw-sqlite-prebuilds-')
  const { version } = JSON.parse(
    readFileSync(join(ROOT, 'node_modules/better-sqlite3/package.json'), 'utf8'),
  ) as { version: string }
  const name = `better-sqlite3-v${version}-node-v${process.versions.modules}-linux-x64.tar.gz`
  const tar = spawnSync('tar', ['czf', join(dir, name), 'build/Release/better_sqlite3.node'], {
    cwd: join(ROOT, 'node_modules/better-sqlite3'),
  })
  expect(tar.status).toBe(0)
  return dir
}

describe.skipIf(cannot !== null)('the packed package on a machine without a compiler', () => {
  let server: Server | undefined
  afterAll(() => server?.close())

  it('installs the prebuilt addon, compiles nothing and takes the fast path', async () => {
    const { tarball, files } = await packStagingCopy()
    expect(files).toContain('native/prebuilds/linux-x64/portwarden.glibc.node')
    expect(files.some((f) => f.startsWith('native/build/'))).toBe(false)
    // .ci/run installs musl-tools; prepack then builds (and load-checks) the musl flavour too.
    if (spawnSync('sh', ['-c', 'command -v musl-gcc']).status === 0) {
      expect(files).toContain('native/prebuilds/linux-x64/portwarden.musl.node')
    } else console.warn('prebuilt-package: no musl-gcc here, so the tarball has no musl prebuild')

    const bin = compilerFreePath()
    for (const tool of ['cc', 'gcc', 'g++', 'make', 'python3', 'python']) {
      const found = spawnSync('sh', ['-c', `command -v ${tool}`], { env: { PATH: bin } })
      expect(found.status, `${tool} must not be on the install's PATH`).not.toBe(0)
    }
    const app = tempDir('pw-app-')
    writeFileSync(join(app, 'package.json'), '{"name":"pw-app","version":"1.0.0","private":true}')
    const state = tempDir('pw-state-')
    // Nothing inherited (no CC, no PORTWARDEN_NO_NATIVE from the suite's /proc pass): HOME keeps
    // npm's cache and configuration, so the dependencies come from the cache where it has them.
    const env = {
      HOME: process.env.HOME ?? homedir(),
      PATH: bin,
      XDG_STATE_HOME: state,
      NO_COLOR: '1',
      npm_config_better_sqlite3_local_prebuilds: sqlitePrebuildDirectory(),
      npm_config_update_notifier: 'false',
    }
    const npmIn = (args: string[]) =>
      runCommand(process.execPath, [npm!, ...args, '--foreground-scripts'], {
        cwd: app,
        env,
        timeoutMs: 90_000,
      })

    const install = await npmIn(['install', '--prefer-offline', '--no-audit', '--no-fund', tarball])
    console.log(`prebuilt-package: the tarball installed in ${(install.ms / 1000).toFixed(1)} s`)
    expect(install.code, install.stderr).toBe(0)
    expect(install.stderr).not.toMatch(/native addon did not build/)
    const installed = join(app, 'node_modules/portwarden')
    expect(existsSync(join(installed, 'native/build')), 'node-gyp ran').toBe(false)
    const picked = spawnSync(
      process.execPath,
      ['-p', `require('node-gyp-build').resolve(${JSON.stringify(join(installed, 'native'))})`],
      { cwd: app, encoding: 'utf8' },
    )
    expect(picked.stdout.trim()).toBe(
      join(installed, 'native/prebuilds/linux-x64/portwarden.glibc.node'),
    )

    server = createServer()
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve))
    const port = (server.address() as AddressInfo).port
    const cli = join(app, 'node_modules/.bin/portwarden')
    const list = (extra: Record<string, string> = {}) =>
      runCommand(cli, ['list', '--backend', 'netlink', '--port', String(port), '--json'], {
        env: { ...env, ...extra },
      })
    const holdersOf = (stdout: string) =>
      (JSON.parse(stdout) as { local_port: number; processes: { pid: number }[] }[]).flatMap((s) =>
        s.processes.map((p) => [s.local_port, p.pid]),
      )

    const fast = await list()
    expect(fast.code, fast.stderr).toBe(0)
    expect(fast.stderr).toBe('') // no "the native addon is not in use" note
    expect(holdersOf(fast.stdout)).toEqual([[port, process.pid]])
    if (!bpfRefusal) {
      // A forced method the kernel refuses exits 3; here it must answer, from the BPF iterator.
      const bpf = await list({ PORTWARDEN_FD_SCAN: 'bpf' })
      expect(bpf.code, bpf.stderr).toBe(0)
      expect(holdersOf(bpf.stdout)).toEqual([[port, process.pid]])
    }

    // No prebuild fits (taken away): the install script tries node-gyp, which finds no compiler,
    // and says so in one line; the package still installs and answers from /proc.
    rmSync(join(installed, 'native/prebuilds'), { recursive: true })
    const rebuild = await npmIn(['rebuild', 'portwarden'])
    expect(rebuild.code, rebuild.stderr).toBe(0)
    const said = rebuild.stderr.split('\n').filter((line) => line.startsWith('portwarden:'))
    expect(said).toHaveLength(1)
    expect(said[0]).toMatch(
      /^portwarden: the native addon did not build \(.+\); the \/proc backend will be used\.$/,
    )
    expect(existsSync(join(installed, 'native/build/Release/portwarden_native.node'))).toBe(false)
    const slow = await runCommand(cli, ['list', '--port', String(port), '--json'], { env })
    expect(slow.code, slow.stderr).toBe(0)
    expect(slow.stderr).toMatch(/^portwarden: note: the native addon is not in use/)
    expect(holdersOf(slow.stdout)).toEqual([[port, process.pid]])
    const netlink = await runCommand(
      cli,
      ['list', '--backend', 'netlink', '--port', String(port)],
      {
        env,
      },
    )
    expect(netlink.code).toBe(3)
    expect(netlink.stderr).toMatch(/The netlink backend is unavailable/)
  }, 150_000)
})
