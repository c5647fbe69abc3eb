/** Waits (bounded: 400 × 25 ms) for a condition that something asynchronous (a poll, a swap, a flush) makes true. */
export async function until(what: string, condition: () => Promise<boolean> | boolean): Promise<void> {
  for (let i = 0; i < 400; i++) {
    if (await condition()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`still waiting for ${what}`);
}
