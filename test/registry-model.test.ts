/**
 * R10: the registry against a model. fast-check generates sequences of alloc / release / release
 * by port / list (fc.commands), runs them on the real store (SQLite file, PostgreSQL database)
 * and on an in-memory Map, and compares the two after every command: the same rows, the same
 * answers (port, created, error code), and no port owned twice. A failure shrinks to the
 * shortest sequence that shows it.
 */
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { RegistryStore } from '../src/core/index.js'
import { allocate, openRegistry, release } from '../src/core/index.js'
import { candidatePorts } from '../src/core/registry/allocator.js'
import type { Backend } from './helpers/registry.js'
import { PORT_ZONES, backends, freePortBlock, removeTempDirs } from './helpers/registry.js'

type Protocol = 'tcp' | 'udp'
/** `project/service/protocol` -> port */
type Model = { owners: Map<string, number> }
type Real = { store: RegistryStore }

const PROJECTS = ['shop', 'blog']
const SERVICES = ['web', 'db', 'cache']
const RANGE_SIZE = 5 // small, so exhaustion and collisions happen often
const RUNS = 1000

const keyOf = (project: string, service: string, protocol: Protocol) =>
  `${project}/${service}/${protocol}`

async function outcome<T>(work: Promise<T>): Promise<{ ok: T } | { code: string }> {
  try {
    return { ok: await work }
  } catch (error) {
    return { code: (error as { code?: string }).code ?? String(error) }
  }
}

/** The registry equals the model, and no (protocol, port) has two owners. */
async function compare(model: Model, real: Real): Promise<void> {
  const rows = await real.store.list()
  const actual = rows.map((a) => `${keyOf(a.project, a.service, a.protocol)}=${a.port}`).sort()
  const expected = [...model.owners].map(([key, port]) => `${key}=${port}`).sort()
  expect(actual).toEqual(expected)
  const ports = rows.map((a) => `${a.port}/${a.protocol}`)
  expect(new Set(ports).size).toBe(ports.length)
}

function commands(range: { from: number; to: number }) {
  const project = fc.constantFrom(...PROJECTS)
  const service = fc.constantFrom(...SERVICES)
  const protocol = fc.constantFrom<Protocol>('tcp', 'udp')
  const port = fc.integer({ min: range.from, max: range.to })

  class Alloc implements fc.AsyncCommand<Model, Real> {
    readonly project: string
    readonly service: string
    readonly protocol: Protocol
    readonly port: number | undefined
    constructor(project: string, service: string, protocol: Protocol, port: number | undefined) {
      this.project = project
      this.service = service
      this.protocol = protocol
      this.port = port
    }
    check = () => true
    async run(model: Model, real: Real): Promise<void> {
      const { project, service, protocol, port } = this
      const got = await outcome(
        allocate(real.store, {
          project,
          service,
          protocol,
          port,
          range: port === undefined ? range : undefined,
        }),
      )
      const key = keyOf(project, service, protocol)
      const mine = model.owners.get(key)
      const taken = new Map(
        [...model.owners].filter(([k]) => k.endsWith(`/${protocol}`)).map(([k, p]) => [p, k]),
      )
      if (mine !== undefined && (port === undefined || port === mine)) {
        expect(got).toMatchObject({ ok: { created: false, allocation: { port: mine } } })
      } else if (mine !== undefined || (port !== undefined && taken.has(port))) {
        expect(got).toEqual({ code: 'port_allocated' })
      } else {
        // the first free candidate in the stable order that starts at the preferred port
        const want =
          port ?? [...candidatePorts(project, service, protocol, range)].find((p) => !taken.has(p))
        if (want === undefined) {
          expect(got).toEqual({ code: 'range_exhausted' })
        } else {
          expect(got).toMatchObject({
            ok: { created: true, allocation: { port: want, project, service, protocol } },
          })
          model.owners.set(key, want)
        }
      }
      await compare(model, real)
    }
    toString = () =>
      `alloc(${this.project}, ${this.service}, ${this.protocol}${this.port === undefined ? '' : `, port ${this.port}`})`
  }

  class Release implements fc.AsyncCommand<Model, Real> {
    readonly project: string
    readonly service: string
    readonly protocol: Protocol | undefined
    constructor(project: string, service: string, protocol: Protocol | undefined) {
      this.project = project
      this.service = service
      this.protocol = protocol
    }
    check = () => true
    async run(model: Model, real: Real): Promise<void> {
      const got = await outcome(
        release(real.store, {
          project: this.project,
          service: this.service,
          protocol: this.protocol,
        }),
      )
      const gone = [...model.owners.keys()].filter((k) =>
        this.protocol === undefined
          ? k.startsWith(`${this.project}/${this.service}/`)
          : k === keyOf(this.project, this.service, this.protocol),
      )
      if (gone.length === 0) {
        expect(got).toEqual({ code: 'not_found' })
      } else {
        expect(
          'ok' in got && got.ok.map((a) => keyOf(a.project, a.service, a.protocol)).sort(),
        ).toEqual(gone.sort())
        for (const key of gone) model.owners.delete(key)
      }
      await compare(model, real)
    }
    toString = () =>
      `release(${this.project}, ${this.service}${this.protocol ? `, ${this.protocol}` : ''})`
  }

  class ReleasePort implements fc.AsyncCommand<Model, Real> {
    readonly port: number
    readonly protocol: Protocol
    constructor(port: number, protocol: Protocol) {
      this.port = port
      this.protocol = protocol
    }
    check = () => true
    async run(model: Model, real: Real): Promise<void> {
      const got = await outcome(release(real.store, { port: this.port, protocol: this.protocol }))
      const owner = [...model.owners].find(
        ([k, p]) => p === this.port && k.endsWith(`/${this.protocol}`),
      )
      if (!owner) {
        expect(got).toEqual({ code: 'not_found' })
      } else {
        expect('ok' in got && got.ok.map((a) => a.port)).toEqual([this.port])
        model.owners.delete(owner[0])
      }
      await compare(model, real)
    }
    toString = () => `release(--port ${this.port}/${this.protocol})`
  }

  class List implements fc.AsyncCommand<Model, Real> {
    readonly project: string
    constructor(project: string) {
      this.project = project
    }
    check = () => true
    async run(model: Model, real: Real): Promise<void> {
      const rows = await real.store.list({ project: this.project })
      const expected = [...model.owners]
        .filter(([k]) => k.startsWith(`${this.project}/`))
        .map(([k, p]) => `${k}=${p}`)
      expect(
        rows.map((a) => `${keyOf(a.project, a.service, a.protocol)}=${a.port}`).sort(),
      ).toEqual(expected.sort())
    }
    toString = () => `status(--project ${this.project})`
  }

  return fc.commands(
    [
      fc
        .tuple(project, service, protocol, fc.option(port, { freq: 4 }))
        .map(([p, s, proto, n]) => new Alloc(p, s, proto, n ?? undefined)),
      fc
        .tuple(project, service, protocol)
        .map(([p, s, proto]) => new Alloc(p, s, proto, undefined)),
      fc
        .tuple(project, service, fc.option(protocol))
        .map(([p, s, proto]) => new Release(p, s, proto ?? undefined)),
      fc.tuple(port, protocol).map(([n, proto]) => new ReleasePort(n, proto)),
      project.map((p) => new List(p)),
    ],
    { maxCommands: 14 },
  )
}

for (const backend of backends()) describeBackend(backend)

function describeBackend(backend: Backend): void {
  const why = backend.skipReason ? ` [SKIPPED: ${backend.skipReason}]` : ''
  if (backend.skipReason)
    console.warn(`[registry-model] SKIPPING ${backend.name}: ${backend.skipReason}`)

  describe.skipIf(backend.skipReason !== null)(`R10 on ${backend.name}${why}`, () => {
    let store: RegistryStore
    beforeAll(async () => {
      await backend.start()
      store = await openRegistry({ location: (await backend.fresh()).location })
    }, 60_000)
    afterAll(async () => {
      await store?.close()
      await backend.stop()
      removeTempDirs()
    }, 60_000)

    it(`the registry equals an in-memory model after every command, no port owned twice (${RUNS} sequences)`, async () => {
      const range = await freePortBlock(RANGE_SIZE, PORT_ZONES.model)
      const started = performance.now()
      let steps = 0
      await fc.assert(
        fc.asyncProperty(commands(range), async (cmds) => {
          const setup = async () => {
            await store.remove({})
            return { model: { owners: new Map<string, number>() }, real: { store } }
          }
          await fc.asyncModelRun(setup, cmds)
          steps += [...cmds].length
        }),
        { numRuns: RUNS },
      )
      console.log(
        `[R10 ${backend.name}] ${RUNS} sequences, ${steps} commands in ${Math.round(performance.now() - started)} ms`,
      )
    }, 180_000)

    it('in-process concurrency: allocations started in any order (fc.scheduler) end distinct and idempotent', async () => {
      const range = await freePortBlock(RANGE_SIZE + 3, PORT_ZONES.model)
      await fc.assert(
        fc.asyncProperty(
          fc.scheduler(),
          fc.array(fc.tuple(fc.constantFrom(...PROJECTS), fc.constantFrom(...SERVICES)), {
            minLength: 1,
            maxLength: 8,
          }),
          async (s, requests) => {
            await store.remove({})
            const calls = requests.map(([project, service]) =>
              s
                .schedule(Promise.resolve(), `${project}/${service}`)
                .then(() => outcome(allocate(store, { project, service, range }))),
            )
            await s.waitAll()
            const results = await Promise.all(calls)
            const byKey = new Map<string, number>()
            for (const [i, result] of results.entries()) {
              const [project, service] = requests[i] as [string, string]
              expect(result).toHaveProperty('ok')
              const port = 'ok' in result ? result.ok.allocation.port : -1
              const before = byKey.get(`${project}/${service}`)
              if (before !== undefined) expect(port).toBe(before)
              byKey.set(`${project}/${service}`, port)
            }
            expect(new Set(byKey.values()).size).toBe(byKey.size)
            expect((await store.list()).length).toBe(byKey.size)
          },
        ),
        { numRuns: 50 },
      )
    }, 120_000)
  })
}
