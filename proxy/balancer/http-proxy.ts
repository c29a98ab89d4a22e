import httpProxy from 'http-proxy';

// http-proxy 1.18 (unmaintained since 2020) calls util._extend, which Node deprecates (DEP0060)
// with a warning on stderr the first time a request is proxied. The call is inside the library,
// harmless (a shallow copy of the headers), and not ours to fix: hide exactly that warning,
// nothing else, so the balancer's stderr keeps every other warning (ours included) readable.
const emitWarning = process.emitWarning.bind(process);
process.emitWarning = ((warning: string | Error, ...rest: unknown[]) => {
  const options = rest[0];
  const code = typeof options === 'object' && options !== null ? (options as { code?: unknown }).code : rest[1];
  if (code === 'DEP0060') return;
  (emitWarning as (...args: unknown[]) => void)(warning, ...rest);
}) as typeof process.emitWarning;

export { httpProxy };
