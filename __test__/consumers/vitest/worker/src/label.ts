export const label = (note: string): string => `[${note}]`;
