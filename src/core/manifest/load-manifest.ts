/**
 * `portwarden.toml`: found by searching upward, parsed with smol-toml, then checked key by key.
 * Every problem becomes `PortwardenError('invalid_request', 'FILE:LINE: problem')` (exit 2 in
 * the CLI) with the offending line in the hint, never a stack trace.
 * @module
 */
import { readFileSync, statSync } from 'node:fs'
import { dirname, isAbsolute, join, relative, resolve } from 'node:path'
import { TomlError, parse } from 'smol-toml'
import { PortwardenError, errnoOf } from '../errors.js'
import { PORT_SPEC_FORMS, formatPortSpec, parsePortSpec } from '../port-spec.js'
import { defaultProject, validateName } from '../registry/names.js'
import type { HealthCheckSpec } from '../registry/types.js'
import type { Protocol } from '../types.js'
import { locateToml } from './toml-locations.js'
import type { TomlLocations, TomlPath } from './toml-locations.js'
import type { Manifest, ManifestPort, ManifestService } from './types.js'
import { portName } from './resolve-ports.js'
import { escapeUnsafeLines, truncate } from '../../shared/safe-text.js'

export { resolveServicePorts, portName } from './resolve-ports.js'
export type { ResolvedPort } from './resolve-ports.js'

export const MANIFEST_FILE = 'portwarden.toml'
/** A manifest is a few hundred bytes; anything past this is not one. */
export const MAX_MANIFEST_BYTES = 1024 * 1024
/** Deeper nesting than any manifest needs; keeps hostile input from recursing far. */
const MAX_DEPTH = 32

export const MANIFEST_EXAMPLE = [
  '[services.web]',
  'ports = [8080]',
  'command = "python3 -m http.server $PORT"',
].join('\n')

const TOP_KEYS = ['project', 'services'] as const
const SERVICE_KEYS = ['ports', 'command', 'health', 'depends_on'] as const
const HEALTH_KINDS = ['http', 'https', 'tcp', 'postgres', 'redis'] as const
const HEALTH_KEYS = [...HEALTH_KINDS, 'expect'] as const
const PORTS_HINT = `Accepted ports: numbers such as 8080, strings such as ${PORT_SPEC_FORMS.replace(/^8080, /, '')}, or "auto" / "auto/udp" for a port from the registry.`
const HEALTH_HINT =
  'Accepted: health = { http = "/healthz", expect = 200 }, { https = "/" }, { tcp = true }, { postgres = true } or { redis = true }.'

/** The nearest `portwarden.toml` at or above `startDirectory` (a file, not a directory), or null. */
export function findManifest(startDirectory: string = process.cwd()): string | null {
  let current = resolve(startDirectory)
  for (;;) {
    const candidate = join(current, MANIFEST_FILE)
    if (isFile(candidate)) return candidate
    const parent = dirname(current)
    if (parent === current) return null
    current = parent
  }
}

export interface LoadManifestOptions {
  /** A manifest file, or a directory holding `portwarden.toml`; relative to `cwd`. */
  path?: string
  /** Where the upward search starts and relative paths (and shown file names) are based. */
  cwd?: string
}

/** Reads and checks the manifest named by `path`, else the nearest one above `cwd`. */
export function loadManifest(options: LoadManifestOptions = {}): Manifest {
  const cwd = resolve(options.cwd ?? process.cwd())
  const path = options.path === undefined ? searchManifest(cwd) : namedManifest(options.path, cwd)
  const shown = shownPath(path, cwd)
  let buffer: Buffer
  try {
    const size = statSync(path).size
    if (size > MAX_MANIFEST_BYTES) {
      throw fileError(
        path,
        shown,
        `is too large for a manifest (${size} bytes; at most ${MAX_MANIFEST_BYTES})`,
      )
    }
    buffer = readFileSync(path)
  } catch (error) {
    if (error instanceof PortwardenError) throw error
    throw fileError(path, shown, `cannot be read: ${describeErrno(error)}`)
  }
  return parseManifest(decode(buffer, path, shown), path, { cwd })
}

/**
 * Checks manifest text as if read from `path` (which need not exist): the library form of
 * `loadManifest`, for callers that hold the text already.
 */
export function parseManifest(
  text: string,
  path: string,
  options: { cwd?: string } = {},
): Manifest {
  const absolute = resolve(options.cwd ?? process.cwd(), path)
  const shown = shownPath(absolute, resolve(options.cwd ?? process.cwd()))
  const source = text.startsWith('\ufeff') ? text.slice(1) : text
  let document: Record<string, unknown>
  try {
    document = parse(source, { integersAsBigInt: true, maxDepth: MAX_DEPTH }) as Record<
      string,
      unknown
    >
  } catch (error) {
    if (error instanceof TomlError) {
      const raw =
        error.message.split('\n')[0]?.replace(/^Invalid TOML document:\s*/, '') || 'invalid TOML'
      const problem = TOML_PROBLEMS[raw] ?? raw
      throw new PortwardenError(
        'invalid_request',
        `${shown}:${error.line}: TOML syntax error: ${sanitize(problem)} (column ${error.column}).`,
        {
          hint: `${sanitize(error.codeblock.replace(/\n+$/, ''))}\nSee https://toml.io for the syntax; the manifest's keys are project and [services.NAME].`,
          details: { file: absolute, line: error.line, column: error.column },
        },
      )
    }
    // smol-toml reports malformed input as TomlError; anything else (a stack overflow on
    // hostile nesting) is still bad input, not our crash.
    throw new PortwardenError(
      'invalid_request',
      `${shown}:1: this is not a TOML document smol-toml can read (${sanitize(error instanceof Error ? error.message : String(error))}).`,
      {
        details: { file: absolute, line: 1 },
      },
    )
  }
  return new ManifestChecker(source, absolute, shown).check(document)
}

/** smol-toml's wording where a plainer one helps. */
const TOML_PROBLEMS: Record<string, string> = {
  'trying to redefine an already defined table or value':
    'this key or table is already defined above (each may appear once)',
  'illegal character in key': 'unexpected character in a key or [table] header',
}

// ---------------------------------------------------------------------------------------------
// Finding and reading the file

function searchManifest(cwd: string): string {
  const found = findManifest(cwd)
  if (found) return found
  throw new PortwardenError(
    'invalid_request',
    `No ${MANIFEST_FILE} in ${cwd} or any directory above it.`,
    {
      hint: `Create ${MANIFEST_FILE} in the project's directory, or name one with --manifest FILE. A minimal one:\n${indent(MANIFEST_EXAMPLE)}`,
      details: { file: null, directory: cwd },
    },
  )
}

function namedManifest(path: string, cwd: string): string {
  const absolute = resolve(cwd, path)
  const shown = shownPath(absolute, cwd)
  if (path === '') throw fileError(absolute, '--manifest', 'needs a file name')
  let isDirectory: boolean
  try {
    isDirectory = statSync(absolute).isDirectory()
  } catch (error) {
    if (errnoOf(error) === 'ENOENT' || errnoOf(error) === 'ENOTDIR') {
      throw fileError(
        absolute,
        shown,
        'no such file',
        `Check the path, or leave out --manifest to use the nearest ${MANIFEST_FILE} above the current directory.`,
      )
    }
    throw fileError(absolute, shown, `cannot be read: ${describeErrno(error)}`)
  }
  if (!isDirectory) {
    // A FIFO or a device would block the read or never end: a manifest is a regular file.
    if (!isFile(absolute)) throw fileError(absolute, shown, 'is not a regular file')
    return absolute
  }
  const inside = join(absolute, MANIFEST_FILE)
  if (isFile(inside)) return inside
  throw fileError(
    absolute,
    shown,
    `is a directory without a ${MANIFEST_FILE} file`,
    `Name the manifest file itself, e.g. --manifest ${join(shown, MANIFEST_FILE)}.`,
  )
}

function fileError(
  absolute: string,
  shown: string,
  problem: string,
  hint?: string,
): PortwardenError {
  return new PortwardenError('invalid_request', sanitize(`${shown}: ${problem}.`), {
    hint: hint ?? `The manifest must be a readable TOML file; see docs/manifest.md.`,
    details: { file: absolute, line: null },
  })
}

/** TOML is UTF-8: name the first line that is not, instead of reading replacement characters. */
function decode(buffer: Buffer, absolute: string, shown: string): string {
  const strict = new TextDecoder('utf-8', { fatal: true })
  try {
    return strict.decode(buffer)
  } catch {
    let line = 1
    let start = 0
    for (let i = 0; i <= buffer.length; i++) {
      if (i === buffer.length || buffer[i] === 0x0a) {
        try {
          strict.decode(buffer.subarray(start, i))
        } catch {
          break
        }
        line++
        start = i + 1
      }
    }
    throw new PortwardenError(
      'invalid_request',
      `${shown}:${line}: not valid UTF-8 text (a TOML file must be UTF-8).`,
      {
        hint: 'Save the file as UTF-8.',
        details: { file: absolute, line },
      },
    )
  }
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile()
  } catch {
    return false
  }
}

function describeErrno(error: unknown): string {
  switch (errnoOf(error)) {
    case 'EACCES':
    case 'EPERM':
      return 'permission denied'
    case 'ENOENT':
      return 'no such file'
    case 'EISDIR':
      return 'it is a directory'
    case 'ELOOP':
      return 'too many symbolic links'
    default:
      return error instanceof Error ? error.message : String(error)
  }
}

/** As the user would type it: relative below the current directory, else absolute. */
function shownPath(absolute: string, cwd: string): string {
  const rel = relative(cwd, absolute)
  return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel) ? rel : absolute
}

// ---------------------------------------------------------------------------------------------
// Checking the parsed document

interface PortAt {
  service: string
  index: number
  port: ManifestPort
  line: number
}

class ManifestChecker {
  private readonly locations: TomlLocations
  private readonly lines: string[]
  private readonly absolute: string
  private readonly shown: string

  constructor(text: string, absolute: string, shown: string) {
    this.absolute = absolute
    this.shown = shown
    this.locations = locateToml(text)
    this.lines = text.split('\n')
  }

  check(document: Record<string, unknown>): Manifest {
    this.onlyKeys(document, [], TOP_KEYS, 'at the top of the manifest')
    const directory = dirname(this.absolute)
    let project: string
    if (document.project === undefined) {
      project = defaultProject(directory)
    } else {
      const value = document.project
      if (typeof value !== 'string')
        this.fail(['project'], `project must be a string such as "shop", not ${describe(value)}`)
      project = this.name('project', value, ['project'])
    }
    const table = document.services
    if (table === undefined) {
      this.fail(
        [],
        'no services: declare at least one with a [services.NAME] table',
        `A minimal manifest:\n${indent(MANIFEST_EXAMPLE)}`,
      )
    }
    if (!isTable(table)) {
      this.fail(
        ['services'],
        `services must be a table of services ([services.NAME] sections), not ${describe(table)}`,
        `For example:\n${indent(MANIFEST_EXAMPLE)}`,
      )
    }
    const names = Object.keys(table)
    if (names.length === 0) {
      this.fail(
        ['services'],
        'services is empty: declare at least one with a [services.NAME] table',
        `For example:\n${indent(MANIFEST_EXAMPLE)}`,
      )
    }
    const services = names.map((name) => this.service(name, table[name]))
    const known = new Set(names)
    for (const service of services) this.dependencies(service, known)
    this.noSharedPorts(services)
    this.noCycles(services)
    return { path: this.absolute, directory, project, services }
  }

  private service(name: string, value: unknown): ManifestService {
    const at = ['services', name]
    this.name('service', name, at)
    if (!isTable(value)) {
      this.fail(
        at,
        `${pathText(at)} must be a table ([${pathText(at)}] with ports, command, health, depends_on), not ${describe(value)}`,
      )
    }
    this.onlyKeys(value, at, SERVICE_KEYS, `in [${pathText(at)}]`)
    const ports = value.ports === undefined ? [] : this.ports(value.ports, [...at, 'ports'])
    let command: string | null = null
    if (value.command !== undefined) {
      if (typeof value.command !== 'string') {
        this.fail(
          [...at, 'command'],
          `command must be a string such as "python3 -m http.server $PORT", not ${describe(value.command)}`,
        )
      }
      if (value.command.trim() === '')
        this.fail(
          [...at, 'command'],
          'command is empty: give the command line, or leave command out',
        )
      if (value.command.includes('\0'))
        this.fail([...at, 'command'], 'command contains a NUL character')
      command = value.command
    }
    const health = value.health === undefined ? null : this.health(value.health, [...at, 'health'])
    if (health && ports.length === 0) {
      this.fail(
        [...at, 'health'],
        `${name} has a health check but no ports to check it on`,
        'Add ports = [...] to the service, or remove health.',
      )
    }
    const first = ports[0]
    if (
      health &&
      first &&
      (first.kind === 'auto' ? first.protocol : first.spec.protocol) === 'udp'
    ) {
      this.fail(
        [...at, 'health'],
        `the health check probes ${name}'s first port, ${JSON.stringify(first.text)}, which is UDP; checks speak TCP`,
        'Put a TCP port first in ports, or remove health.',
      )
    }
    const dependsOn: string[] = []
    if (value.depends_on !== undefined) {
      const list = value.depends_on
      const where = [...at, 'depends_on']
      if (!Array.isArray(list))
        this.fail(
          where,
          `depends_on must be an array of service names such as ["db"], not ${describe(list)}`,
        )
      list.forEach((entry, index) => {
        if (typeof entry !== 'string')
          this.fail(
            [...where, index],
            `depends_on lists service names (strings), not ${describe(entry)}`,
          )
        if (!dependsOn.includes(entry)) dependsOn.push(entry)
      })
    }
    return { name, ports, command, health, dependsOn }
  }

  private ports(value: unknown, at: TomlPath): ManifestPort[] {
    if (!Array.isArray(value)) {
      const example =
        typeof value === 'bigint' || typeof value === 'string'
          ? ` (write ports = [${typeof value === 'string' ? JSON.stringify(value) : String(value)}])`
          : ''
      this.fail(
        at,
        `ports must be an array such as [8080, "9000/udp"], not ${describe(value)}${example}`,
        PORTS_HINT,
      )
    }
    return value.map((entry, index): ManifestPort => {
      const where = [...at, index]
      if (typeof entry === 'bigint') {
        if (entry < 1n || entry > 65535n)
          this.fail(where, `port ${entry} is outside 1-65535`, PORTS_HINT)
        const port = Number(entry)
        return { kind: 'spec', spec: { from: port, to: port, protocol: 'tcp' }, text: String(port) }
      }
      if (typeof entry === 'string') {
        const auto = /^auto(?:\/(tcp|udp))?$/i.exec(entry)
        if (auto)
          return {
            kind: 'auto',
            protocol: (auto[1]?.toLowerCase() ?? 'tcp') as Protocol,
            text: entry,
          }
        try {
          return { kind: 'spec', spec: parsePortSpec(entry), text: entry }
        } catch (error) {
          this.fail(where, problemOf(error, 'invalid port spec'), PORTS_HINT)
        }
      }
      if (typeof entry === 'number') {
        this.fail(
          where,
          `ports are whole numbers such as 8080, not a float (${floatText(entry)})`,
          PORTS_HINT,
        )
      }
      this.fail(
        where,
        `a port is a number such as 8080 or a string such as "9000/udp", not ${describe(entry)}`,
        PORTS_HINT,
      )
    })
  }

  private health(value: unknown, at: TomlPath): HealthCheckSpec {
    if (!isTable(value)) {
      const shorthand =
        typeof value === 'string' && /^(tcp|postgres|redis)$/.test(value)
          ? ` (write health = { ${value} = true })`
          : ''
      this.fail(
        at,
        `health must be a table such as { http = "/healthz" }, not ${describe(value)}${shorthand}`,
        HEALTH_HINT,
      )
    }
    this.onlyKeys(value, at, HEALTH_KEYS, 'in health', HEALTH_HINT)
    const kinds = HEALTH_KINDS.filter((kind) => value[kind] !== undefined)
    if (kinds.length === 0)
      this.fail(
        at,
        'health names no check: give one of http, https, tcp, postgres or redis',
        HEALTH_HINT,
      )
    if (kinds.length > 1)
      this.fail(
        [...at, kinds[1] as string],
        `health names ${kinds.length} checks (${kinds.join(', ')}): give exactly one`,
        HEALTH_HINT,
      )
    const kind = kinds[0] as (typeof HEALTH_KINDS)[number]
    const setting = value[kind]
    if (kind !== 'http' && kind !== 'https' && value.expect !== undefined) {
      this.fail([...at, 'expect'], `expect is for http and https checks, not ${kind}`, HEALTH_HINT)
    }
    if (kind === 'http' || kind === 'https') {
      if (typeof setting !== 'string')
        this.fail(
          [...at, kind],
          `${kind} takes the request path as a string such as "/healthz", not ${describe(setting)}`,
          HEALTH_HINT,
        )
      if (!setting.startsWith('/') || SPACE_OR_CONTROL.test(setting) || setting.length > 2048) {
        this.fail(
          [...at, kind],
          `${kind} path ${JSON.stringify(setting.slice(0, 60))} is not a request path: it must start with "/" and contain no spaces or control characters`,
          HEALTH_HINT,
        )
      }
      const spec: HealthCheckSpec = { kind, path: setting }
      if (value.expect !== undefined) {
        const expect = value.expect
        if (typeof expect !== 'bigint' || expect < 100n || expect > 599n) {
          this.fail(
            [...at, 'expect'],
            `expect must be an HTTP status from 100 to 599 such as 200, not ${describe(expect)}`,
            HEALTH_HINT,
          )
        }
        spec.expect = Number(expect)
      }
      return spec
    }
    if (setting !== true) {
      this.fail(
        [...at, kind],
        `write ${kind} = true to check ${kind === 'tcp' ? 'that the port accepts connections' : `that a ${kind === 'postgres' ? 'PostgreSQL' : 'Redis'} server answers`}, not ${kind} = ${tomlText(setting)}`,
        HEALTH_HINT,
      )
    }
    return { kind }
  }

  private dependencies(service: ManifestService, known: Set<string>): void {
    service.dependsOn.forEach((dependency) => {
      const index = this.dependencyIndex(service.name, dependency)
      if (known.has(dependency)) return
      const names = [...known]
      const guess = closest(dependency, names)
      this.fail(
        ['services', service.name, 'depends_on', index],
        `${service.name} depends on ${JSON.stringify(dependency)}, but this manifest has no such service${guess ? `; did you mean ${JSON.stringify(guess)}?` : ''}`,
        `Services declared here: ${names.join(', ')}.`,
      )
    })
  }

  /** Where a dependency is written (depends_on may list it twice; the first counts). */
  private dependencyIndex(service: string, dependency: string): number {
    for (let index = 0; ; index++) {
      const line = this.locations.exactLineOf(['services', service, 'depends_on', index])
      if (line === undefined) return 0
      if (this.sourceLine(line).includes(dependency)) return index
    }
  }

  /** Two services (or one twice) may not declare overlapping ports of the same protocol. */
  private noSharedPorts(services: readonly ManifestService[]): void {
    const seen: PortAt[] = []
    const autoNames = new Map<string, PortAt>()
    for (const service of services) {
      service.ports.forEach((port, index) => {
        const line = this.locations.lineOf(['services', service.name, 'ports', index])
        const here: PortAt = { service: service.name, index, port, line }
        if (port.kind === 'auto') {
          const key = `${port.protocol}\0${portName(service.name, index)}`
          const other = autoNames.get(key)
          if (other) {
            this.fail(
              ['services', service.name, 'ports', index],
              `"${port.text}" would be allocated as ${portName(service.name, index)}, the registry name of ${other.service}'s "${other.port.text}" (line ${other.line}); the two would share one port`,
              'Rename one of the services.',
            )
          }
          autoNames.set(key, here)
          return
        }
        const spec = port.spec
        for (const other of seen) {
          if (other.port.kind !== 'spec') continue
          const theirs = other.port.spec
          if (theirs.protocol !== spec.protocol || theirs.to < spec.from || theirs.from > spec.to)
            continue
          const same = theirs.from === spec.from && theirs.to === spec.to
          const owner =
            other.service === service.name
              ? `${service.name} already (line ${other.line})`
              : `${other.service} (line ${other.line})`
          this.fail(
            ['services', service.name, 'ports', index],
            same
              ? `${formatPortSpec(spec)} is declared by ${owner}; a port belongs to one service`
              : `${formatPortSpec(spec)} overlaps ${formatPortSpec(theirs)} of ${owner}; a port belongs to one service`,
            'Give each service its own ports, or "auto" to let the registry choose one.',
          )
        }
        seen.push(here)
      })
    }
  }

  private noCycles(services: readonly ManifestService[]): void {
    const byName = new Map(services.map((s) => [s.name, s]))
    const state = new Map<string, 'visiting' | 'done'>()
    const stack: string[] = []
    const visit = (name: string): void => {
      state.set(name, 'visiting')
      stack.push(name)
      const service = byName.get(name) as ManifestService
      for (const dependency of service.dependsOn) {
        if (state.get(dependency) === 'visiting') {
          const cycle = [...stack.slice(stack.indexOf(dependency)), dependency]
          this.fail(
            ['services', name, 'depends_on', this.dependencyIndex(name, dependency)],
            cycle.length === 2
              ? `${name} depends on itself`
              : `dependency cycle: ${cycle.join(' → ')}; services cannot wait for each other`,
            'Remove one of these depends_on entries.',
          )
        }
        if (state.get(dependency) === undefined) visit(dependency)
      }
      stack.pop()
      state.set(name, 'done')
    }
    for (const service of services) if (state.get(service.name) === undefined) visit(service.name)
  }

  private name(kind: 'project' | 'service', value: string, at: TomlPath): string {
    try {
      return validateName(kind, value)
    } catch (error) {
      this.fail(
        at,
        problemOf(error, `invalid ${kind} name`),
        error instanceof PortwardenError ? error.hint : undefined,
      )
    }
  }

  private onlyKeys(
    table: Record<string, unknown>,
    at: TomlPath,
    accepted: readonly string[],
    where: string,
    hint?: string,
  ): void {
    for (const key of Object.keys(table)) {
      if (accepted.includes(key)) continue
      const guess = closest(key, accepted)
      this.fail(
        [...at, key],
        `unknown key ${JSON.stringify(key)} ${where}${guess ? `; did you mean ${JSON.stringify(guess)}?` : ''}`,
        hint ?? `Accepted keys ${where}: ${accepted.join(', ')}.`,
        { prefix: false },
      )
    }
  }

  /** Throws `FILE:LINE: path: problem.` with the line itself (and `hint`) as the hint. */
  private fail(
    at: TomlPath,
    problem: string,
    hint?: string,
    options: { prefix?: boolean } = {},
  ): never {
    const line = this.locations.lineOf(at)
    const prefix =
      at.length > 0 && options.prefix !== false && !problem.startsWith(pathText(at))
        ? `${pathText(at)}: `
        : ''
    const excerpt =
      at.length > 0 ? `  ${line} | ${sanitize(this.sourceLine(line).trimEnd()).slice(0, 160)}` : ''
    const stop = /[.?!]$/.test(problem) ? '' : '.'
    throw new PortwardenError(
      'invalid_request',
      `${sanitize(this.shown)}:${line}: ${sanitize(prefix)}${sanitize(problem)}${stop}`,
      {
        hint: [excerpt, hint && sanitize(hint)].filter(Boolean).join('\n') || undefined,
        details: { file: this.absolute, line, key: pathText(at) },
      },
    )
  }

  private sourceLine(line: number): string {
    return this.lines[line - 1] ?? ''
  }
}

// ---------------------------------------------------------------------------------------------
// Small helpers

function isTable(value: unknown): value is Record<string, unknown> {
  return (
    typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Date)
  )
}

/** `a string ("8080")`, `an integer (8080)`, `a table`... in TOML's words. */
function describe(value: unknown): string {
  if (typeof value === 'string') return `a string (${tomlText(value)})`
  if (typeof value === 'bigint') return `an integer (${value})`
  if (typeof value === 'number') return `a float (${floatText(value)})`
  if (typeof value === 'boolean') return `a boolean (${value})`
  if (value instanceof Date) return 'a date'
  if (Array.isArray(value)) return 'an array'
  return 'a table'
}

function tomlText(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(truncate(value, 41))
  if (typeof value === 'number') return floatText(value)
  if (typeof value === 'bigint' || typeof value === 'boolean') return String(value)
  return describe(value)
}

function floatText(value: number): string {
  if (Number.isNaN(value)) return 'nan'
  if (!Number.isFinite(value)) return value > 0 ? 'inf' : '-inf'
  return Number.isInteger(value) ? value.toFixed(1) : String(value)
}

/** `services.web.ports[1]`, quoting keys that are not bare. */
export function pathText(path: TomlPath): string {
  let text = ''
  for (const part of path) {
    if (typeof part === 'number') text += `[${part}]`
    else
      text += `${text === '' ? '' : '.'}${/^[A-Za-z0-9_-]+$/.test(part) ? part : JSON.stringify(part)}`
  }
  return text
}

/* eslint-disable no-control-regex */
const SPACE_OR_CONTROL = /[\s\u0000-\u001f\u007f]/
/* eslint-enable no-control-regex */

/**
 * Control, zero-width, separator and bidi characters from the file must not reach the terminal
 * raw: the one rule of shared/safe-text.ts, line by line (messages show excerpts of the file).
 */
const sanitize = escapeUnsafeLines

/** The words of a validator's error as a fragment (`details.problem`), to place in a sentence here. */
function problemOf(error: unknown, fallback: string): string {
  const problem = error instanceof PortwardenError ? error.details?.problem : undefined
  return typeof problem === 'string' ? problem : fallback
}

function indent(text: string): string {
  return text
    .split('\n')
    .map((line) => `  ${line}`)
    .join('\n')
}

/** The accepted word closest to a typo (edit distance at most 2), for "did you mean". */
function closest(word: string, candidates: readonly string[]): string | null {
  let best: string | null = null
  let bestDistance = 3
  for (const candidate of candidates) {
    const distance = editDistance(word.toLowerCase(), candidate.toLowerCase())
    if (distance < bestDistance) {
      best = candidate
      bestDistance = distance
    }
  }
  return best
}

function editDistance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 2) return 3
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i)
  for (let i = 1; i <= a.length; i++) {
    const current = [i]
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(
        (previous[j] as number) + 1,
        (current[j - 1] as number) + 1,
        (previous[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1),
      )
    }
    previous = current
  }
  return previous[b.length] as number
}
