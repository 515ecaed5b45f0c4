// Builds the prebuilt addons the package ships, with prebuildify: native/prebuilds/linux-<arch>/
// portwarden.glibc.node always, and portwarden.musl.node when musl-gcc is there (Debian's
// musl-tools). N-API, so one build serves every Node >= 20. Each build runs in a temporary copy
// of the sources: native/build (the addon this checkout and its running tests load) is never
// touched. `npm run prebuild` runs it, and so does prepack (npm pack and npm publish).
import { spawnSync } from 'node:child_process'
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
const prebuildify = require('prebuildify')
const here = dirname(fileURLToPath(import.meta.url))
const out = join(here, 'prebuilds')

if (process.platform !== 'linux') {
  process.stderr.write('portwarden prebuild: the addon is Linux-only; nothing to build here.\n')
  process.exit(0)
}

// The running Node's own headers (no download: node-gyp would fetch them otherwise).
const prefix = dirname(dirname(process.execPath))
if (!process.env.npm_config_nodedir && existsSync(join(prefix, 'include/node/node_api.h'))) {
  process.env.npm_config_nodedir = prefix
}
// npm names its bundled node-gyp for scripts; outside npm, the one beside this Node's npm.
const bundledGyp = join(prefix, 'lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js')
const nodeGyp =
  process.env.npm_config_node_gyp ?? (existsSync(bundledGyp) ? bundledGyp : 'node-gyp')

/** The kernel's uapi headers (linux/, asm/, asm-generic/) for musl-gcc, which sees no /usr/include. */
function kernelHeaders(into) {
  const multiarch = spawnSync('gcc', ['-print-multiarch'], { encoding: 'utf8' }).stdout?.trim()
  const asm = [`/usr/include/${multiarch}/asm`, '/usr/include/asm'].find((d) => existsSync(d))
  mkdirSync(into)
  symlinkSync('/usr/include/linux', join(into, 'linux'))
  symlinkSync('/usr/include/asm-generic', join(into, 'asm-generic'))
  if (asm) symlinkSync(asm, join(into, 'asm'))
  return into
}

/** One prebuildify run in a temporary copy of the sources; returns the prebuilds/<platform-arch> dir. */
async function build(libc, env) {
  const work = mkdtempSync(join(tmpdir(), `portwarden-prebuild-${libc}-`))
  const extra = typeof env === 'function' ? env(work) : env
  const saved = Object.fromEntries(Object.keys(extra).map((key) => [key, process.env[key]]))
  try {
    for (const file of readdirSync(here)) {
      if (/\.(c|h)$/.test(file) || file === 'binding.gyp')
        copyFileSync(join(here, file), join(work, file))
    }
    // prebuildify hands its children a copy of process.env taken when it starts.
    Object.assign(process.env, extra)
    await new Promise((resolve, reject) => {
      const options = {
        cwd: work,
        name: 'portwarden',
        napi: true,
        strip: true,
        tagLibc: true,
        libc,
        nodeGyp,
        quiet: true,
        // node-gyp keys its header cache by version; the headers are the running Node's.
        targets: [process.versions.node],
      }
      prebuildify(options, (error) => (error ? reject(error) : resolve()))
    })
    const dir = readdirSync(join(work, 'prebuilds'))[0]
    mkdirSync(join(out, dir), { recursive: true })
    for (const file of readdirSync(join(work, 'prebuilds', dir))) {
      copyFileSync(join(work, 'prebuilds', dir, file), join(out, dir, file))
      process.stdout.write(`portwarden prebuild: native/prebuilds/${dir}/${file}\n`)
    }
    return join(out, dir)
  } finally {
    for (const [key, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[key]
      else process.env[key] = value
    }
    rmSync(work, { recursive: true, force: true })
  }
}

rmSync(out, { recursive: true, force: true })
const dir = await build('glibc', {})
// The glibc build must load into this Node (the musl one cannot: another C library).
const glibc = join(dir, 'portwarden.glibc.node')
const module = { exports: {} }
process.dlopen(module, glibc)
if (typeof module.exports.dumpSockets !== 'function') {
  throw new Error(`${glibc} loaded but has no dumpSockets`)
}

const musl = spawnSync('musl-gcc', ['--version'], { stdio: 'ignore' }).status === 0
if (musl) {
  await build('musl', (work) => ({
    CC: 'musl-gcc',
    CXX: 'musl-gcc',
    LINK: 'musl-gcc',
    CFLAGS: `-isystem ${kernelHeaders(join(work, 'kernel-headers'))}`,
  }))
  checkMuslLoads(join(dir, 'portwarden.musl.node'))
} else {
  process.stderr.write(
    'portwarden prebuild: no musl-gcc (Debian: apt-get install musl-tools), so no musl prebuild.\n',
  )
}

/**
 * No musl Node here to load the musl build into, so a musl program dlopens it with RTLD_NOW
 * (musl binds every symbol at load): every libc symbol must be musl's, and the N-API ones are
 * stubbed. A glibc build fails this check (it needs ld-linux-x86-64.so.2).
 */
function checkMuslLoads(file) {
  const work = mkdtempSync(join(tmpdir(), 'portwarden-musl-check-'))
  try {
    const undefinedSymbols = spawnSync('nm', ['-D', '--undefined-only', file], { encoding: 'utf8' })
    if (undefinedSymbols.status !== 0) throw new Error(`nm failed on ${file}`)
    const stubs = undefinedSymbols.stdout
      .split('\n')
      .map((line) => line.trim().split(/\s+/).pop())
      .filter((name) => name?.startsWith('napi_'))
      .map((name) => `void ${name}(void) {}\n`)
    writeFileSync(join(work, 'stubs.c'), stubs.join(''))
    writeFileSync(
      join(work, 'host.c'),
      '#include <dlfcn.h>\n#include <stdio.h>\nint main(int argc, char **argv) {\n' +
        '  void *addon = dlopen(argv[1], RTLD_NOW);\n' +
        '  if (!addon) { fprintf(stderr, "%s\\n", dlerror()); return 1; }\n' +
        '  return dlsym(addon, "napi_register_module_v1") ? 0 : 2;\n}\n',
    )
    const host = join(work, 'host')
    const cc = spawnSync('musl-gcc', ['-rdynamic', '-o', host, 'host.c', 'stubs.c'], {
      cwd: work,
      encoding: 'utf8',
    })
    if (cc.status !== 0) throw new Error(`musl-gcc could not build the load check: ${cc.stderr}`)
    const run = spawnSync(host, [file], { encoding: 'utf8' })
    if (run.status !== 0) {
      throw new Error(`${file} does not load under musl: ${run.stderr.trim() || run.status}`)
    }
    process.stdout.write('portwarden prebuild: the musl build loads under musl (N-API stubbed)\n')
  } finally {
    rmSync(work, { recursive: true, force: true })
  }
}
