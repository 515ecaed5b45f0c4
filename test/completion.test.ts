/**
 * Shell completion scripts, run by the shells themselves: bash's own completion function
 * (compgen inside it) on set COMP_WORDS, fish's `complete -C` on a command line, and zsh's parser
 * on its script. The listening ports offered are this test's real sockets.
 */
import { chmodSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { CLI, runCli, runCommand } from './helpers/cli.js'
import type { Fixture } from './helpers/processes.js'
import { commandExists, startSockets, stopStarted } from './helpers/processes.js'
import { removeTempDirs, tempDir } from './helpers/temp-dirs.js'

vi.setConfig({ testTimeout: 60_000, hookTimeout: 60_000 })

let fixture: Fixture
let tcp: number
let udp: number
/** A `portwarden` on a PATH of its own: the scripts call the command by that name. */
let bin: string

beforeAll(async () => {
  fixture = await startSockets(['tcp@127.0.0.1', 'udp@127.0.0.1'])
  tcp = fixture.sockets[0]!.port
  udp = fixture.sockets[1]!.port
  bin = tempDir('pw-completion-')
  const wrapper = join(bin, 'portwarden')
  writeFileSync(wrapper, `#!/bin/sh\nexec '${process.execPath}' '${CLI}' "$@"\n`)
  chmodSync(wrapper, 0o755)
})
afterAll(async () => {
  await stopStarted()
  removeTempDirs()
})

async function script(shell: string): Promise<string> {
  const result = await runCli(['completion', shell])
  expect(result.code).toBe(0)
  const path = join(bin, `completion.${shell}`)
  writeFileSync(path, result.stdout)
  return path
}

const env = () => ({ ...process.env, PATH: `${bin}:${process.env.PATH}` })

describe('bash', () => {
  /** What Tab offers after `words` (the last one is the word being completed). */
  async function complete(words: string[]): Promise<string[]> {
    const path = await script('bash')
    const array = words.map((w) => `'${w}'`).join(' ')
    const result = await runCommand(
      'bash',
      [
        '-c',
        `source '${path}'; COMP_WORDS=(portwarden ${array}); COMP_CWORD=${words.length}; _portwarden; printf '%s\\n' "\${COMPREPLY[@]}"`,
      ],
      { env: env() },
    )
    expect(result.stderr).toBe('')
    return result.stdout.split('\n').filter(Boolean)
  }

  it('completes command names', async () => {
    expect(await complete(['ch'])).toEqual(['check'])
    expect(await complete(['f'])).toEqual(['find', 'free'])
  })

  it("completes a command's flags, from the program's own definitions", async () => {
    expect(await complete(['free', '--d'])).toEqual(['--dry-run'])
    expect(await complete(['list', '--u'])).toEqual(['--udp'])
    expect(await complete(['who', '--'])).toEqual([
      '--all-namespaces',
      '--json',
      '--backend',
      '--registry',
    ])
  })

  it('offers the ports listening now to who, check and free, and none to list', async () => {
    for (const command of ['who', 'check', 'free']) {
      const offered = await complete([command, ''])
      expect(offered).toContain(String(tcp))
      expect(offered).toContain(`${udp}/udp`)
    }
    expect(await complete(['who', String(tcp).slice(0, -1)])).toContain(String(tcp))
    expect(await complete(['list', ''])).toEqual([])
  })
})

describe('the ports list behind it', () => {
  it('`completion --ports` lists TCP ports bare and UDP ports with /udp, each once, in order', async () => {
    const result = await runCli(['completion', '--ports'])
    const lines = result.stdout.trim().split('\n')
    expect(lines).toContain(String(tcp))
    expect(lines).toContain(`${udp}/udp`)
    expect(new Set(lines).size).toBe(lines.length)
    const numbers = lines.map((l) => Number.parseInt(l))
    expect(numbers).toEqual([...numbers].sort((a, b) => a - b))
  })

  it('an unknown shell: exit 2 with the shells it knows', async () => {
    const result = await runCli(['completion', 'tcsh'])
    expect(result.code).toBe(2)
    expect(result.stderr).toContain(
      'Unknown shell "tcsh": completion scripts are for bash, zsh, fish.',
    )
  })
})

const noFish = commandExists('fish') ? null : 'fish is not installed (.ci/run installs it)'
const noZsh = commandExists('zsh') ? null : 'zsh is not installed (.ci/run installs it)'
if (noFish) console.warn(`[completion] SKIPPING the fish tests: ${noFish}`)
if (noZsh) console.warn(`[completion] SKIPPING the zsh tests: ${noZsh}`)

describe('fish', () => {
  it.skipIf(noFish !== null)(
    `complete -C offers commands, flags and listening ports${noFish ? ` [SKIPPED: ${noFish}]` : ''}`,
    async () => {
      const path = await script('fish')
      const complete = async (line: string) => {
        const result = await runCommand(
          'fish',
          ['--no-config', '-c', `source '${path}'; complete -C '${line}'`],
          { env: env() },
        )
        expect(result.stderr).toBe('')
        return result.stdout.split('\n').map((l) => l.split('\t')[0])
      }
      expect(await complete('portwarden ch')).toEqual(['check', ''])
      expect(await complete('portwarden free --dry')).toContain('--dry-run')
      const ports = await complete('portwarden who ')
      expect(ports).toContain(String(tcp))
      expect(ports).toContain(`${udp}/udp`)
    },
  )
})

describe('zsh', () => {
  it.skipIf(noZsh !== null)(
    `the script parses, and defines and registers _portwarden under compinit${noZsh ? ` [SKIPPED: ${noZsh}]` : ''}`,
    async () => {
      const path = await script('zsh')
      const syntax = await runCommand('zsh', ['-n', path])
      expect(syntax.code, syntax.stderr).toBe(0)
      const home = tempDir('pw-zsh-home-')
      const loaded = await runCommand(
        'zsh',
        [
          '-f',
          '-c',
          `autoload -Uz compinit && compinit -u -d '${home}/.zcompdump' && source '${path}' && whence -w _portwarden && print -r -- $_comps[portwarden]`,
        ],
        { env: env() },
      )
      expect(loaded.stderr).toBe('')
      expect(loaded.stdout).toBe('_portwarden: function\n_portwarden\n')
    },
  )
})
