export const broken = (a, b => a +;
