/**
 * Real PostgreSQL and Redis servers for the linux tests, on random free loopback ports, in
 * throwaway directories. Ready means the server logged that it accepts connections (never a fixed
 * sleep); `stop()` signals only the pid this helper started (and, if it will not go, that pid's
 * own process group), then removes the directory. Start one server per test file (beforeAll) and
 * stop it in afterAll.
 *
 * PostgreSQL refuses to run as root: when the tests run as root the server runs as the
 * `postgres` OS user (setpriv, which execs, so the pid we hold is the postmaster's).
 */
import type { ChildProcess } from 'node:child_process'
import { spawn, spawnSync } from 'node:child_process'
import {
  chownSync,
  closeSync,
  existsSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export interface RunningServer {
  host: string
  port: number
  pid: number
  /** The server's throwaway directory (data, socket and log). */
  dir: string
  /** Everything the server has logged so far. */
  log(): string
  stop(): Promise<void>
}

export interface RunningPostgres extends RunningServer {
  /** `postgres://postgres@127.0.0.1:PORT/postgres`, for the `pg` client. */
  url: string
  /** The PostgreSQL major version of the binaries. */
  version: number
  /** The data directory (`dir/data`). */
  dataDir: string
  /**
   * Writes a file into `dir`, owned by the OS user the server runs as (for `ssl_key_file`,
   * which PostgreSQL wants owned by itself with mode 0600). Returns its absolute path.
   */
  writeOwnedFile(name: string, content: string | Buffer, mode?: number): string
}

export interface RunningRedis extends RunningServer {
  /** `redis://127.0.0.1:PORT` (with the password when one was set). */
  url: string
}

const HOST = '127.0.0.1'
const READY_TIMEOUT_MS = 30_000
const STOP_TIMEOUT_MS = 10_000

function versionOf(dir: string): number {
  return Number(/(\d+)(?:\/bin)?\/?$/.exec(dir)?.[1] ?? 0)
}

/**
 * The directory holding `initdb` and `postgres` (Debian's /usr/lib/postgresql/N/bin, the newest
 * N; else `PG_BINDIR`; else `pg_config --bindir`), or null when PostgreSQL is not installed.
 */
export function postgresBinaries(): string | null {
  const usable = (dir: string): boolean =>
    existsSync(join(dir, 'initdb')) && existsSync(join(dir, 'postgres'))
  const fromEnv = process.env.PG_BINDIR
  if (fromEnv && usable(fromEnv)) return fromEnv
  const root = '/usr/lib/postgresql'
  if (existsSync(root)) {
    const dirs = readdirSync(root)
      .map((name) => join(root, name, 'bin'))
      .filter(usable)
      .sort((a, b) => versionOf(b) - versionOf(a))
    if (dirs[0]) return dirs[0]
  }
  const pgConfig = spawnSync('pg_config', ['--bindir'], { encoding: 'utf8' })
  const bindir = pgConfig.status === 0 ? pgConfig.stdout.trim() : ''
  return bindir && usable(bindir) ? bindir : null
}

/** The `redis-server` executable on PATH, or null. */
export function redisBinary(): string | null {
  const found = spawnSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' })
  const path = found.status === 0 ? found.stdout.trim() : ''
  return path || null
}

/** A port that was free on 127.0.0.1 a moment ago (the caller retries if it is taken by then). */
export function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.unref()
    server.once('error', reject)
    server.listen(0, HOST, () => {
      const address = server.address()
      const port = typeof address === 'object' && address ? address.port : 0
      server.close(() => (port ? resolve(port) : reject(new Error('no port from listen(0)'))))
    })
  })
}

interface OsUser {
  uid: number
  gid: number
}

function lookupUser(name: string): OsUser | null {
  const uid = spawnSync('id', ['-u', name], { encoding: 'utf8' })
  const gid = spawnSync('id', ['-g', name], { encoding: 'utf8' })
  if (uid.status !== 0 || gid.status !== 0) return null
  return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) }
}

function isRoot(): boolean {
  return process.getuid?.() === 0
}

/** Argv that runs `command` as `user` when we are root, as ourselves otherwise. */
function asUser(user: OsUser | null, command: string, args: string[]): [string, string[]] {
  if (!user) return [command, args]
  return [
    'setpriv',
    [`--reuid=${user.uid}`, `--regid=${user.gid}`, '--init-groups', command, ...args],
  ]
}

/** Pids and directories still to clean up if the test process exits without stop(). */
const live = new Map<number, string>()
let exitHookInstalled = false

function track(pid: number, dir: string): void {
  live.set(pid, dir)
  if (exitHookInstalled) return
  exitHookInstalled = true
  process.once('exit', () => {
    for (const [livePid, liveDir] of live) {
      try {
        process.kill(-livePid, 'SIGKILL')
      } catch {
        // gone already
      }
      rmSync(liveDir, { recursive: true, force: true })
    }
  })
}

interface Spawned {
  child: ChildProcess
  pid: number
  exited: Promise<number | string>
  hasExited(): boolean
  log(): string
}

/** Spawns a server in its own process group with stdout+stderr going to `logFile`. */
function spawnServer(command: string, args: string[], cwd: string, logFile: string): Spawned {
  const fd = openSync(logFile, 'a')
  let child: ChildProcess
  try {
    child = spawn(command, args, {
      cwd,
      detached: true,
      stdio: ['ignore', fd, fd],
      env: { ...process.env, LC_ALL: 'C' },
    })
  } finally {
    closeSync(fd)
  }
  if (child.pid === undefined) throw new Error(`could not start ${command}`)
  let done = false
  const exited = new Promise<number | string>((resolve) => {
    child.once('exit', (code, signal) => {
      done = true
      resolve(code ?? signal ?? 'unknown')
    })
    child.once('error', (error) => {
      done = true
      resolve(error.message)
    })
  })
  return { child, pid: child.pid, exited, hasExited: () => done, log: () => readLog(logFile) }
}

function readLog(file: string): string {
  try {
    return readFileSync(file, 'utf8')
  } catch {
    return ''
  }
}

/** Polls (every 25 ms, bounded) until `ready()` holds; fails early when the server exits. */
async function waitUntil(
  name: string,
  spawned: Spawned,
  ready: () => boolean | Promise<boolean>,
): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS
  for (;;) {
    if (await ready()) return
    if (spawned.hasExited()) {
      throw new ServerExited(`${name} exited before it was ready:\n${spawned.log().slice(-4000)}`)
    }
    if (Date.now() > deadline) {
      throw new Error(
        `${name} was not ready within ${READY_TIMEOUT_MS} ms:\n${spawned.log().slice(-4000)}`,
      )
    }
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
}

class ServerExited extends Error {}

/**
 * Sends `signal` to the server's pid and waits for it to exit; if it has not within
 * STOP_TIMEOUT_MS, SIGKILLs its process group (the group it leads, so only what it started).
 */
async function stopSpawned(spawned: Spawned, signal: NodeJS.Signals): Promise<void> {
  if (!spawned.hasExited()) {
    try {
      process.kill(spawned.pid, signal)
    } catch {
      // gone already
    }
    let timer: NodeJS.Timeout | undefined
    const timedOut = await Promise.race([
      spawned.exited.then(() => false),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(true), STOP_TIMEOUT_MS)
      }),
    ])
    clearTimeout(timer)
    if (timedOut) {
      // It would not go: kill it and whatever it started (its own process group, still led by it).
      try {
        process.kill(-spawned.pid, 'SIGKILL')
      } catch {
        // gone already
      }
      await spawned.exited
    }
  }
}

async function retryOnPortRace<T>(start: (port: number) => Promise<T>): Promise<T> {
  let lastError: unknown
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      return await start(await freeLoopbackPort())
    } catch (error) {
      lastError = error
      // Only a server that exited (e.g. its port was taken in between) is worth another port.
      if (!(error instanceof ServerExited)) throw error
    }
  }
  throw lastError
}

export interface StartPostgresOptions {
  /** Extra `-c name=value` server settings. */
  settings?: Record<string, string>
}

/**
 * initdb (trust auth, superuser `postgres`, C locale, no fsync) into a fresh temp directory and
 * start `postgres` on 127.0.0.1 and a random port; resolves once it accepts connections.
 */
export async function startPostgres(options: StartPostgresOptions = {}): Promise<RunningPostgres> {
  const bin = postgresBinaries()
  if (!bin)
    throw new Error(
      'PostgreSQL is not installed (no initdb/postgres under /usr/lib/postgresql/*/bin)',
    )
  const owner = isRoot() ? lookupUser('postgres') : null
  if (isRoot() && !owner)
    throw new Error('running as root, but there is no `postgres` OS user to run PostgreSQL as')
  const dir = mkdtempSync(join(tmpdir(), 'portwarden-pg-'))
  if (owner) chownSync(dir, owner.uid, owner.gid)
  const dataDir = join(dir, 'data')
  const logFile = join(dir, 'server.log')
  try {
    const [initdb, initArgs] = asUser(owner, join(bin, 'initdb'), [
      '-D',
      dataDir,
      '--auth=trust',
      '-U',
      'postgres',
      '--encoding=UTF8',
      '--locale=C',
      '--no-sync',
      '--no-instructions',
    ])
    const init = spawnSync(initdb, initArgs, {
      cwd: dir,
      encoding: 'utf8',
      env: { ...process.env, LC_ALL: 'C' },
    })
    if (init.status !== 0) {
      throw new Error(
        `initdb failed (${init.status ?? init.signal}):\n${init.stdout}\n${init.stderr}`,
      )
    }
    writeFileSync(logFile, '')
    if (owner) chownSync(logFile, owner.uid, owner.gid)
    const settings: Record<string, string> = {
      fsync: 'off',
      synchronous_commit: 'off',
      full_page_writes: 'off',
      max_connections: '200',
      ...options.settings,
    }
    const settingArgs = Object.entries(settings).flatMap(([name, value]) => [
      '-c',
      `${name}=${value}`,
    ])
    return await retryOnPortRace(async (port) => {
      const [postgres, args] = asUser(owner, join(bin, 'postgres'), [
        '-D',
        dataDir,
        '-k',
        dir,
        '-h',
        HOST,
        '-p',
        String(port),
        ...settingArgs,
      ])
      const logOffset = readLog(logFile).length
      const spawned = spawnServer(postgres, args, dir, logFile)
      track(spawned.pid, dir)
      try {
        await waitUntil('postgres', spawned, () =>
          readLog(logFile)
            .slice(logOffset)
            .includes('database system is ready to accept connections'),
        )
      } catch (error) {
        await stopSpawned(spawned, 'SIGQUIT')
        live.delete(spawned.pid)
        throw error
      }
      let stopped = false
      return {
        host: HOST,
        port,
        pid: spawned.pid,
        dir,
        dataDir,
        version: versionOf(bin),
        url: `postgres://postgres@${HOST}:${port}/postgres`,
        log: spawned.log,
        writeOwnedFile(name: string, content: string | Buffer, mode = 0o600): string {
          const path = join(dir, name)
          writeFileSync(path, content, { mode })
          if (owner) chownSync(path, owner.uid, owner.gid)
          return path
        },
        async stop(): Promise<void> {
          if (stopped) return
          stopped = true
          // SIGINT: fast shutdown (disconnect clients, no checkpoint wait on an unsynced cluster).
          await stopSpawned(spawned, 'SIGINT')
          live.delete(spawned.pid)
          rmSync(dir, { recursive: true, force: true })
        },
      }
    })
  } catch (error) {
    rmSync(dir, { recursive: true, force: true })
    throw error
  }
}

export interface StartRedisOptions {
  /** `requirepass`: PING then answers `-NOAUTH`. */
  password?: string
}

/** Starts `redis-server` on 127.0.0.1 and a random port, no persistence; resolves when ready. */
export async function startRedis(options: StartRedisOptions = {}): Promise<RunningRedis> {
  const bin = redisBinary()
  if (!bin) throw new Error('Redis is not installed (no redis-server on PATH)')
  const dir = mkdtempSync(join(tmpdir(), 'portwarden-redis-'))
  const logFile = join(dir, 'server.log')
  try {
    return await retryOnPortRace(async (port) => {
      const args = [
        '--port',
        String(port),
        '--bind',
        HOST,
        '--save',
        '',
        '--appendonly',
        'no',
        '--daemonize',
        'no',
        '--dir',
        dir,
        '--logfile',
        '',
        '--loglevel',
        'notice',
      ]
      if (options.password !== undefined) args.push('--requirepass', options.password)
      const logOffset = readLog(logFile).length
      const spawned = spawnServer(bin, args, dir, logFile)
      track(spawned.pid, dir)
      try {
        await waitUntil('redis-server', spawned, () =>
          readLog(logFile).slice(logOffset).includes('Ready to accept connections'),
        )
      } catch (error) {
        await stopSpawned(spawned, 'SIGKILL')
        live.delete(spawned.pid)
        throw error
      }
      let stopped = false
      const auth = options.password !== undefined ? `:${encodeURIComponent(options.password)}@` : ''
      return {
        host: HOST,
        port,
        pid: spawned.pid,
        dir,
        url: `redis://${auth}${HOST}:${port}`,
        log: spawned.log,
        async stop(): Promise<void> {
          if (stopped) return
          stopped = true
          await stopSpawned(spawned, 'SIGTERM')
          live.delete(spawned.pid)
          rmSync(dir, { recursive: true, force: true })
        },
      }
    })
  } catch (error) {
    rmSync(dir, { recursive: true, force: true })
    throw error
  }
}
