export interface Cli {
  /** The message and a pointer to help on stderr, exit code 2. */
  fail(message: string): never;
  /** A whole number from an option's text, or fail() naming the option and the allowed range. */
  wholeNumber(option: string, raw: string, min: number, max?: number): number;
}

/**
 * One way every CLI says "you asked for something wrong". Declare the result with its type
 * (`const cli: Cli = cliErrors(...)`): TypeScript narrows after `cli.fail()` only then.
 */
export function cliErrors(program: string, help: string): Cli {
  const fail = (message: string): never => {
    console.error(`${program}: ${message}\n\n${help}`);
    process.exit(2);
  };
  return {
    fail,
    wholeNumber(option, raw, min, max = Number.MAX_SAFE_INTEGER) {
      const n = Number(raw);
      if (!Number.isInteger(n) || n < min || n > max) {
        fail(`--${option} must be a whole number ${max === Number.MAX_SAFE_INTEGER ? `of at least ${min}` : `from ${min} to ${max}`}, got "${raw}"`);
      }
      return n;
    },
  };
}
