/**
 * Issue 10 item 8: every function the package exports checks its arguments. Called with random
 * arguments (junk, edge values, and what the library itself returned with one field changed
 * anywhere inside), each either answers or fails with a `PortwardenError` (`invalid_request`
 * with a sentence for a bad argument), never a TypeError, a Node error or a hang; an async one
 * rejects, never throws. No message names a function or an argument list.
 *
 * Nothing here signals or starts a process: `executeFree` and `runService` only get arguments
 * broken where they must be refused, `signalVerified` always gets a recording `kill` (and aims
 * at this process, which it never signals). Nothing listens outside loopback: the library's bind
 * tests only ever touch ports the kernel handed this test (`ownPortsOnly`), a `host` option is
 * loopback, probes aim at a closed loopback port; registries live in a temp directory.
 *
 * A few seconds as it is; `FC_SCALE=10` runs ten times as many cases.
 */
import fc from 'fast-check'
import { writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import type { Server } from 'node:net'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import * as pw from '../src/core/index.js'
import type {
  Allocation,
  FreePlan,
  FreeReport,
  PortCheck,
  PreflightResult,
  RegistryStore,
  SocketEntry,
} from '../src/core/index.js'
import type { Fixture } from './helpers/processes.js'
import { socketOf, startSockets, stopStarted } from './helpers/processes.js'
import { removeTempDirs, tempDir } from './helpers/temp-dirs.js'

// ------------------------------------------------------------------ random arguments

/** Values that break checks written carelessly. */
const EDGES: readonly unknown[] = [
  undefined,
  null,
  0,
  -1,
  1.5,
  65535,
  65536,
  Number.NaN,
  Infinity,
  -0,
  2 ** 53,
  '',
  ' ',
  'x',
  '0',
  'tcp',
  'sctp',
  '\0',
  '../..',
  `/proc${'/.'.repeat(130)}`, // a /proc longer than the native addon's path buffer
  true,
  [],
  [null],
  {},
  { __proto__: null },
  10n,
]
const junk = fc.oneof(fc.constantFrom(...EDGES), fc.anything({ maxDepth: 2, maxKeys: 4 }))

/** A copy of plain objects and arrays; anything else (functions, Maps, stores) is shared. */
function copy(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(copy)
  if (
    value !== null &&
    typeof value === 'object' &&
    Object.getPrototypeOf(value) === Object.prototype
  )
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, copy(v)]))
  return value
}

/** Every place inside `value` (plain objects and arrays only), as key paths. */
function places(value: unknown, at: (string | number)[] = [], out: (string | number)[][] = []) {
  out.push(at)
  if (Array.isArray(value)) value.forEach((v, i) => places(v, [...at, i], out))
  else if (
    value !== null &&
    typeof value === 'object' &&
    Object.getPrototypeOf(value) === Object.prototype
  )
    for (const [k, v] of Object.entries(value)) places(v, [...at, k], out)
  return out
}

/** `sample` with one place replaced by junk, or deleted. */
function mutated(sample: unknown): fc.Arbitrary<unknown> {
  const all = places(sample)
  return fc.tuple(fc.nat(all.length - 1), junk, fc.boolean()).map(([index, replacement, drop]) => {
    const path = all[index]!
    if (path.length === 0) return replacement
    const root = copy(sample)
    let parent = root as Record<string | number, unknown>
    for (const key of path.slice(0, -1)) parent = parent[key] as Record<string | number, unknown>
    const last = path[path.length - 1]!
    if (drop && !Array.isArray(parent)) delete parent[last]
    else parent[last] = replacement
    return root
  })
}

/** An argument: the sample as it is, changed in one place, or junk. */
function near(sample: unknown): fc.Arbitrary<unknown> {
  return fc.oneof(
    { weight: 1, arbitrary: fc.constant(sample) },
    { weight: 3, arbitrary: mutated(sample) },
    { weight: 1, arbitrary: junk },
  )
}

/** An argument that must be refused: junk that is not `accepted`. */
function broken(accepted: (value: unknown) => boolean): fc.Arbitrary<unknown> {
  return junk.filter((value) => !accepted(value))
}

/** The arguments of a call: these, changed in one place (or one argument junk), or all junk. */
function call(...samples: unknown[]): fc.Arbitrary<unknown[]> {
  return fc.oneof(
    { weight: 1, arbitrary: fc.constant(samples) },
    { weight: 4, arbitrary: mutated(samples).map((v) => (Array.isArray(v) ? v : [v])) },
    { weight: 1, arbitrary: fc.array(junk, { maxLength: samples.length + 1 }) },
  )
}

interface Spec {
  args: fc.Arbitrary<unknown[]>
  /** Every call must be refused with invalid_request (the arguments are broken on purpose). */
  refused?: boolean
  runs?: number
}

// ------------------------------------------------------------------ what the library returns

let dir: string
let server: Server
let fixture: Fixture
let held: number
let closed: number
let ownPort: number
let store: RegistryStore
let allocation: Allocation
let socket: SocketEntry
let inUse: PortCheck
let free: PortCheck
let plan: FreePlan
let report: FreeReport
let preflighted: PreflightResult
let doctored: Awaited<ReturnType<typeof pw.doctor>>
let manifest: pw.Manifest
const kills: unknown[] = []
const recordKill = (...args: unknown[]) => void kills.push(args)

async function listenLoopback(): Promise<Server> {
  const s = createServer()
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve))
  return s
}

beforeAll(async () => {
  dir = tempDir('pw-library-input-')
  fixture = await startSockets(['tcp@127.0.0.1'])
  held = socketOf(fixture, 'tcp@127.0.0.1').port
  server = await listenLoopback()
  ownPort = (server.address() as { port: number }).port
  const gone = await listenLoopback()
  closed = (gone.address() as { port: number }).port
  await new Promise((resolve) => gone.close(resolve))

  store = await pw.openRegistry({ location: join(dir, 'registry.db') })
  const range = { from: closed, to: closed }
  allocation = (await pw.allocate(store, { project: 'shop', service: 'web', range })).allocation
  const inventory = await pw.listSockets({ ports: [{ from: held, to: held, protocol: 'tcp' }] })
  socket = inventory.sockets[0]!
  inUse = await pw.checkPort(held, 'tcp', { publishers: false, host: '127.0.0.1' })
  free = await pw.checkPort(closed, 'tcp', { publishers: false, host: '127.0.0.1' })
  plan = await pw.planFree([{ from: ownPort, to: ownPort, protocol: 'tcp' }]) // ourselves: refused
  report = { plan, outcome: 'nothing_to_free', ports: [], targets: [], elapsedMs: 3 }
  const text = `project = "shop"\n\n[services.web]\nports = [${closed}]\nhealth = { tcp = true }\n`
  writeFileSync(join(dir, 'portwarden.toml'), text)
  writeFileSync(
    join(dir, 'import.json'),
    JSON.stringify({ allocations: [{ port: closed, worktree: 'review-GH-42', service: 'web' }] }),
  )
  manifest = pw.loadManifest({ cwd: dir })
  preflighted = await pw.preflight(manifest, { store, docker: false })
  doctored = await pw.doctor({ manifest, store, registryLocation: store.location, timeoutMs: 200 })
})

afterAll(async () => {
  await store?.close()
  await new Promise((resolve) => server?.close(resolve))
  await stopStarted()
  removeTempDirs()
})

// ------------------------------------------------------------------ the exports

const spec = (from: number, to = from) => ({ from, to, protocol: 'tcp' })
const isPort = (n: unknown) => Number.isInteger(n) && (n as number) >= 1 && (n as number) <= 65535
const isObject = (o: unknown): o is Record<string, unknown> =>
  typeof o === 'object' && o !== null && !Array.isArray(o)
const isCommand = (c: unknown) => isObject(c) && ('argv' in c || 'shell' in c)

/**
 * For the functions that run bind tests: every port in the arguments becomes `closed` (a port
 * the kernel handed this test), and a `host` option, where there is one, is loopback.
 */
function ownPortsOnly(value: unknown, depth = 0): unknown {
  if (isPort(value)) return closed
  if (Array.isArray(value)) return value.map((v) => ownPortsOnly(v, depth + 1))
  if (isObject(value) && Object.getPrototypeOf(value) === Object.prototype) {
    const out = Object.fromEntries(
      Object.entries(value).map(([k, v]) => [k, ownPortsOnly(v, depth + 1)]),
    )
    return depth === 1 && 'host' in out ? { ...out, host: '127.0.0.1' } : out
  }
  return value
}
const probing = (args: fc.Arbitrary<unknown[]>) =>
  args.map((values) => ownPortsOnly(values) as unknown[])

/** Probes aim at `closed` on loopback only, with short timeouts, or get junk they refuse. */
function probeCall(): fc.Arbitrary<unknown[]> {
  const notAPort = broken(isPort)
  return fc.oneof(
    fc.tuple(
      fc.constantFrom('127.0.0.1', '::1', 'localhost'),
      fc.constant(closed),
      fc.option(fc.record({ timeoutMs: fc.integer({ min: 0, max: 50 }) }), { nil: undefined }),
    ),
    fc.tuple(junk, notAPort, junk),
    fc.tuple(fc.constant('127.0.0.1'), fc.oneof(fc.constant(closed), notAPort), broken(isObject)),
  )
}

/** A run request whose command can never run (nothing is ever started), and hooks. */
function runArguments(): fc.Arbitrary<unknown[]> {
  const runPort = { name: null, protocol: 'tcp', port: closed }
  return fc.tuple(
    fc
      .tuple(
        mutated({ service: 'web', project: 'shop', ports: [runPort], timeoutMs: 0 }),
        fc.oneof(broken(isCommand), fc.constant({ argv: [] }), fc.constant({ shell: '' })),
      )
      .map(([request, command]) => (isObject(request) ? { ...request, command } : request)),
    near({ onMessage: () => {} }),
  )
}

function specs(): Record<string, Spec> {
  const target = plan.targets[0]!
  const refusal = target.refusal!
  const identity = pw.readIdentity(process.pid)!
  const claim = pw.claimFromAllocation(allocation)
  const conflict = {
    kind: 'system_conflict',
    protocol: 'tcp',
    port: held,
    claims: [claim],
    holders: [socket],
    message: 'm',
    resolution: 'r',
  }
  const holders = {
    port: held,
    protocol: 'tcp',
    sockets: [socket],
    connections: 0,
    heldOutOfSight: false,
    publishers: [],
  }
  const container = {
    id: 'abc',
    name: 'web',
    ports: [{ ip: null, privatePort: 80, publicPort: held, protocol: 'tcp' }],
    addresses: ['172.17.0.2'],
  }
  const runPort = { name: null, protocol: 'tcp', port: closed }
  const portConflict = {
    port: held,
    protocol: 'tcp',
    reason: 'in_use',
    owners: ['x (pid 1)'],
    holders: [socket],
    allocation: null,
  }
  const child = {
    pid: process.pid,
    exited: new Promise(() => {}),
    hasExited: () => true,
    failed: () => false,
  }
  const readiness = { service: 'web', timeoutMs: 20, seen: new Map(), nameOwners: async () => [] }
  const targetReport = { target, outcome: 'refused', signals: [], message: 'refused' }
  const env = { HOME: dir, XDG_STATE_HOME: dir }
  const freeOptions = { waitMs: 100, signal: 'SIGTERM', backend: 'auto' }
  const storeOrNot = fc.oneof(fc.constant(store), fc.constant(null), junk)
  return {
    expandPortSpecs: { args: call([spec(held, held + 3), spec(closed)]) },
    formatPortSpec: { args: call(spec(held)) },
    parsePortSpec: { args: call('8080/udp', 'tcp') },
    chooseBackend: { args: call('proc', '/proc') },
    listSockets: { args: call({ ports: [spec(held)], withProcesses: false, backend: 'proc' }) },
    isListening: { args: call('tcp', 'LISTEN') },
    checkPort: {
      args: probing(call(closed, 'udp', { publishers: false, host: '127.0.0.1' })),
      runs: 30,
    },
    checkPorts: {
      args: probing(call([spec(closed)], { publishers: false, host: '127.0.0.1' })),
      runs: 30,
    },
    whoHolds: { args: probing(call([spec(closed)], { publishers: false })), runs: 30 },
    checkSentence: { args: fc.oneof(call(inUse), call(free)) },
    checkSummary: { args: fc.oneof(call(inUse), call(free)) },
    describeHolders: { args: call([socket]) },
    describeProcesses: { args: call(socket.processes) },
    displayName: { args: call('na\u202eme') },
    hiddenHolderReason: { args: call([0, 1000]) },
    outOfSightSentence: { args: call('tcp', held) },
    portInUseSentence: { args: call('tcp', held, [socket]) },
    toJsonAllocation: { args: call(allocation) },
    toJsonCheck: { args: call(inUse, allocation) },
    toJsonConflict: { args: call(conflict) },
    toJsonHolder: { args: call(socket.processes[0]) },
    toJsonPortHolders: { args: call(holders) },
    toJsonSocket: { args: call(socket) },
    renderSocketsJson: { args: call([socket]) },
    formatEndpoint: { args: call('::1', held) },
    parseHost: { args: call('::ffff:127.0.0.1') },
    defaultStateDirectory: { args: call(env) },
    defaultRegistryPath: { args: call(env) },
    openRegistry: {
      // a temp file, or options refused before anything is opened or created
      args: fc.oneof(
        fc.tuple(
          fc.record({
            location: fc.constant(join(dir, 'other.db')),
            timeoutMs: fc.integer({ min: 0, max: 50 }),
            create: fc.boolean(),
          }),
        ),
        fc.tuple(fc.record({ location: junk.filter((l) => typeof l !== 'string' || l === '') })),
        fc.tuple(broken((o) => o === undefined || isObject(o))),
      ),
      runs: 20,
    },
    registryTimeoutFromEnv: { args: call({ PORTWARDEN_REGISTRY_TIMEOUT: '100' }) },
    resolveRegistryLocation: { args: call(join(dir, 'r.db'), env) },
    allocate: {
      args: probing(
        call(
          store,
          { project: 'shop', service: 'api', range: spec(closed) },
          { procRoot: '/proc' },
        ),
      ),
      runs: 30,
    },
    preferredPort: { args: call('shop', 'web', 'tcp', { from: 20000, to: 20999 }) },
    release: {
      args: fc.oneof(
        call(store, { project: 'shop', service: 'gone' }),
        call(store, { port: 29999, protocol: 'udp' }),
      ),
      runs: 30,
    },
    findFreePorts: {
      args: probing(
        call({ protocol: 'udp', range: spec(closed), count: 1, host: '127.0.0.1', store }),
      ),
      runs: 30,
    },
    claimFromAllocation: { args: call(allocation) },
    detectConflicts: {
      args: call([claim], { inventory: { sockets: [socket], warnings: [] } }),
      runs: 30,
    },
    readImportFile: { args: call(join(dir, 'import.json')) },
    defaultProject: { args: call(dir) },
    findWorktreeRoot: { args: call(dir) },
    validateName: { args: call('service', 'web') },
    checkHealth: {
      args: probing(call(store, { project: 'shop', timeoutMs: 100, concurrency: 2 })),
      runs: 20,
    },
    probeHttp: {
      args: fc.oneof(
        probeCall().map(([host, port, options]) => [
          { ...(isObject(options) ? options : {}), host, port, path: '/healthz' },
        ]),
        fc.tuple(junk),
      ),
      runs: 20,
    },
    probePostgres: { args: probeCall(), runs: 20 },
    probeRedis: { args: probeCall(), runs: 20 },
    probeTcpConnect: { args: probeCall(), runs: 20 },
    probeDefault: { args: probeCall(), runs: 20 },
    planFree: { args: probing(call([spec(ownPort)], freeOptions)), runs: 30 },
    planFreeFrom: { args: call([spec(held)], [holders], freeOptions, []), runs: 30 },
    describeSpecs: { args: call([spec(held), spec(closed)]) },
    executeFree: {
      // never a plan that could be carried out: its targets are never a list
      args: fc.tuple(
        fc.oneof(
          fc
            .tuple(mutated(plan), broken(Array.isArray))
            .map(([p, targets]) => (isObject(p) ? { ...p, targets } : p)),
          junk,
        ),
        fc.constant({ kill: recordKill }),
      ),
      refused: true,
    },
    planOutcome: { args: call(plan) },
    formatDuration: { args: call(1500) },
    parseDuration: { args: call('1.5s', '--wait') },
    parseSignalName: { args: call('term') },
    identityDifferences: { args: call(identity, identity) },
    isValidPid: { args: fc.tuple(junk) },
    isPortwardenError: { args: fc.tuple(junk) },
    processExited: { args: call(identity, '/proc') },
    readIdentity: { args: call(process.pid, '/proc') },
    unsafeTarget: { args: call(process.pid, { self: process.pid, parent: process.ppid }) },
    verifyIdentity: { args: call(identity, '/proc') },
    signalVerified: {
      // ourselves (always refused), and a kill that only records
      args: call(identity, 'SIGTERM', { procRoot: '/proc' }).map(([i, s, o]) => [
        i,
        s,
        isObject(o) ? { ...o, kill: recordKill } : o === undefined ? { kill: recordKill } : o,
      ]),
    },
    defaultDockerSocket: { args: call({ DOCKER_HOST: 'unix:///nonexistent/docker.sock' }) },
    findPublishingContainer: { args: call([container], held, 'tcp', '172.17.0.2:80') },
    listDockerContainers: {
      args: fc.tuple(
        fc.oneof(fc.constant(join(dir, 'no-docker.sock')), junk),
        fc.oneof(
          fc.integer({ min: 0, max: 50 }),
          broken((t) => typeof t === 'number'),
        ),
      ),
      runs: 20,
    },
    findSocketUnits: { args: call(held, 'udp', [dir]) },
    toJsonFreePlan: { args: call(plan) },
    toJsonFreeReport: { args: call(report) },
    toJsonFreeTarget: { args: call(target) },
    toJsonRefusal: { args: call(refusal) },
    toJsonTargetReport: { args: call(targetReport) },
    runService: { args: runArguments(), refused: true },
    startService: { args: runArguments(), refused: true },
    runWithDependencies: {
      args: runArguments().map((values) => [[], ...values]),
      refused: true,
    },
    conflictError: { args: call([portConflict], 'before') },
    conflictSentence: { args: call([portConflict]) },
    describeOwners: { args: call([socket], allocation, '/proc') },
    preflightPorts: {
      args: probing(call([runPort], { project: 'shop', service: 'web', store: null })),
      runs: 30,
    },
    waitUntilListening: {
      // a child that has exited: the wait ends at once (or after at most 20 ms)
      args: call([runPort], child, readiness).map(([ports, c, o]) => [
        ports,
        c,
        isObject(o) && typeof o.timeoutMs === 'number'
          ? { ...o, timeoutMs: Math.min(o.timeoutMs, 20) }
          : o,
      ]),
      runs: 30,
    },
    formatRunPort: { args: call(runPort) },
    formatRunPorts: { args: call([runPort, { ...runPort, protocol: 'udp' }]) },
    portEnvironment: { args: call('web-api', [runPort]) },
    portVariable: { args: call('web-api') },
    inForegroundOfTerminal: { args: call(process.pid, '/proc') },
    isSameProcess: { args: call({ pid: process.pid, startTicks: identity.startTicks }, '/proc') },
    processTree: { args: call(process.pid, '/proc') },
    socketIdentity: { args: call(socket) },
    watchSockets: {
      // an aborted signal: one poll, then it resolves
      args: fc
        .oneof(
          call(
            { ports: [spec(held)], intervalMs: 50, backend: 'proc' },
            () => {},
            AbortSignal.abort(),
          ),
          fc.tuple(junk, junk, junk),
        )
        .map(([o, f, s]) => [o, f, s instanceof AbortSignal ? AbortSignal.abort() : s]),
      runs: 20,
    },
    findManifest: { args: call(dir) },
    loadManifest: { args: call({ path: manifest.path, cwd: dir }) },
    parseManifest: {
      args: call('[services.web]\nports = [8080]\n', join(dir, 'portwarden.toml'), { cwd: dir }),
    },
    portName: { args: call('web', 1) },
    resolveServicePorts: {
      args: probing(
        call(manifest, manifest.services[0]).chain((a) => storeOrNot.map((s) => [...a, s])),
      ),
      runs: 30,
    },
    preflight: {
      args: probing(call(manifest, { store: null, docker: false, services: ['web'] })),
      runs: 20,
    },
    preflightSpecs: {
      args: probing(
        call([{ spec: spec(held), text: String(held) }], { store: null, docker: false }),
      ),
      runs: 20,
    },
    dependencyOrder: { args: call(manifest, ['web']) },
    composeVariable: { args: call('web-api') },
    manifestEnvironment: { args: probing(call(manifest, store)), runs: 20 },
    toJsonPreflight: { args: call(preflighted) },
    toJsonPreflightPort: { args: call(preflighted.ports[0]) },
    doctor: {
      args: probing(
        call({ manifest, store: null, registryLocation: join(dir, 'none.db'), timeoutMs: 100 }),
      ),
      runs: 20,
    },
    portSubject: { args: call(preflighted.ports[0]) },
    toJsonDoctor: { args: call(doctored) },
  }
}

/** No message says `dumpSockets(...)`, `TypeError` or where in the code it came from. */
function expectUserSentence(error: pw.PortwardenError): void {
  const ours = error.message.replace(/"(?:[^"\\]|\\.)*"/g, '"…"') // the caller's values, quoted
  expect(ours).not.toMatch(/\b[a-z]+[A-Z]\w*\(|TypeError|RangeError|ERR_[A-Z_]+|\n\s+at /)
  expect(ours).toMatch(/[.!?]$/)
}

describe('every export checks its arguments', () => {
  it('the table covers every function the package exports', () => {
    const functions = Object.entries(pw)
      .filter(([, value]) => typeof value === 'function')
      .map(([name]) => name)
    const covered = new Set([...Object.keys(specs()), 'PortwardenError', 'SocketWatcher'])
    expect(functions.filter((name) => !covered.has(name))).toEqual([])
  })

  it('random arguments: a valid answer or a PortwardenError, never anything else', async () => {
    const table = specs()
    for (const [name, { args, refused, runs }] of Object.entries(table)) {
      const fn = (pw as unknown as Record<string, (...a: unknown[]) => unknown>)[name]!
      await fc.assert(
        fc.asyncProperty(args, async (values) => {
          let outcome: unknown
          try {
            const result = fn(...values)
            // an async export rejects, never throws: `.catch()` must see every error
            outcome = result instanceof Promise ? await result : result
          } catch (error) {
            if (!pw.isPortwardenError(error)) {
              throw new Error(`${name} threw ${String(error)}`, { cause: error })
            }
            if (refused) expect(error.code, `${name}: ${error.message}`).toBe('invalid_request')
            if (error.code === 'invalid_request') expectUserSentence(error)
            return
          }
          if (refused) throw new Error(`${name} accepted arguments it must refuse`)
          // what comes back can be serialised (the CLI and the API print it)
          expect(() =>
            JSON.stringify(outcome, (_k, v) => (typeof v === 'bigint' ? String(v) : v)),
          ).not.toThrow()
        }),
        { numRuns: (runs ?? 100) * Number(process.env.FC_SCALE ?? 1) },
      )
    }
    expect(kills).toEqual([])
  })

  it('every socket of every backend is accepted back as it is', async () => {
    for (const backend of ['netlink', 'proc', 'lsof'] as const) {
      const inventory = await pw.listSockets({ all: true, backend }).catch((error: unknown) => {
        if (pw.isPortwardenError(error) && error.code === 'backend_unavailable') return null
        throw error
      })
      if (!inventory) continue
      expect(inventory.sockets.length, backend).toBeGreaterThan(0)
      expect(() => pw.renderSocketsJson(inventory.sockets), backend).not.toThrow()
      expect(() => pw.describeHolders(inventory.sockets), backend).not.toThrow()
    }
  })

  it('what the library hands out is accepted back as it is', () => {
    expect(pw.checkSentence(inUse)).toMatch(new RegExp(`^TCP port ${held} is already in use`))
    expect(pw.toJsonCheck(free).free).toBe(true)
    expect(pw.toJsonFreePlan(plan).targets).toHaveLength(1)
    expect(pw.toJsonPreflight(preflighted).ports.length).toBeGreaterThan(0)
    expect(pw.toJsonDoctor(doctored).checks.length).toBeGreaterThan(0)
    expect(pw.renderSocketsJson([socket])).toBe(JSON.stringify([pw.toJsonSocket(socket)]))
  })

  it('a procRoot longer than the native addon takes is walked in TypeScript', async () => {
    const inventory = await pw.listSockets({
      procRoot: `/proc${'/.'.repeat(130)}`,
      ports: [{ from: held, to: held, protocol: 'tcp' }],
    })
    expect(inventory.sockets.map((s) => s.processes.map((p) => p.pid))).toEqual([[fixture.pid]])
  })

  it('SocketWatcher checks its options and listeners', () => {
    for (const options of [
      5,
      { intervalMs: 1 },
      { intervalMs: 100, fullRescanMs: 50 },
      { ports: [spec(0)] },
    ]) {
      expect(() => new pw.SocketWatcher(options as never)).toThrow(
        expect.objectContaining({ name: 'PortwardenError', code: 'invalid_request' }),
      )
    }
    const watcher = new pw.SocketWatcher({ intervalMs: 50 })
    expect(() => watcher.subscribe('x' as never)).toThrow(
      expect.objectContaining({ code: 'invalid_request' }),
    )
  })

  it('the examples of the issue: a sentence saying what is accepted', async () => {
    const reasons = await Promise.all(
      [
        () => pw.checkPort(0),
        () => pw.checkPort(8080, 'sctp' as never),
        () => pw.checkPort(70000),
        () => pw.checkPort('abc' as never),
        () => pw.checkPort(22.5),
      ].map((call) =>
        call().then(
          () => null,
          (error: unknown) => error,
        ),
      ),
    )
    expect(reasons.map((e) => (e as pw.PortwardenError).message)).toEqual([
      'Invalid port 0: ports are whole numbers from 1 to 65535.',
      'Invalid protocol "sctp": the protocol is "tcp" or "udp".',
      'Invalid port 70000: ports are whole numbers from 1 to 65535.',
      'Invalid port "abc": ports are whole numbers from 1 to 65535.',
      'Invalid port 22.5: ports are whole numbers from 1 to 65535.',
    ])
    for (const reason of reasons)
      expect(reason).toMatchObject({ name: 'PortwardenError', code: 'invalid_request' })
  })
})
