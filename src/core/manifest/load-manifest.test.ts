import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { isPortwardenError } from '../errors.js'
import { parseManifest, pathText } from './load-manifest.js'
import { portName } from './resolve-ports.js'
import { locateToml } from './toml-locations.js'

// eslint-disable-next-line no-control-regex
const RAW_CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/

const FIXTURES = fileURLToPath(new URL('../../../test/fixtures/manifests/', import.meta.url))
const fixture = (name: string) => readFileSync(`${FIXTURES}${name}`, 'utf8')

function parse(text: string) {
  return parseManifest(text, '/srv/shop/portwarden.toml', { cwd: '/srv/shop' })
}

/** The error a manifest text raises, or a failure when it raises none. */
function errorOf(text: string) {
  try {
    parse(text)
  } catch (error) {
    if (!isPortwardenError(error)) throw error
    return error
  }
  throw new Error(`accepted:\n${text}`)
}

describe('parseManifest: valid manifests', () => {
  it("reads the SPEC's example", () => {
    const manifest = parse(fixture('shop.toml'))
    expect(manifest).toEqual({
      path: '/srv/shop/portwarden.toml',
      directory: '/srv/shop',
      project: 'shop',
      services: [
        {
          name: 'web',
          ports: [
            { kind: 'spec', spec: { from: 8080, to: 8080, protocol: 'tcp' }, text: '8080' },
            { kind: 'spec', spec: { from: 9000, to: 9000, protocol: 'udp' }, text: '9000/udp' },
          ],
          command: 'python3 -m http.server $PORT',
          health: { kind: 'http', path: '/healthz', expect: 200 },
          dependsOn: ['db'],
        },
        {
          name: 'db',
          ports: [{ kind: 'spec', spec: { from: 5432, to: 5432, protocol: 'tcp' }, text: '5432' }],
          command: null,
          health: { kind: 'postgres' },
          dependsOn: [],
        },
      ],
    })
  })

  it('defaults the project to the directory name', () => {
    expect(parse(fixture('minimal.toml')).project).toBe('shop')
  })

  it('accepts inline tables, dotted keys, quoted names, ranges, UDP and auto', () => {
    const manifest = parse(fixture('forms.toml'))
    expect(manifest.project).toBe('review-GH-42')
    expect(manifest.services.map((s) => s.name)).toEqual(['api', 'worker', 'cache', 'media relay'])
    const [api, worker, cache, media] = manifest.services
    expect(api?.ports).toEqual([
      { kind: 'auto', protocol: 'tcp', text: 'auto' },
      { kind: 'auto', protocol: 'udp', text: 'auto/udp' },
    ])
    expect(worker).toMatchObject({
      ports: [],
      command: 'node worker.js',
      dependsOn: ['api', 'cache'],
    })
    expect(cache?.health).toEqual({ kind: 'redis' })
    expect(media?.ports.map((p) => (p.kind === 'spec' ? p.spec : p))).toEqual([
      { from: 8000, to: 8010, protocol: 'tcp' },
      { from: 40000, to: 40099, protocol: 'udp' },
    ])
  })

  it('allows the same port number on TCP and UDP, and a BOM', () => {
    const manifest = parse('\ufeff[services.dns]\nports = [53, "53/udp"]\n')
    expect(manifest.services[0]?.ports).toHaveLength(2)
  })

  it('names the registry entries of a service: web, web-2, web-3', () => {
    expect([0, 1, 2].map((i) => portName('web', i))).toEqual(['web', 'web-2', 'web-3'])
  })
})

/** Every class of mistake: the line it names and words the message must contain. */
const ERRORS: { name: string; text: string; line: number; says: RegExp }[] = [
  {
    name: 'TOML syntax error (unclosed header)',
    text: 'project = "shop"\n\n[services.web\nports = [8080]\n',
    line: 3,
    says: /TOML syntax error: .+ \(column \d+\)/,
  },
  {
    name: 'TOML syntax error (unterminated string)',
    text: '[services.web]\ncommand = "node\n',
    line: 2,
    says: /TOML syntax error/,
  },
  {
    name: 'TOML duplicate key',
    text: '[services.web]\nports = [1]\nports = [2]\n',
    line: 3,
    says: /TOML syntax error/,
  },
  {
    name: 'unknown top-level key',
    text: 'projcet = "x"\n[services.web]\n',
    line: 1,
    says: /unknown key "projcet" at the top of the manifest; did you mean "project"\?/,
  },
  {
    name: 'unknown service key',
    text: '[services.web]\nports = [8080]\nport = 8081\n',
    line: 3,
    says: /unknown key "port" in \[services\.web\]; did you mean "ports"\?/,
  },
  {
    name: 'unknown health key',
    text: '[services.web]\nports = [1]\nhealth = { http = "/", status = 200 }\n',
    line: 3,
    says: /unknown key "status" in health/,
  },
  {
    name: 'ports not an array',
    text: '[services.web]\nports = 8080\n',
    line: 2,
    says: /ports must be an array .* not an integer \(8080\) \(write ports = \[8080\]\)/,
  },
  {
    name: 'port as a float',
    text: '[services.web]\nports = [\n  8080,\n  8081.0,\n]\n',
    line: 4,
    says: /services\.web\.ports\[1\]: ports are whole numbers .* not a float \(8081\.0\)/,
  },
  {
    name: 'port as a boolean',
    text: '[services.web]\nports = [true]\n',
    line: 2,
    says: /not a boolean \(true\)/,
  },
  {
    name: 'command not a string',
    text: '[services.web]\ncommand = ["node", "x"]\n',
    line: 2,
    says: /command must be a string .* not an array/,
  },
  {
    name: 'empty command',
    text: '[services.web]\ncommand = "  "\n',
    line: 2,
    says: /command is empty/,
  },
  {
    name: 'project not a string',
    text: 'project = 42\n[services.web]\n',
    line: 1,
    says: /project must be a string .* not an integer \(42\)/,
  },
  {
    name: 'bad project name',
    text: 'project = ""\n[services.web]\n',
    line: 1,
    says: /invalid project name "": it is empty/,
  },
  {
    name: 'bad service name',
    text: '[services."\u202eweb"]\nports = [1]\n',
    line: 1,
    says: /invalid service name .*control, bidi/,
  },
  {
    name: 'service not a table',
    text: '[services]\nweb = 8080\n',
    line: 2,
    says: /services\.web must be a table/,
  },
  {
    name: 'services as an array of tables',
    text: '[[services]]\nname = "web"\n',
    line: 1,
    says: /services must be a table of services/,
  },
  { name: 'no services', text: 'project = "shop"\n', line: 1, says: /no services/ },
  {
    name: 'port 0',
    text: '[services.web]\nports = [0]\n',
    line: 2,
    says: /port 0 is outside 1-65535/,
  },
  {
    name: 'port 65536',
    text: '[services.web]\nports = [8080, 65536]\n',
    line: 2,
    says: /ports\[1\]: port 65536 is outside 1-65535/,
  },
  {
    name: 'negative port',
    text: '[services.web]\nports = [-1]\n',
    line: 2,
    says: /port -1 is outside 1-65535/,
  },
  {
    name: 'bad port spec text',
    text: '[services.web]\nports = ["8080abc"]\n',
    line: 2,
    says: /invalid port spec "8080abc": "8080abc" is not a decimal port number/,
  },
  {
    name: 'bad protocol',
    text: '[services.web]\nports = ["80/sctp"]\n',
    line: 2,
    says: /protocol "sctp" is not tcp or udp/,
  },
  {
    name: 'inverted range',
    text: '[services.web]\nports = ["8010-8000"]\n',
    line: 2,
    says: /the range 8010-8000 is inverted/,
  },
  {
    name: 'leading zero',
    text: '[services.web]\nports = ["080"]\n',
    line: 2,
    says: /has a leading zero/,
  },
  {
    name: 'duplicate port across services',
    text: '[services.web]\nports = [8080]\n\n[services.api]\nports = ["8080/tcp"]\n',
    line: 5,
    says: /services\.api\.ports\[0\]: 8080\/tcp is declared by web \(line 2\); a port belongs to one service/,
  },
  {
    name: 'duplicate port in one service',
    text: '[services.web]\nports = [8080, 8080]\n',
    line: 2,
    says: /8080\/tcp is declared by web already \(line 2\)/,
  },
  {
    name: 'overlapping ranges',
    text: '[services.a]\nports = ["8000-8010"]\n[services.b]\nports = ["8005-8020"]\n',
    line: 4,
    says: /8005-8020\/tcp overlaps 8000-8010\/tcp of a \(line 2\)/,
  },
  {
    name: 'auto names colliding',
    text: '[services.web]\nports = [1, "auto"]\n[services.web-2]\nports = ["auto"]\n',
    line: 4,
    says: /would be allocated as web-2/,
  },
  {
    name: 'health not a table',
    text: '[services.web]\nports = [1]\nhealth = "tcp"\n',
    line: 3,
    says: /health must be a table .* \(write health = \{ tcp = true \}\)/,
  },
  {
    name: 'health with two checks',
    text: '[services.web]\nports = [1]\nhealth = { tcp = true, redis = true }\n',
    line: 3,
    says: /health names 2 checks \(tcp, redis\): give exactly one/,
  },
  {
    name: 'health with no check',
    text: '[services.web]\nports = [1]\n[services.web.health]\nexpect = 200\n',
    line: 3,
    says: /health names no check/,
  },
  {
    name: 'health path without slash',
    text: '[services.web]\nports = [1]\nhealth = { http = "healthz" }\n',
    line: 3,
    says: /must start with "\/"/,
  },
  {
    name: 'health expect out of range',
    text: '[services.web]\nports = [1]\nhealth = { http = "/", expect = 42 }\n',
    line: 3,
    says: /expect must be an HTTP status from 100 to 599 .* not an integer \(42\)/,
  },
  {
    name: 'health expect on tcp',
    text: '[services.web]\nports = [1]\nhealth = { tcp = true, expect = 200 }\n',
    line: 3,
    says: /expect is for http and https checks, not tcp/,
  },
  {
    name: 'health tcp = false',
    text: '[services.web]\nports = [1]\nhealth = { tcp = false }\n',
    line: 3,
    says: /write tcp = true .* not tcp = false/,
  },
  {
    name: 'health without ports',
    text: '[services.web]\ncommand = "x"\nhealth = { tcp = true }\n',
    line: 3,
    says: /has a health check but no ports/,
  },
  {
    name: 'health on a UDP port',
    text: '[services.dns]\nports = ["53/udp", 53]\nhealth = { tcp = true }\n',
    line: 3,
    says: /the health check probes dns's first port, "53\/udp", which is UDP/,
  },
  {
    name: 'depends_on not an array',
    text: '[services.web]\ndepends_on = "db"\n[services.db]\n',
    line: 2,
    says: /depends_on must be an array .* not a string \("db"\)/,
  },
  {
    name: 'depends_on with a number',
    text: '[services.web]\ndepends_on = [1]\n',
    line: 2,
    says: /depends_on lists service names \(strings\), not an integer \(1\)/,
  },
  {
    name: 'unknown depends_on',
    text: '[services.web]\nports = [1]\ndepends_on = [\n  "db",\n  "cahce",\n]\n[services.db]\n[services.cache]\n',
    line: 5,
    says: /web depends on "cahce", but this manifest has no such service; did you mean "cache"\?/,
  },
  {
    name: 'depends on itself',
    text: '[services.web]\ndepends_on = ["web"]\n',
    line: 2,
    says: /web depends on itself/,
  },
  {
    name: 'dependency cycle',
    text: '[services.a]\ndepends_on = ["b"]\n[services.b]\ndepends_on = ["c"]\n[services.c]\ndepends_on = ["a"]\n',
    line: 6,
    says: /dependency cycle: a → b → c → a/,
  },
]

describe('parseManifest: every error names the file, the line and the problem', () => {
  it.each(ERRORS)('$name', ({ text, line, says }) => {
    const error = errorOf(text)
    expect(error.code).toBe('invalid_request')
    expect(error.message).toMatch(new RegExp(`^portwarden\\.toml:${line}: `))
    expect(error.message).toMatch(says)
    expect(error.details).toMatchObject({ file: '/srv/shop/portwarden.toml', line })
    // The offending line itself is quoted in the hint (syntax errors: smol-toml's excerpt).
    const written = (text.split('\n')[line - 1] as string).replace(/\u202e/g, '\\u202e')
    if (!/TOML syntax|no services/.test(error.message))
      expect(error.hint).toContain(`${line} | ${written.slice(0, 20)}`)
    expect(`${error.message}\n${error.hint}`).not.toMatch(/^\s+at\s/m)
  })

  it('escapes control characters from the file in messages', () => {
    // TOML escapes put an ESC into a value, a key and a service name.
    for (const text of [
      '[services.web]\nports = ["\\u001b[31m80"]\n',
      '[services.web]\n"\\u001b[2J" = 1\n',
      '[services."\\u001b[2Jweb"]\n',
      '[services.web]\ncommand = "x"\nhealth = { http = "/\\u001b" }\n',
    ]) {
      const error = errorOf(text)
      expect(`${error.message}\n${error.hint}`).not.toMatch(RAW_CONTROL)
    }
  })

  it('escapes line separators and invisible format characters too (the one terminal rule)', () => {
    for (const [escape, shown] of [
      ['\\u2028', '\\u2028'],
      ['\\u2029', '\\u2029'],
      ['\\u2060', '\\u2060'],
      ['\\u2064', '\\u2064'],
    ]) {
      const error = errorOf(`[services.web]\nports = ["80${escape}"]\n`)
      const text = `${error.message}\n${error.hint}`
      expect(text).not.toMatch(/[\u2028\u2029\u2060-\u2065]/)
      expect(text).toContain(shown)
    }
  })

  it('reports a path relative to the working directory, absolute outside it', () => {
    const outside = (() => {
      try {
        parseManifest('x = 1', '/elsewhere/portwarden.toml', { cwd: '/srv/shop' })
      } catch (error) {
        return (error as Error).message
      }
      return ''
    })()
    expect(outside).toMatch(/^\/elsewhere\/portwarden\.toml:1: unknown key "x"/)
  })
})

describe('locateToml', () => {
  it('finds keys, headers and array elements by line', () => {
    const text = fixture('forms.toml')
    const at = locateToml(text)
    const lineOf = (needle: string) => text.split('\n').findIndex((l) => l.includes(needle)) + 1
    expect(at.lineOf(['project'])).toBe(lineOf("project = 'review-GH-42'"))
    expect(at.lineOf(['services', 'api', 'ports', 1])).toBe(lineOf('api = {'))
    expect(at.lineOf(['services', 'worker', 'depends_on', 1])).toBe(lineOf('worker.depends_on'))
    expect(at.lineOf(['services', 'cache'])).toBe(lineOf('[services.cache]'))
    expect(at.lineOf(['services', 'cache', 'ports', 1])).toBe(lineOf('"26379/tcp"'))
    expect(at.lineOf(['services', 'cache', 'health', 'redis'])).toBe(lineOf('health.redis'))
    expect(at.lineOf(['services', 'media relay', 'depends_on', 0])).toBe(lineOf('  "api",'))
    expect(at.lineOf(['services', 'media relay', 'nope'])).toBe(lineOf('[services."media relay"]'))
    expect(at.lineOf(['nothing'])).toBe(1)
  })

  it('is not fooled by brackets and quotes inside strings and multi-line strings', () => {
    const text = [
      '[services.web]',
      'command = """',
      '[services.fake]',
      'ports = [1]',
      '"""',
      "other = 'a [ b'",
      'ports = [2]',
    ].join('\n')
    const at = locateToml(text)
    expect(at.exactLineOf(['services', 'fake'])).toBeUndefined()
    expect(at.lineOf(['services', 'web', 'ports'])).toBe(7)
  })

  it('never throws on text it cannot follow', () => {
    for (const text of ['[', '"', 'a = [', 'a = {', '"""', '[[a]]\n[[a]]\nb=1', '\\', 'a."b', '']) {
      expect(() => locateToml(text).lineOf(['a', 'b'])).not.toThrow()
    }
  })

  it('spells paths as TOML would', () => {
    expect(pathText(['services', 'media relay', 'ports', 2])).toBe(
      'services."media relay".ports[2]',
    )
  })
})
