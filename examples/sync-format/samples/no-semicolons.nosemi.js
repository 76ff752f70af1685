export const total = (items) => items.reduce((sum, n) => sum + n, 0)
