/**
 * A real Docker engine (Debian's docker.io) for the container tests, started in a network
 * namespace of its own: its bridge, NAT rules, published ports and route_localnet all live
 * there and go away with the namespace, so a test never touches the host's firewall or an
 * engine the developer runs. The engine gets its own data-root, exec-root and API socket in a
 * temporary directory; images are made with the Engine API's import (no registry here): a
 * static busybox, which serves `httpd`. Every call talks to the Engine API over its socket.
 */
import type { ChildProcess } from 'node:child_process'
import { spawn, spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { request } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { CliResult } from './cli.js'
import { CLI, cliEnv, runCommand } from './cli.js'
import { commandExists, isRoot } from './processes.js'

const BUSYBOX = '/bin/busybox'
export const TEST_IMAGE = 'portwarden-test-busybox:1'

/** Why a real Docker engine cannot be started here, or null when it can. */
export function whyNoDocker(): string | null {
  if (!isRoot()) return 'needs root (dockerd, network namespaces)'
  for (const command of ['dockerd', 'containerd', 'runc', 'iptables', 'ip']) {
    if (!commandExists(command)) return `${command} is not installed (Debian: docker.io, iptables)`
  }
  // A container needs a binary that brings no libraries: `ldd` says so of a static one.
  const busybox = spawnSync('ldd', [BUSYBOX], { encoding: 'utf8' })
  if (busybox.error || !/not a dynamic executable/.test(`${busybox.stdout}${busybox.stderr}`))
    return `${BUSYBOX} is not a static busybox (Debian: busybox-static)`
  return null
}

export interface EngineAnswer {
  status: number
  body: unknown
  text: string
}

export interface DockerEngine {
  /** The Engine API socket (PORTWARDEN_DOCKER_SOCKET for the CLI under test). */
  socket: string
  /** The network namespace it runs in (`ip netns` name). */
  netns: string
  dockerdPid: number
  userlandProxy: boolean
  api(method: string, path: string, body?: unknown): Promise<EngineAnswer>
  /** Runs the built CLI inside the engine's network namespace, pointed at its API socket. */
  cli(args: readonly string[], env?: Record<string, string | undefined>): Promise<CliResult>
  /** Runs a command inside the engine's network namespace. */
  exec(command: string, args: readonly string[]): ReturnType<typeof spawnSync>
  stop(): Promise<void>
}

export interface RunningContainer {
  id: string
  name: string
  /** Its address on the engine's default bridge. */
  ip: string
  /** Host processes of the container, as the engine reports them (State.Pid). */
  pid: number
}

function engineRequest(
  socket: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<EngineAnswer> {
  return new Promise((resolve, reject) => {
    const payload =
      body === undefined
        ? undefined
        : Buffer.isBuffer(body)
          ? body
          : Buffer.from(JSON.stringify(body))
    const req = request(
      {
        socketPath: socket,
        path,
        method,
        headers: {
          Host: 'docker',
          ...(payload
            ? {
                'Content-Type': Buffer.isBuffer(body) ? 'application/x-tar' : 'application/json',
                'Content-Length': payload.length,
              }
            : {}),
        },
        timeout: 60_000,
      },
      (res) => {
        const chunks: Buffer[] = []
        res.on('data', (chunk: Buffer) => chunks.push(chunk))
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8')
          let parsed: unknown
          try {
            parsed = text ? JSON.parse(text) : null
          } catch {
            parsed = null // /_ping answers plain text
          }
          resolve({ status: res.statusCode ?? 0, body: parsed, text })
        })
      },
    )
    req.on('timeout', () => req.destroy(new Error(`Engine API ${method} ${path} timed out`)))
    req.on('error', reject)
    req.end(payload)
  })
}

async function waitFor(what: string, ok: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (let delay = 20; ; delay = Math.min(delay * 2, 250)) {
    if (await ok()) return
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, delay))
  }
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve()
  return new Promise((resolve) => child.once('exit', () => resolve()))
}

/**
 * Starts dockerd in a new network namespace with `userland-proxy` on or off, and imports the
 * busybox test image. `stop()` removes the containers, stops the engine (the pid we started),
 * deletes the namespace and the directory.
 */
export async function startDockerEngine(options: {
  userlandProxy: boolean
}): Promise<DockerEngine> {
  const dir = mkdtempSync(join(tmpdir(), 'pw-docker-'))
  const netns = `pw-docker-${randomBytes(4).toString('hex')}`
  const socket = join(dir, 'docker.sock')
  const ip = (...args: string[]) => {
    const result = spawnSync('ip', args, { encoding: 'utf8' })
    if (result.status !== 0) throw new Error(`ip ${args.join(' ')}: ${result.stderr.trim()}`)
  }
  ip('netns', 'add', netns)
  let child: ChildProcess | null = null
  const cleanup = async () => {
    if (child && child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM')
      const stopped = await Promise.race([
        exited(child).then(() => true),
        new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 20_000)),
      ])
      if (!stopped) {
        child.kill('SIGKILL')
        await exited(child)
      }
    }
    unmountUnder(dir)
    spawnSync('ip', ['netns', 'del', netns])
    rmSync(dir, { recursive: true, force: true })
  }
  try {
    ip('-n', netns, 'link', 'set', 'lo', 'up')
    writeFileSync(
      join(dir, 'daemon.json'),
      JSON.stringify({
        'data-root': join(dir, 'data'),
        'exec-root': join(dir, 'exec'),
        pidfile: join(dir, 'docker.pid'),
        hosts: [`unix://${socket}`],
        'userland-proxy': options.userlandProxy,
        'storage-driver': 'overlay2',
        'log-level': 'warn',
      }),
    )
    const log = join(dir, 'dockerd.log')
    writeFileSync(log, '')
    // nsenter, not `ip netns exec`: that one mounts a fresh /sys, hiding the cgroup mounts
    // dockerd needs. The engine shares our mount namespace; `stop()` unmounts what it leaves.
    const started = spawn(
      'nsenter',
      [`--net=/run/netns/${netns}`, 'dockerd', '--config-file', join(dir, 'daemon.json')],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    )
    child = started
    let stderr = ''
    started.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      stderr = (stderr + chunk).slice(-8000)
    })
    await waitFor(
      'dockerd to answer /_ping',
      async () => {
        if (started.exitCode !== null)
          throw new Error(`dockerd exited (${started.exitCode}): ${stderr}`)
        try {
          return (await engineRequest(socket, 'GET', '/_ping')).text === 'OK'
        } catch {
          return false
        }
      },
      30_000,
    )
    // `ip netns exec` execs dockerd in place: the child's pid is dockerd's.
    const dockerdPid = Number(readFileSync(join(dir, 'docker.pid'), 'utf8').trim())
    await importBusybox(socket, dir)
    const containers: string[] = []
    const engine: DockerEngine = {
      socket,
      netns,
      dockerdPid,
      userlandProxy: options.userlandProxy,
      api: (method, path, body) => {
        if (method === 'POST' && path.startsWith('/containers/create')) {
          const name = /name=([^&]+)/.exec(path)?.[1]
          if (name) containers.push(decodeURIComponent(name))
        }
        return engineRequest(socket, method, path, body)
      },
      cli: (args, env = {}) =>
        runCommand('nsenter', [`--net=/run/netns/${netns}`, process.execPath, CLI, ...args], {
          env: cliEnv({ PORTWARDEN_DOCKER_SOCKET: socket, ...env }),
          timeoutMs: 30_000,
        }),
      exec: (command, args) =>
        spawnSync('nsenter', [`--net=/run/netns/${netns}`, command, ...args], {
          encoding: 'utf8',
        }),
      stop: async () => {
        for (const name of containers) {
          await engineRequest(socket, 'DELETE', `/containers/${name}?force=true`).catch(() => {})
        }
        await cleanup()
      },
    }
    return engine
  } catch (error) {
    await cleanup()
    throw error
  }
}

/** Mounts the engine left under `dir` (overlays, netns bind mounts), deepest first. */
function unmountUnder(dir: string): void {
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[4])
    .filter((point): point is string => point !== undefined && point.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length)
  for (const point of mounts) spawnSync('umount', ['-l', point])
}

/** A rootfs of one static busybox, as a tar stream for `POST /images/create?fromSrc=-`. */
async function importBusybox(socket: string, dir: string): Promise<void> {
  const root = join(dir, 'rootfs')
  mkdirSync(join(root, 'bin'), { recursive: true })
  copyFileSync(BUSYBOX, join(root, 'bin', 'busybox'))
  const tar = spawnSync('tar', ['-C', root, '-c', '.'], { maxBuffer: 64 << 20 })
  if (tar.status !== 0) throw new Error(`tar: ${tar.stderr.toString()}`)
  const [repo, tag] = TEST_IMAGE.split(':') as [string, string]
  const answer = await engineRequest(
    socket,
    'POST',
    `/images/create?fromSrc=-&repo=${repo}&tag=${tag}`,
    tar.stdout,
  )
  if (answer.status !== 200 || /error/i.test(answer.text))
    throw new Error(`image import failed: HTTP ${answer.status} ${answer.text}`)
}

/**
 * Creates and starts a busybox httpd container; `publish` maps host `hostIp:hostPort` to its
 * port 80 (omit it for a container with no published port).
 */
export async function runHttpContainer(
  engine: DockerEngine,
  name: string,
  publish?: { hostIp: string; hostPort: number; protocol?: 'tcp' | 'udp' },
): Promise<RunningContainer> {
  const protocol = publish?.protocol ?? 'tcp'
  const create = await engine.api('POST', `/containers/create?name=${encodeURIComponent(name)}`, {
    Image: TEST_IMAGE,
    Cmd: ['/bin/busybox', 'httpd', '-f', '-p', '80'],
    ExposedPorts: { [`80/${protocol}`]: {} },
    HostConfig: publish
      ? {
          PortBindings: {
            [`80/${protocol}`]: [{ HostIp: publish.hostIp, HostPort: String(publish.hostPort) }],
          },
        }
      : {},
  })
  if (create.status !== 201) throw new Error(`create ${name}: HTTP ${create.status} ${create.text}`)
  const id = (create.body as { Id: string }).Id
  const start = await engine.api('POST', `/containers/${id}/start`)
  if (start.status !== 204) throw new Error(`start ${name}: HTTP ${start.status} ${start.text}`)
  const inspect = await inspectContainer(engine, id)
  return { id, name, ip: inspect.ip, pid: inspect.pid }
}

export async function inspectContainer(
  engine: DockerEngine,
  id: string,
): Promise<{ running: boolean; ip: string; pid: number }> {
  const answer = await engine.api('GET', `/containers/${id}/json`)
  if (answer.status !== 200) throw new Error(`inspect ${id}: HTTP ${answer.status} ${answer.text}`)
  const body = answer.body as {
    State: { Running: boolean; Pid: number }
    NetworkSettings: { IPAddress: string }
  }
  return { running: body.State.Running, ip: body.NetworkSettings.IPAddress, pid: body.State.Pid }
}
