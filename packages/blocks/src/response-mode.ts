/**
 * How long a group request waits, as JGroups' `ResponseMode`: for every destination, for the
 * first acceptable response, for a majority of the destinations, or not at all.
 */
export const ResponseMode = {
  /** Wait for every destination's response (or its departure). */
  GET_ALL: 'GET_ALL',
  /** Wait for the first acceptable response. */
  GET_FIRST: 'GET_FIRST',
  /** Wait for ⌊n/2⌋+1 acceptable responses of the n destinations. */
  GET_MAJORITY: 'GET_MAJORITY',
  /** Do not wait: the receivers run the request and send nothing back. */
  GET_NONE: 'GET_NONE',
} as const;
export type ResponseMode = (typeof ResponseMode)[keyof typeof ResponseMode];
