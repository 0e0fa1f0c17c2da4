/** One clock for every "age" on screen: a signal ticking once a second, shared by all. */
import { createRoot, createSignal } from 'solid-js';

export const now = createRoot(() => {
  const [t, setT] = createSignal(Date.now());
  setInterval(() => setT(Date.now()), 1000);
  return t;
});
