/** Redis's own error texts, so clients and the differential tests see identical replies. */
export const E = {
  wrongType: 'WRONGTYPE Operation against a key holding the wrong kind of value',
  syntax: 'ERR syntax error',
  notInt: 'ERR value is not an integer or out of range',
  notFloat: 'ERR value is not a valid float',
  overflow: 'ERR increment or decrement would overflow',
  noSuchKey: 'ERR no such key',
  indexOutOfRange: 'ERR index out of range',
  nanOrInf: 'ERR increment would produce NaN or Infinity',
  hashNotInt: 'ERR hash value is not an integer',
  hashNotFloat: 'ERR hash value is not a float',
  minMaxFloat: 'ERR min or max is not a float',
  minMaxRange: 'ERR min or max not valid string range item',
  outOfRangePositive: 'ERR value is out of range, must be positive',
  invalidExpire: (cmd: string) => `ERR invalid expire time in '${cmd}' command`,
  arity: (cmd: string) => `ERR wrong number of arguments for '${cmd}' command`,
  unknown: (cmd: string, args: Buffer[]) =>
    `ERR unknown command '${cmd}', with args beginning with: ${args
      .slice(0, 20)
      .map((a) => `'${a.toString()}' `)
      .join('')}`,
} as const;

/** Thrown inside a command body to abort it with an error reply; no writes are kept. */
export class ReplyError extends Error {
  constructor(readonly reply: string) {
    super(reply);
  }
}

export function fail(reply: string): never {
  throw new ReplyError(reply);
}
