/** The arithmetic of the figures: medians, spreads, rates. */

export function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/** Rounds to `digits` decimals (a whole number with 0). */
export function round(value, digits = 0) {
  return value === null || !Number.isFinite(value) ? null : Number(value.toFixed(digits));
}

/** The median, the lowest and the highest of the repeats of one figure, and each value. */
export function spread(values, digits = 0) {
  const known = values.filter((value) => value !== null && Number.isFinite(value));
  if (known.length === 0) return { median: null, min: null, max: null, values: [] };
  return {
    median: round(median(known), digits),
    min: round(Math.min(...known), digits),
    max: round(Math.max(...known), digits),
    values: known.map((value) => round(value, digits)),
  };
}

/**
 * Connections opened per second: the median rate over ten consecutive tenths of the
 * connections, so that the ramp-up and a stall of the machine do not decide the figure.
 */
export function connectRate({ t0, opened }) {
  const windows = 10;
  const size = Math.max(1, Math.floor(opened.length / windows));
  const rates = [];
  let from = t0;
  for (let end = size - 1; end < opened.length; end += size) {
    rates.push((size * 1e6) / Math.max(1, opened[end] - from));
    from = opened[end];
  }
  return median(rates);
}

export function roundTo(value, multiple) {
  return Math.max(multiple, Math.round(value / multiple) * multiple);
}

/** `a / b`, or null when either is missing. */
export function ratio(a, b, digits = 3) {
  return a && b ? Number((a / b).toFixed(digits)) : null;
}
