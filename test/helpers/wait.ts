/**
 * Waits until `condition()` is true, polling every few milliseconds; rejects with `message`
 * (and what `describe()` says about the current state) after `timeoutMs`.
 */
export async function waitUntil(
  condition: () => boolean,
  timeoutMs: number,
  message = 'condition',
  describe?: () => string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${message}${describe ? `: ${describe()}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, 2));
  }
}
