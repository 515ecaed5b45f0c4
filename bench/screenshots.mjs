// Screenshots of the dashboard for the README (docs/screenshots/), taken in Debian's headless
// Chromium against a real `portwarden serve` with a few demo services, a registry with a healthy,
// a stale and a hostile-named allocation, and a process started with an ANSI-coloured argv[0].
//
// usage: npm run build && npm run screenshots [-- --url http://127.0.0.1:PORT/#token=TOKEN]
// (--url shoots a server you already run instead of starting one with a throwaway state dir.)
// As root it runs in a network namespace of its own, so the table shows the demo's listeners and
// not whatever else this machine is running.
import { spawn, spawnSync, execFileSync } from 'node:child_process'
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { chromium } from 'playwright-core'

const ROOT = fileURLToPath(new URL('../', import.meta.url))
const CLI = join(ROOT, 'dist/bin/portwarden.cjs')
const OUT = join(ROOT, 'docs/screenshots')
const WIDE = { width: 1280, height: 820 }
const NARROW = { width: 390, height: 844 }

const urlFlag = process.argv.indexOf('--url')
if (urlFlag < 0 && process.getuid?.() === 0 && process.env.PW_SCREENSHOTS_NETNS === undefined) {
  const args = [fileURLToPath(import.meta.url), ...process.argv.slice(2)]
  const inner = spawnSync(
    'unshare',
    ['-n', 'sh', '-c', 'ip link set lo up && exec "$@"', 'sh', process.execPath, ...args],
    { stdio: 'inherit', env: { ...process.env, PW_SCREENSHOTS_NETNS: '1' } },
  )
  process.exit(inner.status ?? 1)
}

const children = []
const state = mkdtempSync(join(tmpdir(), 'pw-screenshots-'))
const env = {
  ...process.env,
  XDG_STATE_HOME: state,
  PORTWARDEN_REGISTRY: join(state, 'registry.db'),
  NO_COLOR: '1',
}

function freePort(host = '127.0.0.1') {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, host, () => {
      const { port } = server.address()
      server.close(() => resolve(port))
    })
  })
}

/** Starts a process in its own group; resolves with the first output line matching `pattern`. */
function start(command, args, pattern) {
  const child = spawn(command, args, {
    env,
    cwd: ROOT,
    detached: true,
    stdio: ['pipe', 'pipe', 'pipe'],
  })
  children.push(child)
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${command}: no ${pattern} in 15 s`)), 15_000)
    const onLine = (line) => {
      const match = pattern.exec(line)
      if (match) {
        clearTimeout(timer)
        resolve({ child, match })
      }
    }
    createInterface({ input: child.stdout }).on('line', onLine)
    createInterface({ input: child.stderr }).on('line', onLine)
    child.once('exit', (code) => reject(new Error(`${command} exited (${code}) before ${pattern}`)))
  })
}

// The interpreter itself, not a pyenv-style shim that would re-exec it and lose `exec -a`'s argv[0].
const PYTHON = execFileSync('python3', ['-c', 'import sys; print(sys.executable)'], {
  encoding: 'utf8',
}).trim()

function cli(...args) {
  // exit 1 is an answer (an unhealthy service), not a failure of the script
  try {
    return execFileSync(process.execPath, [CLI, ...args], { env, cwd: ROOT, encoding: 'utf8' })
  } catch (error) {
    if (error.status === 1) return error.stdout
    throw error
  }
}

async function startDemo() {
  // Allocate first, then start the service on its port (alloc never hands out a held port).
  const web = JSON.parse(cli('alloc', 'web', '--project', 'shop', '--json')).port
  await start(
    'python3',
    ['-u', '-m', 'http.server', String(web), '--bind', '127.0.0.1'],
    /Serving HTTP/,
  )
  cli('alloc', 'db', '--project', 'shop')
  cli('alloc', 'api', '--project', 'review-GH-42')
  cli('alloc', 'web', '--project', '<img src=x onerror=alert(1)>')
  const docs = await freePort('::1')
  await start('python3', ['-u', '-m', 'http.server', String(docs), '--bind', '::1'], /Serving HTTP/)
  await start(
    'python3',
    ['-u', 'test/fixtures/hold-port.py', '--udp', '--name', 'wg-demo'],
    /^READY/,
  )
  const hostile = await start(
    'bash',
    ['-c', `exec -a "$0" ${PYTHON} -u test/fixtures/hold-port.py`, '\u001b[31mkill-me\u001b[0m'],
    /^READY (.*)$/,
  )
  cli('status', '--health-check', '--project', 'shop')
  const serve = await start(
    process.execPath,
    [CLI, 'serve', '--port', String(await freePort())],
    /dashboard: (http:\/\/\S+)/,
  )
  return { url: serve.match[1], busy: JSON.parse(hostile.match[1]).port }
}

function stopDemo() {
  for (const child of children) {
    try {
      process.kill(-child.pid, 'SIGTERM')
    } catch {
      // already gone
    }
  }
  rmSync(state, { recursive: true, force: true })
}

async function shoot(browser, url, busyPort) {
  mkdirSync(OUT, { recursive: true })
  for (const [suffix, viewport] of [
    ['wide', WIDE],
    ['narrow', NARROW],
  ]) {
    const page = await browser.newPage({ viewport, colorScheme: 'light' })
    await page.goto(url)
    await page.waitForSelector('body[data-loaded="true"]')
    await page.waitForSelector('#stream-state[data-state="live"]')
    await page.screenshot({
      path: join(OUT, `dashboard-${suffix}.png`),
      fullPage: suffix === 'wide',
    })

    if (busyPort !== null) {
      await page.fill('#port-input', String(busyPort))
      await page.waitForSelector('#port-answer[data-state="in-use"]')
      await page.screenshot({ path: join(OUT, `port-check-${suffix}.png`) })
      await page.click('#port-answer button')
      await page.waitForSelector(
        'dialog.free-dialog [data-action="confirm"], dialog.free-dialog .error',
      )
      await page.screenshot({ path: join(OUT, `free-plan-${suffix}.png`) })
    }
    await page.close()
  }
  const dark = await browser.newPage({ viewport: WIDE, colorScheme: 'dark' })
  await dark.goto(url)
  await dark.waitForSelector('body[data-loaded="true"]')
  await dark.screenshot({ path: join(OUT, 'dashboard-dark.png') })
  await dark.close()
}

let browser
try {
  const demo = urlFlag > 0 ? { url: process.argv[urlFlag + 1], busy: null } : await startDemo()
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] })
  await shoot(browser, demo.url, demo.busy)
  console.log(`screenshots in ${OUT}`)
} finally {
  await browser?.close()
  stopDemo()
}
