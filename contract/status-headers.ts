// The header names of the status columns beside each row: the add-on creates them and the service's write-back finds
// them by these names (both case-insensitively). One definition, so the two can never disagree. Pure, import-free.

export const STATUS_HEADERS = {
  key: 'WA Key',
  status: 'WA Status',
  wamid: 'WA Message ID',
  error: 'WA Error',
  reply: 'WA Reply',
  updated: 'WA Updated',
} as const;

/** The status fields, one per column. */
export type StatusField = keyof typeof STATUS_HEADERS;
