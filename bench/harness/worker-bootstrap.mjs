// Entry of every worker the bench starts itself; the real entry (a .ts file) is the
// last argv item. Why this exists: with tsx 4 on Node 20, `--import=tsx` registers its
// module hooks on the main thread only (it skips worker threads before Node 22.22), so
// a worker whose entry is .ts fails with ERR_UNKNOWN_FILE_EXTENSION. Registering tsx's
// ESM API here fixes that. On Nodes where the hooks already reach workers, the first
// import succeeds and nothing is registered twice.
import process from 'node:process';

const entry = process.argv.at(-1);
try {
  await import(entry);
} catch (error) {
  if (error?.code !== 'ERR_UNKNOWN_FILE_EXTENSION') throw error;
  const { register } = await import('tsx/esm/api');
  register();
  // The failed import stays cached under its URL; a query makes it a new one.
  await import(`${entry}${entry.includes('?') ? '&' : '?'}tsx`);
}
