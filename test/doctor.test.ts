/**
 * `doctor`: manifest ports, the registry and health in one [PASS]/[WARN]/[FAIL] report, against
 * real processes and a throwaway registry. Exit 0 with only PASS/WARN, 1 with any FAIL, 2 for a
 * bad manifest, 3 when the registry cannot be read (the rest of the report still printed).
 */
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest'
import { allocate, loadManifest, openRegistry, resolveServicePorts } from '../src/core/index.js'
import {
  hasStackTrace,
  makeProject,
  removeProjects,
  runIn,
  startHttpServer,
} from './helpers/manifest-cli.js'
import { ROOT, stopStarted } from './helpers/processes.js'
import { freePort } from './run-helpers.js'

vi.setConfig({ testTimeout: 60_000, hookTimeout: 30_000 })

afterEach(stopStarted)
afterAll(removeProjects)

interface JsonDoctor {
  manifest: string | null
  project: string
  registry: string
  ok: boolean
  summary: { pass: number; warn: number; fail: number }
  checks: {
    section: string
    status: 'pass' | 'warn' | 'fail'
    subject: string
    message: string
    fix: string | null
  }[]
  ports: { service: string; ok: boolean; held_by_project: boolean }[]
}

/** The report's lines without the blank separators. */
const linesOf = (text: string) => text.split('\n').filter((line) => line !== '')

describe('doctor', () => {
  it('without a manifest: a WARN saying only the registry was checked, exit 0', async () => {
    const dir = makeProject(undefined, 'lonely')
    const registry = join(dir, 'registry.db')
    const result = await runIn(dir, ['doctor'], { env: { PORTWARDEN_REGISTRY: registry } })
    expect(result.code, result.stderr).toBe(0)
    expect(linesOf(result.stdout)).toEqual([
      'Manifest',
      `[WARN] no portwarden.toml in ${dir} or above: only the registry was checked (project lonely)`,
      '       fix: create portwarden.toml with the services and their ports, or name one with --manifest FILE',
      'Registry',
      `[PASS] no registry at ${registry} yet: nothing is allocated`,
      '1 passed, 1 warning, 0 failed.',
    ])

    // With allocations of that project: their health is checked (and the registry was not created before).
    const store = await openRegistry({ location: registry })
    const { allocation } = await allocate(store, { project: 'lonely', service: 'api' })
    await store.close()
    const json = JSON.parse(
      (await runIn(dir, ['doctor', '--json'], { env: { PORTWARDEN_REGISTRY: registry } })).stdout,
    ) as JsonDoctor
    expect(json).toMatchObject({
      manifest: null,
      project: 'lonely',
      registry,
      ok: true,
      summary: { pass: 1, warn: 2, fail: 0 },
      ports: [],
    })
    expect(json.checks.map((c) => [c.section, c.status])).toEqual([
      ['manifest', 'warn'],
      ['registry', 'pass'],
      ['health', 'warn'],
    ])
    expect(json.checks[2]).toMatchObject({
      subject: `${allocation.port}/tcp (api)`,
      message: 'not running: nothing is listening on the port',
      fix: 'portwarden run api   # or, if it is gone for good: portwarden release api --project lonely',
    })
  })

  it('a running, healthy service of this project passes; a foreign holder fails with a fix; exit 1', async () => {
    const dir = makeProject()
    const own = await startHttpServer(dir)
    const foreign = await startHttpServer(ROOT)
    writeFileSync(
      join(dir, 'portwarden.toml'),
      [
        'project = "shop"',
        '[services.web]',
        `ports = [${own.port}]`,
        'health = { http = "/", expect = 200 }',
        '[services.api]',
        `ports = [${foreign.port}]`,
      ].join('\n'),
    )
    const result = await runIn(dir, ['doctor'], { env: { PORTWARDEN_REGISTRY: join(dir, 'r.db') } })
    expect(result.code, result.stdout + result.stderr).toBe(1)
    const lines = linesOf(result.stdout)
    expect(lines[0]).toBe('Manifest')
    expect(lines[1]).toBe(
      '[PASS] portwarden.toml: valid: project shop, 2 services (web, api), 2 declared ports',
    )
    expect(lines[2]).toBe('Ports')
    expect(lines[3]).toMatch(
      new RegExp(
        `^\\[PASS\\] ${own.port}/tcp \\(web\\): running: held by ${own.comm} \\(pid ${own.pid}, up \\d+s, cmd ".*"\\), started from this project$`,
      ),
    )
    expect(lines[4]).toMatch(
      new RegExp(
        `^\\[FAIL\\] ${foreign.port}/tcp \\(api\\): in use by ${own.comm} \\(pid ${foreign.pid}, up \\d+s, cmd `,
      ),
    )
    expect(lines[5]).toMatch(
      new RegExp(
        `^       fix: portwarden free ${foreign.port}/tcp, or change api's port ${foreign.port} to \\d+ \\(free now\\) in portwarden\\.toml$`,
      ),
    )
    expect(lines).toContain(
      '[PASS] no registry at ' + join(dir, 'r.db') + ' yet: nothing is allocated',
    )
    expect(lines).toContain('Health')
    expect(lines.find((l) => l.includes(`${own.port}/tcp (web): healthy`))).toMatch(
      /^\[PASS\] .*healthy: HTTP check of \/ \(expecting 200\): HTTP 200 in \d+ ms$/,
    )
    expect(lines[lines.length - 1]).toBe('4 passed, 0 warnings, 1 failed.')
    expect(hasStackTrace(result.stderr)).toBe(false)
  })

  it('an unhealthy service of this project fails; a service that is not running is a WARN', async () => {
    const dir = makeProject()
    const own = await startHttpServer(dir)
    // a port nothing holds, below the ephemeral range (own.port + 1 may hold a TIME-WAIT)
    const idle = await freePort()
    writeFileSync(
      join(dir, 'portwarden.toml'),
      `[services.web]\nports = [${own.port}]\nhealth = { http = "/missing", expect = 200 }\n[services.db]\nports = ["auto"]\nhealth = { postgres = true }\n[services.cache]\nports = [${idle}]\nhealth = { redis = true }\n`,
    )
    const json = JSON.parse(
      (await runIn(dir, ['doctor', '--json'], { env: { PORTWARDEN_REGISTRY: join(dir, 'r.db') } }))
        .stdout,
    ) as JsonDoctor
    const health = json.checks.filter((c) => c.section === 'health')
    expect(health.find((c) => c.subject.includes('(web)'))).toMatchObject({
      status: 'fail',
      message: expect.stringMatching(
        /^unhealthy: HTTP check of \/missing \(expecting 200\): HTTP 404/,
      ),
    })
    expect(health.find((c) => c.subject.includes('(cache)'))).toMatchObject({
      status: 'warn',
      message: expect.stringContaining('cache is not running'),
      fix: 'portwarden run cache',
    })
    expect(json.ok).toBe(false)
    expect(json.ports.find((p) => p.service === 'web')).toMatchObject({
      ok: false,
      held_by_project: true,
    })
  })

  it('the registry: an allocation held by a foreign process is a SYSTEM CONFLICT, one the manifest no longer declares is a WARN', async () => {
    const dir = makeProject(
      'project = "shop"\n[services.web]\nports = ["auto"]\n[services.worker]\ncommand = "node worker.js"\n',
    )
    const registry = join(dir, 'registry.db')
    const store = await openRegistry({ location: registry })
    const manifest = loadManifest({ cwd: dir })
    const [web] = await resolveServicePorts(manifest, manifest.services[0]!, store)
    const stale = (await allocate(store, { project: 'shop', service: 'old-api', worktree: dir }))
      .allocation
    await store.close()
    // A process from elsewhere (cwd: the repository root) takes web's allocated port.
    const squatter = await startHttpServer(ROOT, web!.port)
    const result = await runIn(dir, ['doctor'], { env: { PORTWARDEN_REGISTRY: registry } })
    expect(result.code, result.stdout + result.stderr).toBe(1)
    const lines = linesOf(result.stdout)
    expect(lines).toContainEqual(
      expect.stringMatching(
        new RegExp(
          `^\\[FAIL\\] ${web!.port}/tcp \\(web, auto\\): in use by \\S+ \\(pid ${squatter.pid}`,
        ),
      ),
    )
    expect(lines).toContainEqual(
      expect.stringMatching(
        new RegExp(
          `^\\[FAIL\\] ${web!.port}/tcp: SYSTEM CONFLICT: TCP port ${web!.port} is allocated to web of shop, but \\S+ \\(pid ${squatter.pid}`,
        ),
      ),
    )
    expect(lines).toContain(
      `[WARN] ${stale.port}/tcp (old-api): allocated to old-api of project shop, but ${join(dir, 'portwarden.toml')} declares no such port`,
    )
    expect(lines).toContain(
      '       fix: portwarden release old-api --project shop   # if it is no longer used',
    )
    // Neither the conflicted nor the stale allocation gets a second line under Health.
    expect(lines.filter((l) => l.includes(`${stale.port}/tcp`))).toHaveLength(1)
    expect(lines.filter((l) => l.startsWith('[') && l.includes(`${web!.port}/tcp`))).toHaveLength(2)
  })

  it('the registry: a held allocation that records no pid or worktree is an unverified SYSTEM CONFLICT, a WARN with how to check', async () => {
    const dir = makeProject(undefined, 'legacy')
    const registry = join(dir, 'registry.db')
    const store = await openRegistry({ location: registry })
    // As another tool (or the API before it took worktree and pid) wrote it.
    const { allocation } = await allocate(store, { project: 'legacy', service: 'db' })
    await store.close()
    const holder = await startHttpServer(ROOT, allocation.port)
    const result = await runIn(dir, ['doctor', '--json'], {
      env: { PORTWARDEN_REGISTRY: registry },
    })
    expect(result.code, result.stdout + result.stderr).toBe(0)
    const json = JSON.parse(result.stdout) as JsonDoctor
    const registryChecks = json.checks.filter((c) => c.section === 'registry')
    expect(registryChecks).toEqual([
      expect.objectContaining({ status: 'warn', subject: `${allocation.port}/tcp` }),
    ])
    expect(registryChecks[0]?.message).toMatch(
      new RegExp(
        `^SYSTEM CONFLICT \\(unverified\\): TCP port ${allocation.port} is allocated to db of legacy, but \\S+ \\(pid ${holder.pid}`,
      ),
    )
    expect(registryChecks[0]?.fix).toContain(`check whether pid ${holder.pid} is db of legacy`)
  })

  it('an unreadable registry: FAIL, exit 3, and the manifest is still checked', async () => {
    const dir = makeProject('[services.web]\nports = ["auto"]\n')
    const registry = join(dir, 'registry.db')
    writeFileSync(registry, 'this is not an SQLite database, not even close'.repeat(100))
    const result = await runIn(dir, ['doctor'], { env: { PORTWARDEN_REGISTRY: registry } })
    expect(result.code, result.stdout + result.stderr).toBe(3)
    const lines = linesOf(result.stdout)
    expect(lines).toContain('Ports')
    expect(lines).toContain(
      '[WARN] auto/tcp (web, auto): not checked: the registry that allocates it cannot be read',
    )
    expect(lines).toContainEqual(
      expect.stringMatching(/^\[FAIL\] The file .*registry\.db is not a usable registry/),
    )
    expect(hasStackTrace(result.stdout + result.stderr)).toBe(false)
  })
})
