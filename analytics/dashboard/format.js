// Numbers, times and places as an operator reads them.

export const STATE_LABEL = {
  critical: 'Critical',
  warning: 'Warning',
  normal: 'Normal',
  no_data: 'No data',
  suppressed: 'Suppressed',
};

export function num(value, digits = 1) {
  if (value === null || value === undefined || Number.isNaN(value)) return '–';
  if (Math.abs(value) >= 1000) return Math.round(value).toLocaleString('en');
  return value.toFixed(digits);
}

export function pct(share) {
  return share === null || share === undefined ? '–' : `${(share * 100).toFixed(1)}%`;
}

export function time(ms) {
  return ms === undefined ? '–' : new Date(ms).toLocaleTimeString('en-GB', { hour12: false });
}

export function dateTime(ms) {
  return ms === undefined ? '–' : new Date(ms).toLocaleString('en-GB', { hour12: false });
}

/** The last segment of a place path, the name shown on a tile. */
export function leaf(place) {
  return place === '' ? 'City' : place.slice(place.lastIndexOf('/') + 1);
}
