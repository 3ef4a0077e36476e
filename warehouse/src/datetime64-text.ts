/**
 * Milliseconds since the epoch as `YYYY-MM-DD hh:mm:ss.sss` in UTC: the text every ClickHouse
 * version parses into a DateTime64(3, 'UTC') column, whatever `date_time_input_format` says. (How a
 * bare JSON number is read into DateTime64 has changed between server versions.)
 */
export function formatDateTime64Utc(ms: number): string {
  const iso = new Date(ms).toISOString();
  return `${iso.slice(0, 10)} ${iso.slice(11, 23)}`;
}
