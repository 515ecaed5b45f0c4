/**
 * I6's manifest mutations, shared by the library fuzz test (src/core/manifest/manifest-fuzz.test.ts)
 * and the CLI runs (test/manifest.test.ts): a small corpus of valid manifests
 * (test/fixtures/manifests/*.toml) and fast-check mutations of it (insert, delete and replace
 * characters, swap, duplicate and delete lines).
 */
import { readdirSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import fc from 'fast-check'

const FIXTURES = fileURLToPath(new URL('../fixtures/manifests/', import.meta.url))
export const CORPUS = readdirSync(FIXTURES)
  .filter((name) => name.endsWith('.toml'))
  .sort()
  .map((name) => readFileSync(`${FIXTURES}${name}`, 'utf8'))

/** Characters that matter to TOML and to the manifest's values, plus some that never should. */
const ALPHABET = [
  ...'[]{}=,."\'#\n\r\t -_/0123456789',
  ...'autoudptcphealthportsservicesdepends_oncommandprojectexpecttrue',
  '\\',
  '\u0000',
  '\u001b',
  '\u202e',
  '\u00e9',
  '\ud83d\ude00',
  '"""',
  "'''",
  '65536',
  '-1',
  '1e3',
  '0x50',
  'inf',
  '1979-05-27',
]

type Mutation =
  | { kind: 'insert'; at: number; text: string }
  | { kind: 'delete'; at: number; length: number }
  | { kind: 'replace'; at: number; text: string }
  | { kind: 'swapLines'; a: number; b: number }
  | { kind: 'duplicateLine'; at: number }
  | { kind: 'deleteLine'; at: number }

const position = fc.nat({ max: 10_000 })
const snippet = fc.oneof(
  fc.constantFrom(...ALPHABET),
  fc.string({ maxLength: 3 }),
  fc.string({ unit: 'binary', maxLength: 2 }),
)
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('insert' as const), at: position, text: snippet }),
  fc.record({
    kind: fc.constant('delete' as const),
    at: position,
    length: fc.integer({ min: 1, max: 4 }),
  }),
  fc.record({ kind: fc.constant('replace' as const), at: position, text: snippet }),
  fc.record({ kind: fc.constant('swapLines' as const), a: position, b: position }),
  fc.record({ kind: fc.constant('duplicateLine' as const), at: position }),
  fc.record({ kind: fc.constant('deleteLine' as const), at: position }),
)

export function mutate(text: string, mutations: readonly Mutation[]): string {
  let out = text
  for (const m of mutations) {
    const lines = out.split('\n')
    switch (m.kind) {
      case 'insert': {
        const at = m.at % (out.length + 1)
        out = out.slice(0, at) + m.text + out.slice(at)
        break
      }
      case 'delete': {
        const at = m.at % (out.length + 1)
        out = out.slice(0, at) + out.slice(at + m.length)
        break
      }
      case 'replace': {
        const at = m.at % (out.length + 1)
        out = out.slice(0, at) + m.text + out.slice(at + 1)
        break
      }
      case 'swapLines': {
        const a = m.a % lines.length
        const b = m.b % lines.length
        ;[lines[a], lines[b]] = [lines[b] as string, lines[a] as string]
        out = lines.join('\n')
        break
      }
      case 'duplicateLine': {
        const at = m.at % lines.length
        lines.splice(at, 0, lines[at] as string)
        out = lines.join('\n')
        break
      }
      case 'deleteLine': {
        lines.splice(m.at % lines.length, 1)
        out = lines.join('\n')
        break
      }
    }
  }
  return out
}

export const mutatedManifest = fc
  .tuple(fc.constantFrom(...CORPUS.keys()), fc.array(mutation, { minLength: 1, maxLength: 4 }))
  .map(([index, mutations]) => mutate(CORPUS[index] as string, mutations))
