/**
 * Node defines many web globals (Headers, Request, File...) as lazy getters that replace
 * themselves with values on first use. Import this before `@fast-check/poisoning` takes its
 * snapshot, so that a first use during a test is not mistaken for poisoning.
 */
const names = [
  'AbortController',
  'AbortSignal',
  'Blob',
  'BroadcastChannel',
  'CompressionStream',
  'DecompressionStream',
  'DOMException',
  'Event',
  'EventTarget',
  'File',
  'FormData',
  'Headers',
  'MessageChannel',
  'ReadableStream',
  'Request',
  'Response',
  'TextDecoder',
  'TextDecoderStream',
  'TextEncoder',
  'TextEncoderStream',
  'TransformStream',
  'URL',
  'URLSearchParams',
  'WebSocket',
  'WritableStream',
  'crypto',
  'fetch',
  'navigator',
  'performance',
  'structuredClone',
]
for (const name of names) void (globalThis as Record<string, unknown>)[name]
export {}
