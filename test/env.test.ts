/**
 * Issue 14 item 2: `portwarden env` in two real git worktrees of one repository: distinct ports
 * per worktree, the same ones on every run, output that the `dotenv` package (an oracle we did
 * not write) reads as the JSON says, and `--write` that keeps the lines it does not own.
 */
import { execFileSync } from 'node:child_process'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { parse } from 'dotenv'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseJson } from './helpers/cli.js'
import { runCliIn } from './helpers/registry.js'
import { removeTempDirs, tempDir } from './helpers/temp-dirs.js'

const MANIFEST = `[services.web]
ports = ["auto", "auto"]

[services.db]
ports = [5432]

[services.cache]
ports = ["21000-21999"]
`

interface EnvJson {
  project: string
  ports: { service: string; name: string; port: number; source: string; variables: string[] }[]
  variables: Record<string, string>
  written: string | null
}

let root: string
let main: string
let feature: string
let registry: string

function git(cwd: string, ...args: string[]): void {
  execFileSync('git', ['-c', 'user.email=t@example.com', '-c', 'user.name=t', ...args], {
    cwd,
    stdio: 'ignore',
  })
}

beforeAll(() => {
  root = tempDir('pw-env-')
  main = join(root, 'shop')
  feature = join(root, 'feature-search')
  mkdirSync(main)
  git(main, 'init', '-q')
  writeFileSync(join(main, 'portwarden.toml'), MANIFEST)
  git(main, 'add', '.')
  git(main, 'commit', '-qm', 'manifest')
  git(main, 'worktree', 'add', '-q', feature)
  registry = join(root, 'registry.db')
})
afterAll(removeTempDirs)

const env = async (cwd: string, ...args: string[]) => {
  const result = await runCliIn(cwd, ['env', '--registry', registry, ...args])
  expect(result.code, result.stderr).toBe(0)
  return result
}

describe('portwarden env', () => {
  it('gives each worktree its own ports, the same on every run, and dotenv reads them as the JSON says', async () => {
    const [mainJson, featureJson] = await Promise.all([
      env(main, '--json').then((r) => parseJson<EnvJson>(r)),
      env(feature, '--json').then((r) => parseJson<EnvJson>(r)),
    ])
    expect(mainJson.project).toBe('shop')
    expect(featureJson.project).toBe('feature-search')
    const ports = (j: EnvJson) => j.ports.filter((p) => p.source === 'registry').map((p) => p.port)
    // auto, auto and the range: three registry ports each, six distinct in all
    expect(new Set([...ports(mainJson), ...ports(featureJson)]).size).toBe(6)
    for (const j of [mainJson, featureJson]) {
      expect(j.variables.DB_PORT).toBe('5432')
      expect(j.variables.WEB_PORT).toBe(j.variables.PORT_WEB)
      expect(j.variables.WEB_2_PORT).toBe(j.variables.PORT_WEB_2)
      expect(Number(j.variables.CACHE_PORT)).toBeGreaterThanOrEqual(21000)
      expect(Number(j.variables.CACHE_PORT)).toBeLessThanOrEqual(21999)
    }

    // the dotenv text says exactly what the JSON says, and again on a second run
    const text = (await env(main)).stdout
    expect(parse(text)).toEqual(mainJson.variables)
    expect((await env(main)).stdout).toBe(text)
    const shell = (await env(feature, '--format', 'shell')).stdout
    expect(shell).toMatch(/^export WEB_PORT=\d+$/m)
    expect(parse(shell.replace(/^export /gm, ''))).toEqual(featureJson.variables)

    // the registry records them for the worktree
    const status = parseJson<{
      allocations: { project: string; service: string; port: number }[]
    }>(await runCliIn(root, ['status', '--registry', registry, '--json']))
    expect(
      status.allocations
        .filter((a) => a.project === 'feature-search')
        .map((a) => [a.service, a.port])
        .sort(),
    ).toEqual(
      featureJson.ports
        .filter((p) => p.source === 'registry')
        .map((p) => [p.name, p.port])
        .sort(),
    )
  })

  it('--write merges into the file atomically: foreign lines stay, its own block is replaced, a clashing line is dropped and said', async () => {
    const file = join(feature, '.env')
    writeFileSync(file, '# compose settings\nCOMPOSE_PROJECT_NAME=search\nWEB_PORT=9999\nTAIL=1\n')
    const first = await env(feature, '--write', '.env')
    expect(first.stdout).toBe('')
    expect(first.stderr).toContain('wrote 8 variables for project feature-search to .env')
    expect(first.stderr).toContain('dropped line 3, "WEB_PORT=9999"')
    const written = readFileSync(file, 'utf8')
    const values = parse(written)
    const expected = parseJson<EnvJson>(await env(feature, '--json')).variables
    expect(values).toEqual({ COMPOSE_PROJECT_NAME: 'search', TAIL: '1', ...expected })
    expect(written.startsWith('# compose settings\nCOMPOSE_PROJECT_NAME=search\nTAIL=1\n')).toBe(
      true,
    )
    // a second write changes nothing; a line added by hand after the block stays
    await env(feature, '--write', '.env')
    expect(readFileSync(file, 'utf8')).toBe(written)
    writeFileSync(file, `${written}LATER=2\n`)
    await env(feature, '--write', '.env')
    expect(parse(readFileSync(file, 'utf8'))).toEqual({ ...values, LATER: '2' })
  })

  it('bad input is exit 2 with a sentence, and writes nothing', async () => {
    const format = await runCliIn(main, ['env', '--registry', registry, '--format', 'yaml'])
    expect(format.code).toBe(2)
    expect(format.stderr).toContain('Invalid --format "yaml": expected dotenv, shell or json.')
    const json = await runCliIn(main, [
      'env',
      '--registry',
      registry,
      '--format',
      'json',
      '--write',
      'x.env',
    ])
    expect(json.code).toBe(2)
    expect(json.stderr).toContain('--write takes --format dotenv or shell')
    const nowhere = await runCliIn(main, [
      'env',
      '--registry',
      registry,
      '--write',
      join(root, 'missing-dir', '.env'),
    ])
    expect(nowhere.code).toBe(2)
    expect(nowhere.stderr).toContain('its directory does not exist')
    const directory = await runCliIn(main, ['env', '--registry', registry, '--write', root])
    expect(directory.code).toBe(2)
    expect(directory.stderr).toContain(`Cannot merge into ${root}: it is a directory.`)
    expect(directory.stderr).not.toMatch(/\bat .*:\d+:\d+/)
  })
})
