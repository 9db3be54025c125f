// import() of a package or a node: module that only some commands need (loaded when used, for
// start-up time). bin/walwait compiles the bundle with vm.Script, to use V8's code cache, and on
// Node 20 code compiled that way cannot call import() without an experimental flag; so
// bin/walwait passes an import() of its own as globalThis.__walwaitImport. Under tsx (tests
// that import lib/ directly) there is none, and the plain import() below is used.
type Importer = (specifier: string) => Promise<unknown>;

export function importModule<T>(specifier: string): Promise<T> {
  const viaBin = (globalThis as { __walwaitImport?: Importer }).__walwaitImport;
  return (viaBin ? viaBin(specifier) : import(specifier)) as Promise<T>;
}
