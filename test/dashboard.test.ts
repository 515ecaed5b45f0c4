/**
 * The dashboard in a real headless Chromium against a real `portwarden serve`: listeners, the
 * port box, freeing a port end to end with the row leaving through the event stream, and the
 * reliability tests H3 (DNS rebinding), H5 (CSRF from another local origin) and I5 (hostile
 * names render as text).
 */
import { spawnSync } from 'node:child_process'
import { createSocket } from 'node:dgram'
import { mkdirSync, readFileSync } from 'node:fs'
import { createServer } from 'node:http'
import type { Server } from 'node:http'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import type { Browser, Page } from 'playwright-core'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { openRegistry } from '../src/core/index.js'
import { parseProcStat } from '../src/core/process/parse-proc-pid.js'
import { apiJson, launchChromium, whyNoBrowser } from './helpers/browser.js'
import { CLI, runCommand } from './helpers/cli.js'
import { startPortHolder } from './helpers/hold-port.js'
import { startHttpServer } from './helpers/manifest-cli.js'
import {
  FIXTURES,
  PYTHON,
  ROOT,
  startProcess,
  startSockets,
  stopStarted,
} from './helpers/processes.js'
import { freeLoopbackPort } from './helpers/servers.js'
import type { Serve } from './helpers/serve.js'
import { removeServeDirs, startServe } from './helpers/serve.js'
import { git, holdStale, isAlive, makeWorktrees, stopStaleHolders } from './helpers/stale-holder.js'
import { removeTempDirs, tempDir } from './helpers/temp-dirs.js'

const skip = whyNoBrowser()
if (skip) console.warn(`[linux/dashboard] SKIPPING the browser tests: ${skip}`)
const title = (text: string) => `${text}${skip ? ` [SKIPPED: ${skip}]` : ''}`

// .ci/run installs Chromium: in CI a missing browser is a failure, not a skip.
it.runIf(skip !== null && process.env.CI === 'true')('CI has what the browser tests need', () => {
  throw new Error(`the dashboard's browser tests cannot run in CI: ${skip}`)
})

interface Allocation {
  id: number
  project: string
  service: string
  port: number
}

/** pid and start time (field 22 of /proc/PID/stat): the same pair means the same process. */
function identity(pid: number): string | null {
  try {
    const stat = parseProcStat(readFileSync(`/proc/${pid}/stat`, 'latin1'))
    return stat ? `${stat.pid}:${stat.startTicks}` : null
  } catch {
    return null
  }
}

function rowOf(page: Page, port: number) {
  return page.locator(`#listener-rows tr[data-port="${port}"]`)
}

let labels = 0
/** A port holder with a label of its own in its command line, to filter the table down to it. */
async function startLabelledHolder(dir: string) {
  const label = `pw-dash-${process.pid}-${labels++}`
  return { ...(await startPortHolder(dir, ['--label', label])), label }
}

/**
 * Filters the table down to one holder's row (a busy machine may list more listeners than the
 * table shows at once) and waits for it.
 */
async function showRow(page: Page, holder: { port: number; label: string }) {
  await page.fill('#listener-filter', holder.label)
  const row = rowOf(page, holder.port)
  await row.waitFor()
  return row
}

// Generous bounds: the machine is shared, and a loaded one lists its sockets slowly.
const WAIT = { timeout: 30_000 }

describe.skipIf(skip !== null)('dashboard in headless Chromium', { timeout: 120_000 }, () => {
  let serve: Serve
  let browser: Browser
  let work: string
  const pages: Page[] = []

  async function openPage(
    url: string,
    options: { viewport?: { width: number; height: number } } = {},
  ) {
    const page = await browser.newPage({
      viewport: options.viewport ?? { width: 1280, height: 900 },
    })
    page.setDefaultTimeout(WAIT.timeout)
    pages.push(page)
    const errors: string[] = []
    page.on('pageerror', (error) => errors.push(error.message))
    page.on('console', (message) => {
      if (message.type() === 'error') errors.push(message.text())
    })
    await page.goto(url)
    return { page, errors }
  }

  async function openDashboard(withToken = true) {
    const opened = await openPage(withToken ? serve.dashboard : `${serve.url}/`)
    await opened.page.waitForSelector('body[data-loaded="true"]')
    return opened
  }

  beforeAll(async () => {
    work = tempDir('pw-dashboard-')
    serve = await startServe()
    browser = await launchChromium()
  })

  afterEach(async () => {
    for (const page of pages.splice(0)) await page.close()
  })

  afterAll(async () => {
    await browser?.close()
    await stopStarted()
    removeServeDirs()
    removeTempDirs()
  })

  it(
    title(
      'shows a listener the test opened, and the port box says in use for it and free for a free port',
    ),
    async () => {
      const holder = await startLabelledHolder(work)
      const { page, errors } = await openDashboard()

      // The token moved from the address bar into sessionStorage.
      expect(page.url()).toBe(`${serve.url}/`)
      expect(await page.evaluate("sessionStorage.getItem('portwarden.token')")).toBe(serve.token)

      const row = await showRow(page, holder)
      await expect.poll(() => row.innerText(), WAIT).toContain(`pid ${holder.pid}`)
      expect(await row.innerText()).toContain(holder.comm)

      await page.fill('#port-input', String(holder.port))
      const answer = page.locator('#port-answer')
      await expect
        .poll(() => answer.innerText(), WAIT)
        .toContain(`${holder.port}/tcp is in use by ${holder.comm} (pid ${holder.pid})`)

      const free = await freeLoopbackPort()
      await page.fill('#port-input', String(free))
      await expect.poll(() => answer.innerText(), WAIT).toContain(`${free}/tcp is free`)

      // `PORT/udp` asks about UDP, and the protocol selector follows the text
      const udp = createSocket('udp4')
      await new Promise<void>((resolve) => udp.bind(0, '127.0.0.1', resolve))
      try {
        const udpPort = udp.address().port
        await page.fill('#port-input', `${udpPort}/udp`)
        await expect.poll(() => answer.innerText(), WAIT).toContain(`${udpPort}/udp is in use`)
        expect(await page.inputValue('#port-protocol')).toBe('udp')
      } finally {
        udp.close()
      }

      await page.fill('#port-input', '70000')
      await expect.poll(() => answer.innerText(), WAIT).toContain('from 1 to 65535')
      expect(errors).toEqual([])
    },
  )

  it(
    title(
      'the port box names who a free port is allocated to, and what holds it over the other protocol',
    ),
    async () => {
      const alloc = await runCommand(
        process.execPath,
        [CLI, 'alloc', 'web', '--project', 'shop', '--json'],
        { env: serve.env },
      )
      expect(alloc.code, alloc.stderr).toBe(0)
      const allocation = JSON.parse(alloc.stdout) as Allocation
      const holder = await startLabelledHolder(work)
      const { page, errors } = await openDashboard()
      const answer = page.locator('#port-answer')

      await page.fill('#port-input', String(allocation.port))
      await expect
        .poll(() => answer.innerText(), WAIT)
        .toContain(
          `${allocation.port}/tcp is free (but allocated in the registry to web of project shop)`,
        )

      // A TCP holder: its port number over UDP is free, and the answer says who has the TCP one.
      await page.fill('#port-input', `${holder.port}/udp`)
      await expect.poll(() => answer.innerText(), WAIT).toContain(`${holder.port}/udp is free`)
      expect(await answer.innerText()).toMatch(
        new RegExp(
          `Note: TCP port ${holder.port} is held by ${holder.comm} \\(pid ${holder.pid}, user [^)]+\\) on 127\\.0\\.0\\.1:${holder.port}\\.`,
        ),
      )
      expect(errors).toEqual([])
    },
  )

  it(title('the filter and the sort change the rows shown'), async () => {
    const holder = await startLabelledHolder(work)
    const { page } = await openDashboard()
    await showRow(page, holder)
    await expect.poll(() => page.locator('#listener-rows tr').count(), WAIT).toBe(1)
    await page.fill('#listener-filter', 'no-such-listener-anywhere')
    await expect
      .poll(() => page.locator('#listener-rows').innerText(), WAIT)
      .toContain('No listener matches')
    await page.fill('#listener-filter', '')
    await page.click('button.sort[data-column="port"]')
    await expect.poll(() => page.locator('th[aria-sort="descending"]').count(), WAIT).toBe(1)
    // The rows are redrawn on the next frame: wait for them, highest port first.
    const shownPorts = () =>
      page.evaluate<number[]>(
        "[...document.querySelectorAll('#listener-rows tr')].map((row) => Number(row.dataset.port))",
      )
    await expect
      .poll(async () => {
        const ports = await shownPorts()
        return (
          ports.length > 1 && ports.every((port, i) => i === 0 || port <= (ports[i - 1] as number))
        )
      }, WAIT)
      .toBe(true)
  })

  it(
    title(
      'loads from the event stream’s ready (no second read); "All network namespaces" reads every namespace and names each row’s',
    ),
    async () => {
      const holder = await startLabelledHolder(work)
      // A listener in an ip-netns namespace of this test's, where root can make one.
      const ns = `pw-dash-${process.pid}`
      const made =
        process.getuid?.() === 0 &&
        spawnSync('ip', ['netns', 'add', ns]).status === 0 &&
        spawnSync('ip', ['-n', ns, 'link', 'set', 'lo', 'up']).status === 0
      if (!made)
        console.warn('[dashboard] no ip netns here: the other-namespace row is not checked')
      const inside = made
        ? await startSockets(['tcp@127.0.0.1'], {
            name: 'pw-dash-ns',
            wrap: ['ip', 'netns', 'exec', ns],
          })
        : null
      try {
        const page = await browser.newPage({ viewport: { width: 1280, height: 900 } })
        page.setDefaultTimeout(WAIT.timeout)
        pages.push(page)
        const reads: string[] = []
        page.on('request', (request) => {
          const url = new URL(request.url())
          if (url.pathname === '/api/system/ports') reads.push(url.search)
        })
        await page.goto(serve.dashboard)
        await page.waitForSelector('body[data-loaded="true"]')
        await showRow(page, holder)
        expect(reads).toEqual([])

        await page.fill('#listener-filter', '')
        await page.check('#all-namespaces')
        await expect.poll(() => reads, WAIT).toEqual(['?all_namespaces=1'])
        await page.locator('th button[data-column="namespace"]').waitFor()
        const row = await showRow(page, holder)
        expect(await row.locator('td[data-label="Namespace"]').innerText()).toBe('host')
        if (inside) {
          const elsewhere = rowOf(page, inside.sockets[0]!.port)
          await page.fill('#listener-filter', 'pw-dash-ns')
          await elsewhere.waitFor()
          expect(await elsewhere.locator('td[data-label="Namespace"]').innerText()).toBe(ns)
          // free acts on the server's own namespace: no Free button for this row
          expect(await elsewhere.getByRole('button', { name: /^Free port/ }).count()).toBe(0)
        }
        await page.uncheck('#all-namespaces')
        await page.locator('th button[data-column="namespace"]').waitFor({ state: 'detached' })
      } finally {
        inside?.process.child.stdin.end()
        if (made) spawnSync('ip', ['netns', 'del', ns])
      }
    },
  )

  it(
    title(
      'free this port: shows the plan, acts only when confirmed, the row leaves through the event stream',
    ),
    async () => {
      const holder = await startLabelledHolder(work)
      const { page, errors } = await openDashboard()
      let reloads = 0
      page.on('request', (request) => {
        if (new URL(request.url()).pathname === '/api/system/ports') reloads++
      })
      await page.locator('#stream-state[data-state="live"]').waitFor()
      const row = await showRow(page, holder)

      await row.getByRole('button', { name: /^Free port/ }).click()
      const dialog = page.locator('dialog.free-dialog')
      await expect.poll(() => dialog.innerText(), WAIT).toContain(`pid ${holder.pid}`)
      // The plan is a dry run: nothing has been signalled yet.
      expect(holder.signals()).toEqual([])
      expect(holder.alive()).toBe(true)

      await dialog.locator('button[data-action="confirm"]').click()
      await dialog.locator('[data-status="freed"]').waitFor()
      expect(await holder.process.exited).toBeDefined()
      expect(holder.signals()).toEqual(['SIGTERM'])

      await dialog.locator('button[data-action="close"]').click()
      await row.waitFor({ state: 'detached' })
      expect(reloads).toBe(0)
      expect(errors).toEqual([])
    },
  )

  it(
    title(
      'a list read that answers after a reconnect’s ready is dropped: it cannot undo the events applied on the baseline since',
    ),
    async () => {
      const page = await browser.newPage({ viewport: { width: 1280, height: 900 } })
      page.setDefaultTimeout(WAIT.timeout)
      pages.push(page)
      // The first connect to the event stream fails: the dashboard reads the list while it
      // retries. That read is taken now and answered only once the retry's ready has been shown.
      await page.route('**/api/events', (route) => route.abort(), { times: 1 })
      let taken!: () => void
      const readTaken = new Promise<void>((resolve) => (taken = resolve))
      let release!: () => void
      const released = new Promise<void>((resolve) => (release = resolve))
      await page.route(
        '**/api/system/ports',
        async (route) => {
          const response = await route.fetch()
          taken()
          await released
          await route.fulfill({ response })
        },
        { times: 1 },
      )
      await page.goto(serve.dashboard)
      await readTaken
      await page.waitForSelector('body[data-loaded="true"]')
      await page.locator('#stream-state[data-state="live"]').waitFor()
      // Opened after the read and after ready: it comes as a bind on the baseline.
      const holder = await startLabelledHolder(work)
      const row = await showRow(page, holder)
      release()
      // The late answer taken (new code: counted and dropped), or shown over the row (old code).
      await Promise.race([
        page.waitForSelector('body[data-list-reads="1"]'),
        row.waitFor({ state: 'detached' }),
      ])
      expect(await rowOf(page, holder.port).count()).toBe(1)
    },
  )

  it(
    title(
      "a stale holder: the port box shows the 'looks stale' badge; Prune stale… shows the plan, then stops it",
    ),
    async () => {
      const { main, dirs } = makeWorktrees(work, 'dash-prune')
      const worktree = dirs[0] as string
      const project = worktree.split('/').pop() as string
      const alloc = await runCommand(process.execPath, [CLI, 'alloc', 'api', '--json'], {
        cwd: worktree,
        env: serve.env,
      })
      expect(alloc.code, alloc.stderr).toBe(0)
      const port = (JSON.parse(alloc.stdout) as { port: number }).port
      const stale = await holdStale(['--orphan', '--port', String(port)], { cwd: worktree })
      git(main, 'worktree', 'remove', '--force', worktree)
      try {
        const { page, errors } = await openDashboard()
        await page.fill('#port-input', String(port))
        const badge = page.locator('#port-answer [data-verdict="stale"]')
        await badge.waitFor()
        expect(await badge.innerText()).toBe('looks stale')
        expect(await page.locator('#port-answer').innerText()).toContain(
          `its worktree ${project} was deleted`,
        )

        await page.click('#prune-button')
        const dialog = page.locator('dialog.prune-dialog')
        await page.selectOption('#prune-project', project)
        await expect.poll(() => dialog.innerText(), WAIT).toContain(`pid ${stale.pid}`)
        const text = await dialog.innerText()
        expect(text, text).toContain('Will stop:')
        expect(isAlive(stale.pid)).toBe(true) // the plan is a dry run
        await dialog.locator('button[data-action="confirm"]').click()
        await dialog.locator('[data-outcome="pruned"]').waitFor()
        expect(isAlive(stale.pid)).toBe(false)
        expect(errors).toEqual([])
      } finally {
        await stopStaleHolders()
      }
    },
  )

  it(
    title(
      'without the token: reading works, acting says the token link is needed and sends nothing',
    ),
    async () => {
      const holder = await startLabelledHolder(work)
      const { page } = await openDashboard(false)
      const posts: string[] = []
      page.on('request', (request) => {
        if (request.method() !== 'GET') posts.push(request.url())
      })
      await expect
        .poll(() => page.locator('#read-only-notice').innerText(), WAIT)
        .toContain('token link')
      const row = await showRow(page, holder)
      await row.getByRole('button', { name: /^Free port/ }).click()
      await expect
        .poll(() => page.locator('dialog.free-dialog').innerText(), WAIT)
        .toContain('token link')
      expect(posts).toEqual([])
      expect(holder.alive()).toBe(true)
    },
  )

  it(
    title('narrow screen (380 px): rows become cards, nothing wider than the screen'),
    async () => {
      const holder = await startLabelledHolder(work)
      const { page } = await openPage(serve.dashboard, { viewport: { width: 380, height: 800 } })
      await page.waitForSelector('body[data-loaded="true"]')
      await showRow(page, holder)
      const overflow = await page.evaluate<number>(
        'document.documentElement.scrollWidth - window.innerWidth',
      )
      expect(overflow).toBeLessThanOrEqual(0)
      // Rows are re-rendered as events come: ask the current one each time.
      await expect
        .poll(
          () =>
            page.evaluate(
              `getComputedStyle(document.querySelector('#listener-rows tr[data-port="${holder.port}"]')).display`,
            ),
          WAIT,
        )
        .toBe('grid')
    },
  )

  it(
    title('H3: a page reached as rebind.test (DNS rebinding) gets 403 and no socket data'),
    async () => {
      const holder = await startPortHolder(work)
      const rebinding = await launchChromium(['--host-resolver-rules=MAP rebind.test 127.0.0.1'])
      try {
        const page = await rebinding.newPage()
        const response = await page.goto(`http://rebind.test:${serve.port}/`)
        expect(response?.status()).toBe(403)
        const fetched = await page.evaluate<{ status: number; body: string }>(
          "fetch('/api/system/ports').then(async (answer) => ({ status: answer.status, body: await answer.text() }))",
        )
        expect(fetched.status).toBe(403)
        const dom = await page.evaluate<string>('document.documentElement.outerHTML')
        for (const text of [fetched.body, dom]) {
          expect(text).not.toContain(String(holder.pid))
          expect(text).not.toContain(String(holder.port))
          expect(text).not.toContain('local_port')
        }
        expect(fetched.body).toContain('forbidden_host')
      } finally {
        await rebinding.close()
      }
    },
  )

  it(
    title(
      'H5: a page on 127.0.0.2 posting a form and no-cors fetches frees nothing and deletes nothing',
    ),
    async () => {
      const holder = await startPortHolder(work)
      const before = identity(holder.pid)
      const alloc = await runCommand(
        process.execPath,
        [CLI, 'alloc', 'victim', '--project', 'h5', '--json'],
        { env: serve.env },
      )
      expect(alloc.code, alloc.stderr).toBe(0)
      const allocation = JSON.parse(alloc.stdout) as Allocation
      const registryBefore = await apiJson<Allocation[]>(serve, '/api/allocations')

      const target = serve.url
      const freeUrl = `${target}/api/ports/${holder.port}/free`
      const deleteUrl = `${target}/api/allocations/${allocation.id}`
      // text/plain form trick: the body reads as JSON {"dry_run":false,"x":"=..."}
      const attack = `<!doctype html><html><body>
<iframe name="sink"></iframe>
<form id="plain" method="POST" action="${freeUrl}" enctype="text/plain" target="sink">
<input name='{"dry_run":false,"protocol":"tcp","x":"' value='"}'></form>
<form id="urlencoded" method="POST" action="${deleteUrl}" target="sink"><input name="_method" value="DELETE"></form>
<script>
const results = []
const tries = [
  fetch(${JSON.stringify(freeUrl)}, { method: 'POST', mode: 'no-cors', body: '{"dry_run":false}', headers: { 'Content-Type': 'text/plain' } }),
  fetch(${JSON.stringify(freeUrl)}, { method: 'POST', mode: 'cors', body: '{"dry_run":false}', headers: { 'Content-Type': 'application/json' } }),
  fetch(${JSON.stringify(deleteUrl)}, { method: 'DELETE', mode: 'cors' }),
  fetch(${JSON.stringify(deleteUrl)}, { method: 'POST', mode: 'no-cors' }),
]
Promise.allSettled(tries).then((settled) => { window.fetchesDone = settled.map((s) => s.status) })
let loads = 0
document.querySelector('iframe').addEventListener('load', () => { loads++; if (loads === 1) document.getElementById('urlencoded').submit(); if (loads === 2) window.formsDone = true })
document.getElementById('plain').submit()
</script></body></html>`
      const attacker: Server = createServer((request, response) => {
        response.writeHead(200, { 'Content-Type': 'text/html' })
        response.end(attack)
      })
      await new Promise<void>((resolve) => attacker.listen(0, '127.0.0.2', resolve))
      const address = attacker.address()
      const attackerPort = typeof address === 'object' && address ? address.port : 0
      try {
        const page = await browser.newPage()
        pages.push(page)
        await page.goto(`http://127.0.0.2:${attackerPort}/`)
        await page.waitForFunction("'fetchesDone' in window && 'formsDone' in window", undefined, {
          timeout: 15_000,
        })
      } finally {
        await new Promise((resolve) => attacker.close(resolve))
      }
      // Every request has been answered; a free would have signalled by now, the fixture records it.
      expect(holder.signals()).toEqual([])
      expect(holder.alive()).toBe(true)
      expect(identity(holder.pid)).toBe(before)
      expect(await apiJson<Allocation[]>(serve, '/api/allocations')).toEqual(registryBefore)
    },
  )

  it(
    title(
      'Release asks in the row, then deletes the allocation; without the token it only says so',
    ),
    async () => {
      const alloc = await runCommand(
        process.execPath,
        [CLI, 'alloc', 'leaving', '--project', 'release-ui', '--json'],
        { env: serve.env },
      )
      expect(alloc.code, alloc.stderr).toBe(0)
      const allocation = JSON.parse(alloc.stdout) as Allocation
      const allocationIds = async () =>
        (await apiJson<{ allocations: Allocation[] }>(serve, '/api/allocations')).allocations.map(
          (a) => a.id,
        )
      const rowSelector = `#allocation-rows tr[data-allocation="${allocation.id}"]`

      // no token: the button explains, nothing is deleted
      const anonymous = await openDashboard(false)
      await anonymous.page.locator(`${rowSelector} button[data-action="release"]`).click()
      await expect
        .poll(
          () =>
            anonymous.page.locator('section[aria-labelledby="registry-title"] .note').innerText(),
          WAIT,
        )
        .toContain('token link')
      expect(await allocationIds()).toContain(allocation.id)

      const { page, errors } = await openDashboard()
      const row = page.locator(rowSelector)
      await row.locator('button[data-action="release"]').click()
      // the first click only asks; Cancel leaves it
      await row.locator('button', { hasText: 'Cancel' }).click()
      expect(await allocationIds()).toContain(allocation.id)
      await row.locator('button[data-action="release"]').click()
      await row.locator('button[data-action="confirm-release"]').click()
      await expect.poll(() => page.locator(rowSelector).count(), WAIT).toBe(0)
      expect(
        await page.locator('section[aria-labelledby="registry-title"] .note').innerText(),
      ).toBe(`Released leaving of release-ui (${allocation.port}/tcp).`)
      expect(await allocationIds()).not.toContain(allocation.id)
      expect(errors).toEqual([])
    },
  )

  it(
    title(
      'a port squatted by python3 -m http.server: after Run health checks the allocation is unhealthy (held by python3), beside its system conflict',
    ),
    async () => {
      const worktree = join(work, 'wt-squatted')
      mkdirSync(join(worktree, '.git'), { recursive: true })
      const port = await freeLoopbackPort()
      const alloc = await runCommand(
        process.execPath,
        [CLI, 'alloc', 'web', '--port', String(port), '--health', 'http:/', '--json'],
        { env: serve.env, cwd: worktree },
      )
      expect(alloc.code, alloc.stderr).toBe(0)
      const allocation = JSON.parse(alloc.stdout) as Allocation
      // Started from the repository, not the worktree; it answers HTTP 200 on /.
      const squatter = await startHttpServer(ROOT, port)

      const { page, errors } = await openDashboard()
      await page.getByRole('button', { name: 'Run health checks' }).click()
      await expect
        .poll(
          () => page.locator('section[aria-labelledby="registry-title"] .note').innerText(),
          WAIT,
        )
        .toBe('Health checks done.')
      const badge = page.locator(`#allocation-rows tr[data-allocation="${allocation.id}"] .badge`)
      await expect.poll(() => badge.innerText(), WAIT).toBe('unhealthy')
      expect(await badge.getAttribute('title')).toMatch(
        new RegExp(
          `^held by ${squatter.comm.replace(/[.]/g, '\\.')} \\(pid ${squatter.pid}\\b.*\\), not by web`,
        ),
      )
      const conflict = page.locator('#conflict-list li.conflict-system_conflict', {
        hasText: `port ${port} `,
      })
      expect(await conflict.innerText()).toContain(`${squatter.comm} (pid ${squatter.pid}`)
      expect(errors).toEqual([])
    },
  )

  it(
    title(
      'an allocation with no pid or worktree whose port a process holds: a system conflict marked unverified, with how to check',
    ),
    async () => {
      const port = await freeLoopbackPort()
      // As another tool (or the API before it took worktree and pid) writes a row.
      const store = await openRegistry({ location: serve.registry })
      try {
        await store.write((tx) =>
          tx.insert({ project: 'review-GH-42', service: 'db', protocol: 'tcp', port }),
        )
      } finally {
        await store.close()
      }
      const holder = await startPortHolder(work, ['--port', String(port)])
      const { page, errors } = await openDashboard()
      const conflict = page.locator('#conflict-list li.conflict-system_conflict', {
        hasText: `TCP port ${port} `,
      })
      await conflict.waitFor()
      expect(await conflict.locator('.badge').innerText()).toBe('System conflict (unverified)')
      const text = await conflict.innerText()
      expect(text).toContain(`pid ${holder.pid}`)
      expect(text).toContain('unverified: the allocation records neither')
      expect(text).toContain(`check whether pid ${holder.pid} is db of review-GH-42`)
      expect(errors).toEqual([])
    },
  )

  it(
    title('I5: hostile project, service and process names render as literal, visibly escaped text'),
    async () => {
      const project = '<img src=x onerror=alert(1)>'
      const service = 'svc\u202Eevil'
      const hostileArgv0 = '\u001b[31mkill-me\u001b[0m'
      // The CLI refuses a bidi service name; a registry written by something else may still hold one.
      const port = await freeLoopbackPort()
      const db = new Database(serve.registry)
      try {
        db.prepare(
          `INSERT INTO allocations (host, project, service, protocol, port, created_at) VALUES ('local', ?, ?, 'tcp', ?, ?)`,
        ).run(project, service, port, new Date().toISOString())
      } finally {
        db.close()
      }
      const hostile = startProcess('bash', [
        '-c',
        'exec -a "$0" "$@"',
        hostileArgv0,
        PYTHON,
        `${FIXTURES}hold-port.py`,
      ])
      const ready = JSON.parse((await hostile.waitForLine(/^READY (.*)$/))[1] as string) as {
        pid: number
        port: number
      }

      const { page } = await openDashboard()
      const dialogs: string[] = []
      page.on('dialog', (dialog) => {
        dialogs.push(dialog.message())
        void dialog.dismiss()
      })
      const allocationRow = page.locator('#allocation-rows tr', { hasText: 'onerror' })
      await allocationRow.waitFor()
      const row = await showRow(page, { port: ready.port, label: 'kill-me' })

      expect(await allocationRow.innerText()).toContain(project)
      expect(await allocationRow.innerText()).toContain('svc\\u202eevil')
      expect(await row.innerText()).toContain('\\x1b[31mkill-me\\x1b[0m')
      const text = await page.evaluate<string>('document.body.innerText')
      // No raw ESC or RIGHT-TO-LEFT OVERRIDE reached the page's text.
      expect(text.includes('\u001b') || text.includes('\u202e')).toBe(false)
      expect(await page.locator('main img').count()).toBe(0)
      expect(await page.evaluate<number>("document.querySelectorAll('[onerror]').length")).toBe(0)
      expect(dialogs).toEqual([])
    },
  )
})
