import type { Manifest, ManifestService } from './types.js'

/**
 * The services `names` need, in the order to start them: every dependency (`depends_on`,
 * transitively) before the services that depend on it, each once, then `names` themselves.
 * A dependency comes before the first service that needs it; siblings keep the order written.
 * The manifest is free of cycles and unknown names (checked when loading); a name that is not a
 * service is left out.
 */
export function dependencyOrder(manifest: Manifest, names: readonly string[]): ManifestService[] {
  const byName = new Map(manifest.services.map((service) => [service.name, service]))
  const ordered: ManifestService[] = []
  const placed = new Set<string>()
  const place = (name: string): void => {
    const service = byName.get(name)
    if (service === undefined || placed.has(name)) return
    placed.add(name)
    for (const dependency of service.dependsOn) place(dependency)
    ordered.push(service)
  }
  for (const name of names) place(name)
  return ordered
}
