/**
 * I1 on the CLI: bad port specs and bad flags exit 2 with a sentence that names the bad token
 * and the accepted forms, never a stack trace; with --json the error document goes to stdout.
 * Valid edge specs parse to exactly what they say.
 */
import { describe, expect, it, vi } from 'vitest'
import { MAX_CHECKED_PORTS } from '../src/core/index.js'
import type { CliResult } from './helpers/cli.js'
import { mapLimit, parseJson, runCli, stackTraceLines } from './helpers/cli.js'

// Real processes and sockets: generous bounds for a loaded 2-core machine (the usual run is seconds).
vi.setConfig({ testTimeout: 120_000, hookTimeout: 60_000 })

const BAD_SPECS: { spec: string; why: RegExp }[] = [
  { spec: '0', why: /outside 1-65535/ },
  { spec: '65536', why: /outside 1-65535/ },
  { spec: '-1', why: /negative/ },
  { spec: 'abc', why: /not a decimal port number/ },
  { spec: '80-70', why: /inverted/ },
  { spec: '8000-7999', why: /inverted/ },
  { spec: '8080/sctp', why: /"sctp" is not tcp or udp/ },
  { spec: '0x1F90', why: /not a decimal port number/ },
  { spec: '8e3', why: /not a decimal port number/ },
  { spec: '1e309', why: /not a decimal port number/ },
  { spec: '0b1111', why: /not a decimal port number/ },
  { spec: '+8080', why: /not a decimal port number/ },
  { spec: ' 8080 ', why: /spaces/ },
  { spec: '8080.0', why: /not a decimal port number/ },
  { spec: '8080abc', why: /not a decimal port number/ },
  { spec: '', why: /empty/ },
  { spec: '٨٠٨٠', why: /not a decimal port number/ }, // Arabic-Indic digits: \d in some engines
  { spec: '08080', why: /leading zero/ },
]

/** The accepted forms, as a user needs them: single port, protocol, range. */
function expectNamesAcceptedForms(text: string): void {
  expect(text).toMatch(/8080\/tcp/)
  expect(text).toMatch(/51820\/udp/)
  expect(text).toMatch(/8000-8010/)
  expect(text).toMatch(/1-65535/)
}

function expectNoStackTrace(result: CliResult): void {
  expect(stackTraceLines(result.stdout), result.stdout).toEqual([])
  expect(stackTraceLines(result.stderr), result.stderr).toEqual([])
  expect(result.stderr).not.toMatch(/\b(TypeError|RangeError|SyntaxError|ReferenceError)\b/)
}

interface ErrorJson {
  error: string
  message: string
  hint?: string
}

describe('I1: bad port specs', () => {
  const commands = [
    { name: 'check', argv: (spec: string) => ['check', spec] },
    { name: 'who', argv: (spec: string) => ['who', spec] },
    { name: 'list --port', argv: (spec: string) => ['list', `--port=${spec}`] },
  ]

  it('exit 2 with "Invalid port spec <token>: <why>" and the accepted forms on stderr; nothing on stdout', async () => {
    const cases = BAD_SPECS.flatMap((bad) => commands.map((command) => ({ bad, command })))
    const results = await mapLimit(cases, 4, ({ bad, command }) => runCli(command.argv(bad.spec)))
    cases.forEach(({ bad, command }, i) => {
      const result = results[i]!
      const label = `${command.name} ${JSON.stringify(bad.spec)} -> exit ${result.code}\nstdout: ${result.stdout}\nstderr: ${result.stderr}`
      expect(result.code, label).toBe(2)
      expect(result.stdout, label).toBe('')
      expect(result.stderr, label).toContain(`Invalid port spec ${JSON.stringify(bad.spec)}`)
      expect(result.stderr, label).toMatch(bad.why)
      expectNamesAcceptedForms(result.stderr)
      expectNoStackTrace(result)
    })
  })

  it('with --json: {"error": "invalid_request", "message": ...} on stdout, exit 2', async () => {
    // every spec through check; who and list for a third of them each (the same parser)
    const cases = BAD_SPECS.flatMap((bad, i) =>
      commands.filter((_, j) => j === 0 || i % 3 === j).map((command) => ({ bad, command })),
    )
    const results = await mapLimit(cases, 4, ({ bad, command }) =>
      runCli([...command.argv(bad.spec), '--json']),
    )
    cases.forEach(({ bad, command }, i) => {
      const result = results[i]!
      const label = `${command.name} ${JSON.stringify(bad.spec)} --json -> exit ${result.code}\n${result.stdout}${result.stderr}`
      expect(result.code, label).toBe(2)
      const body = parseJson<ErrorJson>(result)
      expect(body.error, label).toBe('invalid_request')
      expect(body.message, label).toContain(`Invalid port spec ${JSON.stringify(bad.spec)}`)
      expect(body.message, label).toMatch(bad.why)
      expectNamesAcceptedForms(`${body.message} ${body.hint ?? ''}`)
      expectNoStackTrace(result)
    })
  })

  it('`-1` as a separate argument is still read as a (negative) port, not as an unknown flag', async () => {
    const result = await runCli(['who', '-1'])
    expect(result.code).toBe(2)
    expect(result.stderr).toMatch(/negative/)
    expectNamesAcceptedForms(result.stderr)
  })

  it('one bad spec among good ones fails the whole call (nothing silently dropped)', async () => {
    const result = await runCli(['check', '8080', '8e3', '9090'])
    expect(result.code).toBe(2)
    expect(result.stdout).toBe('')
    expect(result.stderr).toContain('"8e3"')
  })
})

describe('I1: bad flags and option values', () => {
  const CASES: { argv: string[]; says: RegExp; accepted: RegExp }[] = [
    { argv: ['check', '8080', '--bogus'], says: /Unknown option '--bogus'/, accepted: /--help/ },
    { argv: ['list', '--frobnicate'], says: /Unknown option '--frobnicate'/, accepted: /--help/ },
    { argv: ['who', '8080', '-z'], says: /Unknown option '-z'/, accepted: /--help/ },
    {
      argv: ['list', '--pid', 'abc'],
      says: /Invalid --pid "abc"/,
      accepted: /positive decimal integer/,
    },
    {
      argv: ['list', '--pid', '0'],
      says: /Invalid --pid "0"/,
      accepted: /positive decimal integer/,
    },
    {
      argv: ['list', '--pid', '12abc'],
      says: /Invalid --pid "12abc"/,
      accepted: /positive decimal integer/,
    },
    {
      argv: ['check', '8080', '--host', 'nonsense'],
      says: /Invalid --host "nonsense"/,
      accepted: /IPv4 or IPv6 address/,
    },
    {
      argv: ['check', '8080', '--host', '256.1.1.1'],
      says: /Invalid --host "256\.1\.1\.1"/,
      accepted: /IPv4 or IPv6 address/,
    },
    {
      argv: ['list', '--backend', 'foo'],
      says: /Invalid --backend "foo"/,
      accepted: /auto.*proc.*lsof/,
    },
    {
      argv: ['who', '8080', '--backend', 'foo'],
      says: /Invalid --backend "foo"/,
      accepted: /auto.*proc.*lsof/,
    },
    {
      argv: ['check', '8080', '--backend', 'foo'],
      says: /Invalid --backend "foo"/,
      accepted: /auto.*proc.*lsof/,
    },
    { argv: ['bogus-command'], says: /Unknown command 'bogus-command'/, accepted: /--help/ },
    { argv: ['check'], says: /spec|port/i, accepted: /--help|8080/ },
  ]

  it.each(CASES)(
    '$argv exits 2 with a sentence saying what is wrong and what is accepted',
    async ({ argv, says, accepted }) => {
      const human = await runCli(argv)
      expect(human.code, human.stderr).toBe(2)
      expect(human.stdout).toBe('')
      expect(human.stderr).toMatch(says)
      expect(human.stderr).toMatch(accepted)
      expectNoStackTrace(human)

      const json = await runCli([...argv, '--json'])
      expect(json.code, json.stdout + json.stderr).toBe(2)
      const body = parseJson<ErrorJson>(json)
      expect(body.error).toBe('invalid_request')
      expect(body.message).toMatch(says)
      expectNoStackTrace(json)
    },
  )

  it('no command at all: usage on stderr, exit 2', async () => {
    const result = await runCli([])
    expect(result.code).toBe(2)
    expect(result.stderr).toMatch(/Usage: portwarden/)
    expectNoStackTrace(result)
  })

  it('a typo gets its suggestion on the same line, in text and in --json', async () => {
    const [human, json] = await Promise.all([runCli(['lisst']), runCli(['lisst', '--json'])])
    expect(human.stderr.split('\n')[0]).toBe(
      "portwarden: Unknown command 'lisst' (Did you mean list?).",
    )
    expect(parseJson<ErrorJson>(json).message).toBe("Unknown command 'lisst' (Did you mean list?).")
    const option = await runCli(['list', '--prot', '1'])
    expect(option.stderr.split('\n')[0]).toBe(
      "portwarden: Unknown option '--prot' (Did you mean --port?).",
    )
  })

  it("`help free` prints free's help alone, exit 0; `help` the program's; `help fre` a suggestion", async () => {
    const [one, all, typo] = await Promise.all([
      runCli(['help', 'free']),
      runCli(['help']),
      runCli(['help', 'fre']),
    ])
    expect(one.code).toBe(0)
    expect(one.stdout).toMatch(/^Usage: portwarden free /)
    expect(one.stdout).not.toMatch(/Commands:/)
    expect(one.stdout.match(/Usage:/g)).toHaveLength(1)
    expect(one.stderr).toBe('')
    expect(all.code).toBe(0)
    expect(all.stdout).toMatch(/Commands:/)
    expect(typo.code).toBe(2)
    expect(typo.stderr).toMatch(/Unknown command 'fre' \(Did you mean free\?\)/)
  })

  it('--registry help names the XDG_STATE_HOME default', async () => {
    expect((await runCli(['alloc', '--help'])).stdout.replace(/\s+/g, ' ')).toMatch(
      /PORTWARDEN_REGISTRY, else \$XDG_STATE_HOME\/portwarden\/registry\.db, else ~\/\.local\/state\/portwarden\/registry\.db/,
    )
  })

  it('--help and --version exit 0', async () => {
    const [help, version] = await Promise.all([runCli(['check', '--help']), runCli(['--version'])])
    expect(help.code).toBe(0)
    expect(help.stdout + help.stderr).toMatch(/--host/)
    expect(version.code).toBe(0)
    expect(version.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/)
  })
})

describe('I1: valid edge specs parse to exactly what they say', () => {
  it('`who 1-65535` is accepted (every port; only held ones are listed)', async () => {
    const result = await runCli(['who', '1-65535', '--json'], { timeoutMs: 60_000 })
    expect([0, 1], result.stderr).toContain(result.code)
    const body = parseJson<{ ports: { port: number; protocol: string; in_use: boolean }[] }>(result)
    expect(
      body.ports.every((p) => p.protocol === 'tcp' && p.port >= 1 && p.port <= 65535 && p.in_use),
    ).toBe(true)
  })

  it(`\`check\` caps a range at MAX_CHECKED_PORTS (${MAX_CHECKED_PORTS}): 1-65535 is a usage error naming the cap`, async () => {
    const result = await runCli(['check', '1-65535'])
    expect(result.code).toBe(2)
    expect(result.stderr).toContain(String(MAX_CHECKED_PORTS))
    expect(result.stderr).toMatch(/65535/)
    const justOver = await runCli(['check', `40000-${40000 + MAX_CHECKED_PORTS}`, '--json'])
    expect(justOver.code).toBe(2)
    expect(parseJson<ErrorJson>(justOver).error).toBe('invalid_request')
  })

  it('`65535-65535`, `8080/TCP`, `8080/udp` and a small range check exactly those ports', async () => {
    const result = await runCli([
      'check',
      '65535-65535',
      '8080/TCP',
      '8080/udp',
      '65530-65532/udp',
      '--json',
    ])
    expect([0, 1], result.stderr).toContain(result.code)
    const body = parseJson<{ ports: { port: number; protocol: string }[] }>(result)
    expect(body.ports.map((p) => `${p.port}/${p.protocol}`)).toEqual([
      '65535/tcp',
      '8080/tcp',
      '8080/udp',
      '65530/udp',
      '65531/udp',
      '65532/udp',
    ])
    const human = await runCli(['check', '8080/TCP'])
    expect(human.stdout).toMatch(/^\[(PASS|FAIL)\] 8080\/tcp: /)
  })

  it('comma-separated and repeated --port values are all honoured by list', async () => {
    const result = await runCli(['list', '--json', '--port', '65533,65534/udp', '--port', '65535'])
    expect(result.code, result.stderr).toBe(0)
    expect(Array.isArray(parseJson(result))).toBe(true)
  })
})
