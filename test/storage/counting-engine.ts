import type { Engine } from '../../src/storage/engine.ts';

/** Wraps an engine so a test can count the rows its range() calls read. */
export function countingRanges<E extends Engine>(
  inner: E,
): { engine: E; rows: () => number; reset: () => void } {
  let rows = 0;
  const engine = new Proxy(inner, {
    get(target, prop) {
      if (prop === 'range') {
        return function* (...args: Parameters<Engine['range']>) {
          for (const row of target.range(...args)) {
            rows++;
            yield row;
          }
        };
      }
      const v: unknown = Reflect.get(target, prop);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
  return {
    engine,
    rows: () => rows,
    reset: () => {
      rows = 0;
    },
  };
}
