/**
 * Output hygiene (I5, CLI part): no colour codes without a terminal or with NO_COLOR, and a
 * holder whose process name and command line carry control, C1 and bidi characters is shown
 * escaped, never raw: another user's process must not be able to drive our user's terminal.
 */
import stringWidth from 'string-width'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import {
  CLI,
  cliEnv,
  mapLimit,
  parseJson,
  runCli,
  runCliOnTty,
  runCommand,
  stackTraceLines,
} from './helpers/cli.js'
import type { Fixture } from './helpers/processes.js'
import { commandExists, startSockets, stopStarted } from './helpers/processes.js'
import type { WireSocket } from './helpers/sockets.js'

// Real processes and sockets: generous bounds for a loaded 2-core machine (the usual run is seconds).
vi.setConfig({ testTimeout: 120_000, hookTimeout: 60_000 })

const ESC = '\u001b'
const EVIL_NAME = `${ESC}[31mevil` // 9 bytes: fits comm's 15
const EVIL_LABEL = `${ESC}[2J${ESC}]0;pwned\u0007 \u009b31m \u202eevil\u202c`
/** Raw bytes that must never reach a terminal: ESC, BEL, C1 CSI, bidi overrides. */
const RAW_CONTROL =
  // eslint-disable-next-line no-control-regex
  /[\u0000-\u0008\u000b-\u000c\u000e-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/

const noScript = commandExists('script')
  ? null
  : 'util-linux script (for a pseudo-terminal) is not installed'
if (noScript) console.warn(`[linux/display] SKIPPING the terminal tests: ${noScript}`)

describe('a holder named with control characters', () => {
  let fixture: Fixture
  let tcp: number
  let udp: number

  beforeAll(async () => {
    fixture = await startSockets(['tcp@127.0.0.1', 'udp@::1'], {
      name: EVIL_NAME,
      label: EVIL_LABEL,
    })
    tcp = fixture.sockets[0]!.port
    udp = fixture.sockets[1]!.port
  })
  afterAll(stopStarted)

  it('the fixture really carries the raw characters (sanity)', () => {
    expect(fixture.comm).toBe(EVIL_NAME)
    expect(fixture.argv.join(' ')).toContain(EVIL_LABEL)
  })

  it('who, check and list (non-TTY) show the name and command line escaped, with no raw control bytes', async () => {
    const runs = [
      ['who', String(tcp)],
      ['who', `${udp}/udp`],
      ['check', String(tcp)],
      ['check', `${udp}/udp`, '--host', '::1'],
      ['list', '--port', String(tcp), '--port', `${udp}/udp`],
      ['list', '--all', '--port', String(tcp)],
    ]
    const results = await mapLimit(runs, 3, (argv) => runCli(argv))
    runs.forEach((argv, i) => {
      const result = results[i]!
      const label = `${argv.join(' ')}:\n${JSON.stringify(result.stdout)}`
      expect(result.stdout, label).not.toMatch(RAW_CONTROL)
      expect(result.stderr, label).not.toMatch(RAW_CONTROL)
      expect(result.stdout, label).toContain('\\x1b[31mevil') // visible, escaped
    })
    const who = results[0]!.stdout
    expect(who).toContain('\\x1b[2J') // the command line too
    expect(who).toContain('\\x9b31m')
    expect(who).toContain('\\u202eevil\\u202c')
    expect(who).toContain('\\x07')
  })

  it('--json keeps the exact name (JSON-escaped on the wire, so still no raw ESC on stdout)', async () => {
    const result = await runCli(['list', '--json', '--port', String(tcp)])
    expect(result.stdout).not.toMatch(RAW_CONTROL)
    const sockets = parseJson<WireSocket[]>(result)
    const holder = sockets.find((s) => s.inode === fixture.sockets[0]!.inode)!.processes[0]!
    expect(holder.name).toBe(EVIL_NAME)
    expect(holder.command).toContain(EVIL_LABEL)
  })

  it.skipIf(noScript !== null)(
    `on a terminal, colour is allowed but the name stays escaped${noScript ? ` [SKIPPED: ${noScript}]` : ''}`,
    async () => {
      const result = await runCliOnTty(['check', String(tcp)])
      expect(result.code).toBe(1)
      expect(result.stdout).toContain(ESC) // positive control: the [FAIL] tag is coloured on a TTY
      expect(result.stdout).not.toContain(EVIL_NAME)
      expect(result.stdout).toContain('\\x1b[31mevil')
      const who = await runCliOnTty(['who', String(tcp)])
      expect(who.stdout).not.toContain(EVIL_NAME)
      // colour codes are ours; nothing else from the process may get through raw
      const withoutOurColours = who.stdout.replaceAll(`${ESC}[1m`, '').replaceAll(`${ESC}[22m`, '')
      expect(withoutOurColours).not.toMatch(RAW_CONTROL)
    },
  )
})

describe('colour only for a terminal, and never with NO_COLOR', () => {
  afterAll(stopStarted)

  it('non-TTY output has no ESC bytes in any command, pass or fail', async () => {
    const fixture = await startSockets(['tcp@127.0.0.1'])
    const port = fixture.sockets[0]!.port
    const runs = [
      ['check', String(port)],
      ['check', '65535/udp', '--host', '127.0.0.1'],
      ['who', String(port)],
      ['list'],
      ['check', 'abc'],
      ['list', '--bogus'],
    ]
    const results = await mapLimit(runs, 3, (argv) => runCli(argv))
    for (const result of results) {
      expect(result.stdout).not.toContain(ESC)
      expect(result.stderr).not.toContain(ESC)
    }
  })

  it.skipIf(noScript !== null)(
    `on a terminal: NO_COLOR=1 and TERM=dumb turn colour off${noScript ? ` [SKIPPED: ${noScript}]` : ''}`,
    async () => {
      const fixture = await startSockets(['tcp@127.0.0.1'])
      const port = String(fixture.sockets[0]!.port)
      const coloured = await runCliOnTty(['check', port])
      expect(coloured.stdout).toContain(ESC) // positive control
      for (const env of [{ NO_COLOR: '1' }, { TERM: 'dumb' }]) {
        for (const argv of [
          ['check', port],
          ['who', port],
          ['check', 'abc'],
          ['check', '65535/udp', '--host', '127.0.0.1'],
        ]) {
          const result = await runCliOnTty(argv, { env })
          expect(
            result.stdout,
            `${JSON.stringify(env)} ${argv.join(' ')}: ${JSON.stringify(result.stdout)}`,
          ).not.toContain(ESC)
        }
      }
    },
  )
})

describe('a reader that stops early', () => {
  afterAll(stopStarted)

  it('`list --all --json | head -c 10` ends quietly: no EPIPE stack trace', async () => {
    // enough sockets that the JSON is far bigger than a pipe buffer (64 KiB)
    await startSockets(['udp@127.0.0.1*600'])
    const result = await runCommand('sh', [
      '-c',
      `'${process.execPath}' '${CLI}' list --all --json | head -c 10 >/dev/null`,
    ])
    expect(result.stderr).not.toMatch(/EPIPE/)
    expect(stackTraceLines(result.stderr)).toEqual([])
  })
})

describe('wide characters: CJK and emoji process names line up and are cut whole', () => {
  const WIDE_NAME = 'サーバー' // 12 bytes: fits comm's 15; 8 terminal columns in 4 characters
  const EMOJI_LABEL = '🚀'.repeat(40) // surrogate pairs, 2 columns each
  const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/
  let port: number
  let lines: string[]

  beforeAll(async () => {
    const fixture = await startSockets(['tcp@127.0.0.1'], { name: WIDE_NAME, label: EMOJI_LABEL })
    port = fixture.sockets[0]!.port
    const list = await runCli(['list', '--port', String(port)])
    expect(list.code).toBe(0)
    lines = list.stdout.trimEnd().split('\n')
  })
  afterAll(stopStarted)

  it('columns start at the same terminal column in the header and the row (string-width as the oracle)', () => {
    expect(lines).toHaveLength(2)
    const [header, row] = lines as [string, string]
    expect(row).toContain(WIDE_NAME)
    const columnAt = (line: string, text: string) => stringWidth(line.slice(0, line.indexOf(text)))
    const user = row
      .slice(row.indexOf(']') + 1)
      .trim()
      .split(/\s+/)[0]!
    expect(columnAt(row, ` ${user} `) + 1).toBe(columnAt(header, 'USER'))
    const command = row.slice(row.indexOf(` ${user} `) + user.length + 2).trimStart()
    expect(columnAt(row, command)).toBe(columnAt(header, 'COMMAND'))
  })

  it.skipIf(noScript !== null)(
    `on a narrow terminal every line fits its width and no emoji is cut in half${noScript ? ` [SKIPPED: ${noScript}]` : ''}`,
    async () => {
      // A width that ends inside the emoji of the command column: a cut by UTF-16 code units
      // would land in the middle of a surrogate pair there.
      const row = lines[1]!
      const columns = stringWidth(row.slice(0, row.indexOf('🚀'))) + 10
      const quoted = [process.execPath, CLI, 'list', '--port', String(port)]
        .map((arg) => `'${arg}'`)
        .join(' ')
      const result = await runCommand(
        'script',
        ['-qefc', `stty cols ${columns}; ${quoted}`, '/dev/null'],
        {
          env: cliEnv({ TERM: 'xterm-256color', NO_COLOR: '1' }),
        },
      )
      const shown = result.stdout.replaceAll('\r', '').trimEnd().split('\n')
      expect(shown).toHaveLength(2)
      expect(shown[1]).toContain('🚀')
      expect(shown[1]).toContain('…')
      for (const line of shown) {
        expect(stringWidth(line)).toBeLessThanOrEqual(columns)
        expect(line).not.toMatch(LONE_SURROGATE)
        expect(line).not.toContain('\ufffd')
      }
    },
  )
})
