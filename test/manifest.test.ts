/**
 * The manifest from the outside: every error class through the CLI (exit 2, `FILE:LINE:` and no
 * stack trace, in text and --json), finding the file upward, --manifest naming a directory or
 * nothing, files that are not text, and I6's CLI half (mutated manifests, a few real runs).
 */
import { spawnSync } from 'node:child_process'
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import fc from 'fast-check'
import { afterAll, describe, expect, it, vi } from 'vitest'
import { findManifest, isPortwardenError, loadManifest } from '../src/core/index.js'
import { mapLimit } from './helpers/cli.js'
import { hasStackTrace, makeProject, removeProjects, runIn } from './helpers/manifest-cli.js'
import { mutatedManifest } from './helpers/manifest-fuzz.js'
import { FIXTURES } from './helpers/processes.js'

vi.setConfig({ testTimeout: 60_000, hookTimeout: 30_000 })

afterAll(removeProjects)

const SHOP = readFileSync(`${FIXTURES}manifests/shop.toml`, 'utf8')

/** One manifest per error class, with the line its error must name. */
const BAD: { name: string; text: string; line: number; says: string }[] = [
  {
    name: 'TOML syntax error',
    text: '[services.web]\nports = [8080\ncommand = "x"\n',
    line: 3,
    says: 'TOML syntax error',
  },
  {
    name: 'unknown key',
    text: '[services.web]\nports = [8080]\nhealthcheck = { tcp = true }\n',
    line: 3,
    says: 'unknown key "healthcheck" in [services.web]',
  },
  {
    name: 'wrong type',
    text: '[services.web]\nports = "8080"\n',
    line: 2,
    says: 'ports must be an array',
  },
  {
    name: 'bad port',
    text: '[services.web]\nports = [8080, "9000/sctp"]\n',
    line: 2,
    says: 'invalid port spec "9000/sctp": protocol "sctp" is not tcp or udp',
  },
  {
    name: 'port out of range',
    text: '[services.web]\nports = [70000]\n',
    line: 2,
    says: 'port 70000 is outside 1-65535',
  },
  {
    name: 'duplicate port',
    text: '[services.web]\nports = [8080]\n\n[services.api]\nports = [8080]\n',
    line: 5,
    says: '8080/tcp is declared by web (line 2)',
  },
  {
    name: 'unknown depends_on',
    text: '[services.web]\nports = [8080]\ndepends_on = ["db"]\n',
    line: 3,
    says: 'web depends on "db", but this manifest has no such service',
  },
  {
    name: 'dependency cycle',
    text: '[services.web]\ndepends_on = ["db"]\n[services.db]\ndepends_on = ["web"]\n',
    line: 4,
    says: 'dependency cycle: web → db → web',
  },
  {
    name: 'bad health',
    text: '[services.web]\nports = [1]\nhealth = { http = "/", expect = "200" }\n',
    line: 3,
    says: 'expect must be an HTTP status',
  },
]

describe('manifest errors through the CLI: exit 2, FILE:LINE: problem, never a stack trace', () => {
  it.each(BAD)('$name', async ({ text, line, says }) => {
    const dir = makeProject(text)
    const [human, json, doctor] = await Promise.all([
      runIn(dir, ['preflight']),
      runIn(dir, ['preflight', '--json']),
      runIn(dir, ['doctor']),
    ])
    expect(human.code, human.stderr).toBe(2)
    expect(human.stdout).toBe('')
    const [first, ...rest] = human.stderr.split('\n')
    expect(first).toMatch(new RegExp(`^portwarden: portwarden\\.toml:${line}: `))
    expect(first).toContain(says)
    // The offending line is quoted under the message (syntax errors show smol-toml's excerpt).
    expect(rest.join('\n')).toContain(text.split('\n')[line - 1]?.trim().slice(0, 12))
    expect(hasStackTrace(human.stderr)).toBe(false)

    expect(json.code).toBe(2)
    const body = JSON.parse(json.stdout) as { error: string; message: string; hint?: string }
    expect(body.error).toBe('invalid_request')
    expect(body.message).toMatch(new RegExp(`^portwarden\\.toml:${line}: `))

    expect(doctor.code, doctor.stderr).toBe(2)
    expect(doctor.stderr).toMatch(new RegExp(`^portwarden: portwarden\\.toml:${line}: `))
  })
})

describe('finding the manifest', () => {
  it('is found upward from a subdirectory, and its errors name it by its full path', async () => {
    const dir = makeProject(SHOP.replace('ports = [5432]', 'ports = [5432, "x"]'))
    const deep = join(dir, 'src', 'deep')
    mkdirSync(deep, { recursive: true })
    expect(findManifest(deep)).toBe(join(dir, 'portwarden.toml'))
    const result = await runIn(deep, ['preflight'])
    expect(result.code).toBe(2)
    const line = SHOP.split('\n').findIndex((l) => l.startsWith('ports = [5432]')) + 1
    expect(result.stderr).toMatch(
      new RegExp(
        `^portwarden: ${join(dir, 'portwarden.toml')}:${line}: services\\.db\\.ports\\[1\\]: `,
      ),
    )

    const library = (() => {
      try {
        loadManifest({ cwd: deep })
      } catch (error) {
        return error
      }
      return null
    })()
    expect(isPortwardenError(library) && library.details).toMatchObject({
      file: join(dir, 'portwarden.toml'),
      line,
    })
  })

  it('a valid manifest found upward is loaded with the directory name as the default project', () => {
    const dir = makeProject('[services.web]\nports = [8080]\n', 'my-shop')
    const deep = join(dir, 'a')
    mkdirSync(deep)
    const manifest = loadManifest({ cwd: deep })
    expect(manifest).toMatchObject({
      path: join(dir, 'portwarden.toml'),
      directory: dir,
      project: 'my-shop',
    })
  })

  it('a directory named portwarden.toml is not a manifest; the search goes on upward', () => {
    const dir = makeProject('[services.web]\nports = [8080]\n')
    const inner = join(dir, 'inner')
    mkdirSync(join(inner, 'portwarden.toml'), { recursive: true })
    expect(findManifest(inner)).toBe(join(dir, 'portwarden.toml'))
  })

  it('no manifest anywhere above: exit 2 naming the directory, with an example to start from', async () => {
    const dir = makeProject()
    expect(findManifest(dir)).toBeNull()
    const result = await runIn(dir, ['preflight'])
    expect(result.code).toBe(2)
    expect(result.stderr).toContain(
      `portwarden: No portwarden.toml in ${dir} or any directory above it.`,
    )
    expect(result.stderr).toContain('[services.web]')
    expect(hasStackTrace(result.stderr)).toBe(false)
  })

  it('--manifest FILE, --manifest DIR (holding portwarden.toml), and a symlink are accepted', async () => {
    const dir = makeProject()
    writeFileSync(join(dir, 'other.toml'), '[services.web]\nports = ["auto"]\n')
    const holder = join(dir, 'conf')
    mkdirSync(holder)
    writeFileSync(join(holder, 'portwarden.toml'), '[services.api]\nports = ["auto"]\n')
    symlinkSync(join(dir, 'other.toml'), join(dir, 'link.toml'))
    const results = await Promise.all(
      [['other.toml'], ['conf'], ['link.toml']].map(([path]) =>
        runIn(dir, ['preflight', '--json', '--manifest', path as string]),
      ),
    )
    for (const result of results) expect(result.code, result.stdout + result.stderr).toBe(0)
    const manifests = results.map((r) => (JSON.parse(r.stdout) as { manifest: string }).manifest)
    expect(manifests).toEqual([
      join(dir, 'other.toml'),
      join(holder, 'portwarden.toml'),
      join(dir, 'link.toml'),
    ])
  })

  it('--manifest naming nothing, an empty directory, a FIFO, a binary or a huge file: exit 2 naming the file', async () => {
    const dir = makeProject()
    mkdirSync(join(dir, 'empty'))
    spawnSync('mkfifo', [join(dir, 'fifo.toml')])
    writeFileSync(
      join(dir, 'latin1.toml'),
      Buffer.concat([
        Buffer.from('[services.web]\nports = [1]\n# caf'),
        Buffer.from([0xe9]),
        Buffer.from('\n'),
      ]),
    )
    writeFileSync(join(dir, 'huge.toml'), `# ${'x'.repeat(1024 * 1024)}\n`)
    const cases: [string, string][] = [
      ['missing.toml', 'portwarden: missing.toml: no such file.'],
      ['nowhere/portwarden.toml', 'portwarden: nowhere/portwarden.toml: no such file.'],
      ['empty', 'portwarden: empty: is a directory without a portwarden.toml file.'],
      ['fifo.toml', 'portwarden: fifo.toml: is not a regular file.'],
      ['latin1.toml', 'portwarden: latin1.toml:3: not valid UTF-8 text'],
      ['huge.toml', 'portwarden: huge.toml: is too large for a manifest'],
    ]
    const results = await mapLimit(cases, 2, ([path]) =>
      runIn(dir, ['preflight', '--manifest', path], { timeoutMs: 10_000 }),
    )
    results.forEach((result, i) => {
      const [, expected] = cases[i] as [string, string]
      expect(result.code, result.stderr).toBe(2)
      expect(result.stderr.startsWith(expected), result.stderr).toBe(true)
      expect(hasStackTrace(result.stderr)).toBe(false)
    })
    const json = await runIn(dir, ['doctor', '--json', '--manifest', 'missing.toml'])
    expect(json.code).toBe(2)
    expect(JSON.parse(json.stdout)).toMatchObject({
      error: 'invalid_request',
      message: 'missing.toml: no such file.',
    })
  })
})

describe('I6: mutated manifests through the CLI', () => {
  it('each is accepted (exit 0/1) or refused with exit 2 and FILE:LINE, never a stack trace', async () => {
    const samples = fc.sample(mutatedManifest, { numRuns: 12, seed: 6 })
    const dir = makeProject()
    samples.forEach((text, i) => writeFileSync(join(dir, `m${i}.toml`), text))
    const results = await mapLimit([...samples.keys()], 2, (i) =>
      runIn(dir, ['preflight', '--manifest', `m${i}.toml`, ...(i % 2 ? ['--json'] : [])], {
        env: { PORTWARDEN_REGISTRY: join(dir, 'registry.db') },
      }),
    )
    let refused = 0
    results.forEach((result, i) => {
      const output = result.stdout + result.stderr
      expect(hasStackTrace(output), output).toBe(false)
      expect([0, 1, 2], output).toContain(result.code)
      if (result.code !== 2) return
      refused++
      const message =
        i % 2
          ? (JSON.parse(result.stdout) as { message: string }).message
          : result.stderr.replace(/^portwarden: /, '')
      expect(message).toMatch(new RegExp(`^m${i}\\.toml:\\d+: \\S`))
    })
    expect(refused).toBeGreaterThan(3)
  })
})
