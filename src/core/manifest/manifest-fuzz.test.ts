/**
 * I6 (library level): mutated manifests either load as valid manifests that keep every promise
 * of the format, or fail with `invalid_request` and `FILE:LINE: problem`; nothing else, ever.
 * The CLI half (exit 2, no stack trace) is in test/manifest.test.ts.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { isPortwardenError } from '../errors.js'
import { parseManifest } from './load-manifest.js'
import type { Manifest } from './types.js'
import { CORPUS, mutatedManifest } from '../../../test/helpers/manifest-fuzz.js'
import { fastestRunMs } from '../../../test/helpers/timing.js'

// eslint-disable-next-line no-control-regex
const RAW_CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e]/

/** What every accepted manifest promises: checked independently of the loader's own code. */
function assertValid(manifest: Manifest): void {
  expect(manifest.services.length).toBeGreaterThan(0)
  const names = new Set(manifest.services.map((s) => s.name))
  expect(names.size).toBe(manifest.services.length)
  const taken: { protocol: string; from: number; to: number }[] = []
  for (const service of manifest.services) {
    expect(service.name.length).toBeGreaterThan(0)
    for (const port of service.ports) {
      if (port.kind === 'auto') continue
      const { from, to, protocol } = port.spec
      expect(Number.isInteger(from) && Number.isInteger(to)).toBe(true)
      expect(from >= 1 && from <= to && to <= 65535).toBe(true)
      expect(['tcp', 'udp']).toContain(protocol)
      expect(taken.some((t) => t.protocol === protocol && t.from <= to && from <= t.to)).toBe(false)
      taken.push({ protocol, from, to })
    }
    for (const dependency of service.dependsOn) {
      expect(names.has(dependency)).toBe(true)
      expect(dependency).not.toBe(service.name)
    }
    if (service.health) {
      const first = service.ports[0]
      expect(first).toBeDefined()
      expect(first?.kind === 'auto' ? first.protocol : first?.spec.protocol).toBe('tcp')
    }
  }
  // No cycles: repeatedly remove services whose dependencies are all removed.
  const left = new Map(manifest.services.map((s) => [s.name, s.dependsOn]))
  for (let progress = true; progress;) {
    progress = false
    for (const [name, deps] of left) {
      if (deps.every((d) => !left.has(d))) {
        left.delete(name)
        progress = true
      }
    }
  }
  expect(left.size).toBe(0)
}

/** The only acceptable failure: invalid_request, `portwarden.toml:LINE: problem`, LINE in the file. */
function assertManifestError(error: unknown, text: string, file = 'portwarden.toml'): void {
  if (!isPortwardenError(error)) throw error
  expect(error.code).toBe('invalid_request')
  const escaped = file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
  const match = new RegExp(`^${escaped}:(\\d+): \\S`).exec(error.message)
  expect(match, error.message).not.toBeNull()
  const line = Number(match?.[1])
  expect(line).toBeGreaterThanOrEqual(1)
  expect(line).toBeLessThanOrEqual(text.split('\n').length)
  expect((error.details as { line?: number }).line).toBe(line)
  expect(`${error.message}${error.hint ?? ''}`).not.toMatch(RAW_CONTROL)
  expect(`${error.message}\n${error.hint ?? ''}`).not.toMatch(/^\s+at\s/m)
}

describe('I6: manifest fuzz (library)', () => {
  it('every corpus file is a valid manifest', () => {
    expect(CORPUS.length).toBeGreaterThanOrEqual(4)
    for (const text of CORPUS)
      assertValid(parseManifest(text, '/srv/p/portwarden.toml', { cwd: '/srv/p' }))
  })

  it('a mutated manifest is valid, or fails with invalid_request and FILE:LINE', () => {
    let valid = 0
    let invalid = 0
    fc.assert(
      fc.property(mutatedManifest, (text) => {
        const parse = (): Manifest =>
          parseManifest(text, '/srv/p/portwarden.toml', { cwd: '/srv/p' })
        try {
          assertValid(parse())
          valid++
        } catch (error) {
          assertManifestError(error, text)
          invalid++
        }
        const timed = (): void => {
          try {
            parse()
          } catch {
            // timed either way
          }
        }
        expect(fastestRunMs(timed, 200)).toBeLessThan(200)
      }),
      { numRuns: 4000 },
    )
    // The mutations must exercise both outcomes, or the test proves little.
    expect(valid).toBeGreaterThan(100)
    expect(invalid).toBeGreaterThan(1000)
  })

  it('random text is rejected with FILE:LINE, never another error', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 200 }), (text) => {
        try {
          assertValid(parseManifest(text, '/srv/p/portwarden.toml', { cwd: '/srv/p' }))
        } catch (error) {
          assertManifestError(error, text)
        }
      }),
      { numRuns: 2000 },
    )
  })

  it('deep nesting is bad input, not a crash', () => {
    for (const depth of [40, 5000]) {
      const text = `[services.web]\nports = ${'['.repeat(depth)}1${']'.repeat(depth)}\n`
      try {
        parseManifest(text, '/srv/p/portwarden.toml', { cwd: '/srv/p' })
        expect.unreachable()
      } catch (error) {
        assertManifestError(error, text)
      }
    }
  })
})
