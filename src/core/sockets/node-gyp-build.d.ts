/** node-gyp-build ships no types; portwarden uses only its file lookup. */
declare module 'node-gyp-build' {
  interface NodeGypBuild {
    /** `require`s the addon that `resolve` picks. */
    (dir: string): unknown
    /**
     * The addon file for this machine: <dir>/build/Release/*.node (built from source) first, then
     * the best match in <dir>/prebuilds/<platform>-<arch>/ by runtime, ABI or N-API and C library.
     * Throws "No native build was found ..." when neither has one.
     */
    resolve(dir: string): string
  }
  const load: NodeGypBuild
  export default load
}
