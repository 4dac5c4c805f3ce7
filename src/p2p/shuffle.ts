/** Shuffles `a` in place (Fisher–Yates) with `random` (uniform in [0, 1)); returns it. */
export function shuffle<T> (a: T[], random: () => number): T[] {
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1))
    const t = a[i]
    a[i] = a[j]
    a[j] = t
  }
  return a
}
